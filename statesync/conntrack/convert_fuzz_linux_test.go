package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hakit/hakit/statesync"
)

// FuzzSessionFlow: any replicated session (what a peer can send) is
// refused by the Guard, refused by SessionToFlow with an error, or becomes
// a flow that converts back to a session with the same key; nothing
// panics.
func FuzzSessionFlow(f *testing.F) {
	f.Add(uint8(6), []byte{198, 18, 1, 2}, uint16(40000), []byte{198, 18, 2, 2}, uint16(80), uint8(3), uint32(0x0e), uint32(0), []byte{}, uint16(0), []byte{}, uint16(0))
	f.Add(uint8(17), []byte{0x20, 1, 0xd, 0xb8, 15: 1}, uint16(5000), []byte{0x20, 1, 0xd, 0xb8, 15: 2}, uint16(53), uint8(0), uint32(0), uint32(1), []byte{}, uint16(0), []byte{}, uint16(0))
	f.Add(uint8(6), []byte{198, 18, 1, 2}, uint16(40004), []byte{198, 18, 2, 100}, uint16(80), uint8(3), uint32(0x2e), ^uint32(0), []byte{198, 18, 2, 3}, uint16(8080), []byte{198, 18, 1, 2}, uint16(40004))
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, proto uint8, src []byte, sport uint16, dst []byte, dport uint16, state uint8, status, expires uint32, rsrc []byte, rsport uint16, rdst []byte, rdport uint16) {
		ap := func(b []byte, port uint16) netip.AddrPort {
			a, _ := netip.AddrFromSlice(b)
			return netip.AddrPortFrom(a, port)
		}
		s := statesync.Session{Key: statesync.Key{Proto: proto, Src: ap(src, sport), Dst: ap(dst, dport)},
			State: state, Status: status, Expires: expires, ReplySrc: ap(rsrc, rsport), ReplyDst: ap(rdst, rdport)}
		if err := (*Guard)(nil).Check(now, &s); err != nil {
			return
		}
		if s.Expires == 0 || time.Unix(int64(s.Expires), 0).Sub(now) > MaxKernelTimeout+time.Second {
			t.Fatalf("guarded session expires at %d", s.Expires)
		}
		fl, err := SessionToFlow(s, now, time.Hour)
		if err != nil {
			return
		}
		back, err := FlowToSession(fl, now)
		if err != nil {
			t.Fatalf("%+v: flow %+v does not convert back: %v", s, fl, err)
		}
		if back.Key.Proto != s.Key.Proto || back.Key.Src.Addr().Unmap() != s.Key.Src.Addr().Unmap() ||
			back.Key.Dst.Addr().Unmap() != s.Key.Dst.Addr().Unmap() {
			t.Fatalf("%+v: back as %+v", s.Key, back.Key)
		}
	})
}
