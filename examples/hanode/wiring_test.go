package main

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/heartbeat"
)

// TestJoinNeighbours: every source's list in order, without duplicates,
// with the errors joined.
func TestJoinNeighbours(t *testing.T) {
	a, b, c := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.3")
	bad := errors.New("netlink down")
	j := joinNeighbours{
		staticSource{addrs: []netip.Addr{a, b}},
		staticSource{addrs: []netip.Addr{b, c}, err: bad},
	}
	got, err := j.Neighbours("eth0")
	require.Equal(t, []netip.Addr{a, b, c}, got)
	require.ErrorIs(t, err, bad)
}

type staticSource struct {
	addrs []netip.Addr
	err   error
}

func (s staticSource) Neighbours(string) ([]netip.Addr, error) { return s.addrs, s.err }

var _ heartbeat.NeighbourSource = staticSource{}
