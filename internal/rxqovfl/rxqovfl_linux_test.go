package rxqovfl

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FuzzParse: any control message buffer gives a count only from a
// SOL_SOCKET/SO_RXQ_OVFL message, and never reads past the buffer.
func FuzzParse(f *testing.F) {
	msg := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&msg[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_RXQ_OVFL
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(msg[unix.CmsgLen(0):], 42)
	f.Add(msg)
	f.Add(msg[:8])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parse(b)
		if ok && len(b) < unix.CmsgLen(4) {
			t.Fatalf("%x: %d from too short a buffer", b, v)
		}
	})
}

func TestParse(t *testing.T) {
	msg := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&msg[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_RXQ_OVFL
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(msg[unix.CmsgLen(0):], 42)
	if v, ok := parse(msg); !ok || v != 42 {
		t.Fatalf("got %d, %v", v, ok)
	}
	h.Type = unix.SO_TIMESTAMP
	if _, ok := parse(msg); ok {
		t.Fatal("another message taken")
	}
}
