package check_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election/member/check"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/testbed"
)

// TestNeighbourOnBed needs root: a unit's check of its gateway through the
// kernel (heartbeat.NewProber), IPv4 and IPv6: it passes while the gateway
// answers, fails while its cable is pulled, and the link check follows
// the unit's own interface.
func TestNeighbourOnBed(t *testing.T) {
	bed := testbed.New(t)
	t.Parallel()
	lan := bed.Bridge("lan")
	unit, gw := bed.Host("unit"), bed.Host("gw")
	lu := bed.Link(unit, lan, "eth0")
	lg := bed.Link(gw, lan, "eth0")
	unit.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/24"))
	unit.AddAddr("eth0", netip.MustParsePrefix("2001:db8::2/64"))
	gw.AddAddr("eth0", netip.MustParsePrefix("198.18.0.1/24"))
	gw.AddAddr("eth0", netip.MustParsePrefix("2001:db8::1/64"))
	_, err := unit.Run("ping", "-c1", "-W2", "198.18.0.1") // both up
	require.NoError(t, err)

	neighbour := func(target string) *check.Neighbour {
		var n *check.Neighbour
		require.NoError(t, unit.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			p, err := heartbeat.NewProber(ifi)
			if err != nil {
				return err
			}
			n, err = check.NewNeighbour(p, netip.MustParseAddr(target))
			return err
		}))
		t.Cleanup(func() { n.Close() })
		return n
	}
	run := func(probe func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return probe(ctx)
	}
	v4, v6 := neighbour("198.18.0.1"), neighbour("2001:db8::1")
	nobody := neighbour("198.18.0.99")
	require.NoError(t, run(v4.Probe))
	// Until duplicate address detection is done, IPv6 may not answer yet.
	require.Eventually(t, func() bool { return run(v6.Probe) == nil }, 10*time.Second, 10*time.Millisecond)
	require.EqualError(t, run(nobody.Probe), "no answer from 198.18.0.99")

	lg.Down() // the gateway's cable
	require.EqualError(t, run(v4.Probe), "no answer from 198.18.0.1")
	require.EqualError(t, run(v6.Probe), "no answer from 2001:db8::1")
	lg.Up()
	require.Eventually(t, func() bool { return run(v4.Probe) == nil }, 10*time.Second, 10*time.Millisecond)

	var linkErr error
	link := func() error {
		return unit.Do(func() error { linkErr = check.Interface("eth0")(context.Background()); return nil })
	}
	require.NoError(t, link())
	require.NoError(t, linkErr)
	lu.Down() // the unit's own cable: no carrier
	require.Eventually(t, func() bool { return link() == nil && linkErr != nil }, 5*time.Second, 10*time.Millisecond)
	require.EqualError(t, linkErr, "interface eth0 has no carrier")
}
