package heartbeat

import (
	"bytes"
	"testing"
)

// FuzzEthernetFraming: any bytes read from the heartbeat's Ethernet socket
// are either not a heartbeat (dropped) or the bytes after the header, which
// the frame decoder takes or refuses without panicking.
func FuzzEthernetFraming(f *testing.F) {
	c := &ethernetConn{etherType: DefaultEtherType}
	hdr := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, byte(DefaultEtherType >> 8), byte(DefaultEtherType & 0xff)}
	fr := Frame{ClusterID: 7, UnitID: 1, Epoch: 1, Seq: 1}
	b, err := fr.MarshalBinary()
	if err == nil {
		f.Add(append(append([]byte{}, hdr...), b...))
	}
	f.Add(hdr)
	f.Add(hdr[:13])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		p := c.payload(frame)
		if p == nil {
			return
		}
		if len(frame) < 14 || !bytes.Equal(p, frame[14:]) {
			t.Fatalf("payload of %x is %x", frame, p)
		}
		var got Frame
		_ = got.UnmarshalBinary(p)
	})
}
