package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/statesync"
)

func testExpectation() statesync.Expectation {
	return statesync.Expectation{
		Key: statesync.Key{Proto: 6, Src: netip.MustParseAddrPort("198.18.1.10:0"), Dst: netip.MustParseAddrPort("198.18.2.10:40000")},
		Master: statesync.Key{Proto: 6, Src: netip.MustParseAddrPort("198.18.1.10:50000"),
			Dst: netip.MustParseAddrPort("198.18.2.10:21")},
		SrcMask: netip.MustParseAddr("255.255.255.255"), Helper: "ftp", Fn: "nat-follow-master",
		NATSrc: netip.MustParseAddrPort("0.0.0.0:40000"),
	}
}

func TestGuardCheckExpect(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	local := netip.MustParseAddr("198.18.2.1")
	g := &Guard{Local: func(a netip.Addr) bool { return a == local }}
	e := testExpectation()
	require.NoError(t, g.CheckExpect(now, &e))
	require.Equal(t, statesync.Deadline(now.Add(MaxExpectTimeout)), e.Expires, "capped")

	any := testExpectation()
	any.Key.Src, any.SrcMask = netip.MustParseAddrPort("0.0.0.0:0"), netip.Addr{}
	require.NoError(t, g.CheckExpect(now, &any), "any source")

	for name, mod := range map[string]func(*statesync.Expectation){
		"loopback destination": func(e *statesync.Expectation) { e.Key.Dst = netip.MustParseAddrPort("127.0.0.1:22") },
		"the unit's own":       func(e *statesync.Expectation) { e.Key.Dst = netip.AddrPortFrom(local, 22) },
		"translated to itself": func(e *statesync.Expectation) { e.NATSrc = netip.AddrPortFrom(local, 22) },
		"unspecified source":   func(e *statesync.Expectation) { e.Key.Src = netip.MustParseAddrPort("0.0.0.0:0") },
		"multicast master":     func(e *statesync.Expectation) { e.Master.Src = netip.MustParseAddrPort("224.0.0.1:5060") },
		"another zone":         func(e *statesync.Expectation) { e.Master.Zone = 3 },
	} {
		e := testExpectation()
		mod(&e)
		before := e
		require.ErrorIs(t, g.CheckExpect(now, &e), ErrRefused, name)
		require.Equal(t, before, e, "%s: unchanged", name)
	}
}
