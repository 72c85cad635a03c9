package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/statesync"
)

// TestGuard: what the standby refuses and fits before injecting a
// replicated session: the forged sync datagram's session (to the unit's own
// address, a 68-year timeout, a DNAT to the attacker's address) does not get
// in as it came.
func TestGuard(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	own := netip.MustParseAddr("198.18.2.1")
	g := &Guard{Local: func(a netip.Addr) bool { return a == own }}
	fwd := statesync.Session{Key: statesync.Key{Proto: 6, Src: mustAP("198.18.1.2:40000"), Dst: mustAP("198.18.2.2:22")},
		State: statesync.TCPStateEstablished, Expires: statesync.Deadline(now.Add(time.Hour)), Mark: 7}

	s := fwd
	require.NoError(t, g.Check(now, &s))
	require.Equal(t, fwd.Expires, s.Expires, "an ordinary deadline is kept")
	require.Zero(t, s.Mark, "marks are cleared unless asked for")

	for _, tt := range []struct {
		name string
		edit func(*statesync.Session)
	}{
		{"to the unit", func(s *statesync.Session) { s.Key.Dst = mustAP("198.18.2.1:22") }},
		{"from the unit", func(s *statesync.Session) { s.Key.Src = mustAP("198.18.2.1:40000") }},
		{"mapped own address", func(s *statesync.Session) { s.Key.Dst = mustAP("[::ffff:198.18.2.1]:22") }},
		{"DNAT to the unit", func(s *statesync.Session) {
			s.ReplySrc, s.ReplyDst = mustAP("198.18.2.1:22"), mustAP("198.18.1.2:40000")
		}},
		{"loopback", func(s *statesync.Session) { s.Key.Dst = mustAP("127.0.0.1:22") }},
		{"IPv6 loopback", func(s *statesync.Session) { s.Key.Src, s.Key.Dst = mustAP("[2001:db8::1]:1"), mustAP("[::1]:22") }},
		{"unspecified", func(s *statesync.Session) { s.Key.Src = mustAP("0.0.0.0:1") }},
		{"multicast", func(s *statesync.Session) { s.Key.Dst = mustAP("224.0.0.18:0") }},
		{"broadcast", func(s *statesync.Session) { s.Key.Dst = mustAP("255.255.255.255:67") }},
		{"no address", func(s *statesync.Session) { s.Key.Src = netip.AddrPort{} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := fwd
			tt.edit(&s)
			before := s
			require.ErrorIs(t, g.Check(now, &s), ErrRefused)
			require.Equal(t, before, s, "a refused session is unchanged")
		})
	}

	// 68 years, or never: capped at the kernel's longest timeout.
	for _, exp := range []uint32{^uint32(0), 0} {
		s := fwd
		s.Expires = exp
		require.NoError(t, g.Check(now, &s))
		require.Equal(t, statesync.Deadline(now.Add(MaxKernelTimeout)), s.Expires)
	}
	s = fwd
	s.Expires = ^uint32(0)
	require.NoError(t, (&Guard{MaxTimeout: time.Minute}).Check(now, &s))
	require.Equal(t, statesync.Deadline(now.Add(time.Minute)), s.Expires)

	s = fwd
	require.NoError(t, (&Guard{KeepMarks: true}).Check(now, &s))
	require.Equal(t, uint32(7), s.Mark)

	// The nil Guard: loopback refused, marks cleared, timeouts capped.
	var none *Guard
	s = fwd
	s.Expires = 0
	require.NoError(t, none.Check(now, &s))
	require.Zero(t, s.Mark)
	require.Equal(t, statesync.Deadline(now.Add(MaxKernelTimeout)), s.Expires)
	s.Key.Dst = mustAP("127.0.0.1:22")
	require.ErrorIs(t, none.Check(now, &s), ErrRefused)
}

func BenchmarkGuard(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	own := []netip.Addr{netip.MustParseAddr("198.18.2.1"), netip.MustParseAddr("198.18.1.1")}
	g := &Guard{Local: func(a netip.Addr) bool { return a == own[0] || a == own[1] }}
	s := statesync.Session{Key: statesync.Key{Proto: 6, Src: mustAP("198.18.1.2:40000"), Dst: mustAP("198.18.2.2:22")}}
	b.ReportAllocs()
	for b.Loop() {
		c := s
		if err := g.Check(now, &c); err != nil {
			b.Fatal(err)
		}
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
