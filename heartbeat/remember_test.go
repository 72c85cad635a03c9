package heartbeat

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/clock"
)

type listSource struct {
	addrs []netip.Addr
	err   error
}

func (s *listSource) Neighbours(string) ([]netip.Addr, error) { return s.addrs, s.err }

func TestRememberNeighbours(t *testing.T) {
	a, b, c := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8::3")
	src := &listSource{addrs: []netip.Addr{b, a}}
	clk := clock.NewSim(time.Time{})
	r := RememberNeighbours(src, time.Minute, clk)

	got, err := r.Neighbours("eth0")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{b, a}, got, "current neighbours in the source's order")

	// The cache is flushed (a MAC change): the neighbours are remembered.
	clk.RunFor(10 * time.Second)
	src.addrs = nil
	got, _ = r.Neighbours("eth0")
	require.Equal(t, []netip.Addr{a, b}, got)

	// A new neighbour comes first; a failing source keeps the memory.
	src.addrs, src.err = []netip.Addr{c}, errors.New("netlink")
	got, err = r.Neighbours("eth0")
	require.Error(t, err)
	require.Equal(t, []netip.Addr{c, a, b}, got)

	// Forgotten after keep; other interfaces are separate.
	clk.RunFor(55 * time.Second)
	src.err = nil
	got, _ = r.Neighbours("eth0")
	require.Equal(t, []netip.Addr{c}, got)
	got, _ = r.Neighbours("eth1")
	require.Equal(t, []netip.Addr{c}, got)
}
