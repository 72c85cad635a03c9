package main

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// TestSessionNeighbours needs root: the hosts of the replicated sessions
// that lie on an interface's subnets are its EIFD targets, at most
// sessionTargets of them, each once; hosts elsewhere are not.
func TestSessionNeighbours(t *testing.T) {
	bed := testbed.New(t)
	h := bed.Host("fw")
	bed.Link(h, bed.Bridge("c"), "eth0")
	h.AddAddr("eth0", netip.MustParsePrefix("198.18.1.2/24"))

	table := statesync.NewTable(0)
	d := &daemon{table: table}
	add := func(src, dst string) {
		table.Upsert(statesync.Session{Key: statesync.Key{Proto: 6,
			Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst)}})
	}
	add("198.18.1.10:40000", "198.18.2.10:443") // client on eth0's subnet, server beyond
	add("198.18.1.10:40001", "198.18.2.10:443") // the same client again
	add("198.18.9.9:5000", "198.18.2.11:53")    // neither on eth0's subnet
	var got []netip.Addr
	require.NoError(t, h.Do(func() error {
		var err error
		got, err = sessionNeighbours{d}.Neighbours("eth0")
		return err
	}))
	require.Equal(t, []netip.Addr{netip.MustParseAddr("198.18.1.10")}, got)

	for i := range 2 * sessionTargets {
		add(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(20 + i)}), 1000).String(), "198.18.2.10:443")
	}
	require.NoError(t, h.Do(func() error {
		var err error
		got, err = sessionNeighbours{d}.Neighbours("eth0")
		return err
	}))
	require.Len(t, got, sessionTargets)

	_, err := sessionNeighbours{d}.Neighbours("nosuch0")
	require.Error(t, err)
}
