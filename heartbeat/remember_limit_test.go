package heartbeat

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/clock"
)

func addrN(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}) }

// TestRememberNeighboursLimit: a flood of addresses listed once does not
// grow the memory past the limit; the least recently listed go first, and
// the current neighbours are always listed.
func TestRememberNeighboursLimit(t *testing.T) {
	clk := clock.NewSim(time.Time{})
	src := &listSource{}
	r := RememberNeighboursLimit(src, time.Hour, 4, clk)
	for i := range 100 {
		src.addrs = []netip.Addr{addrN(i)}
		got, err := r.Neighbours("eth0")
		require.NoError(t, err)
		require.Equal(t, addrN(i), got[0], "the current neighbour first")
		require.LessOrEqual(t, len(got), 5)
		clk.RunFor(time.Second)
	}
	src.addrs = nil
	got, _ := r.Neighbours("eth0")
	require.Equal(t, []netip.Addr{addrN(96), addrN(97), addrN(98), addrN(99)}, got, "the most recently listed kept")
	require.Equal(t, uint64(96), RememberedEvictions(r))
	require.Len(t, r.(*rememberer).seen["eth0"], 4)
	require.Zero(t, RememberedEvictions(src))

	def := RememberNeighbours(src, time.Hour, clk)
	require.Equal(t, DefaultRememberLimit, def.(*rememberer).limit)
}

// BenchmarkRememberNeighbours65536: a lookup after 65,536 addresses were
// listed once each (a flood of fake neighbours): the cap keeps it to
// DefaultRememberLimit entries.
func BenchmarkRememberNeighbours65536(b *testing.B) {
	src := &listSource{}
	clk := clock.NewSim(time.Time{})
	r := RememberNeighbours(src, time.Hour, clk)
	for i := range 65536 {
		src.addrs = []netip.Addr{addrN(i)}
		r.Neighbours("eth0")
	}
	src.addrs = nil
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := r.Neighbours("eth0"); len(got) != DefaultRememberLimit {
			b.Fatal(len(got))
		}
	}
}
