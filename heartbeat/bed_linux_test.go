package heartbeat

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/testbed"
)

// Faults on the real bed that the Driver must ride out (they need root, see
// transport_linux_test.go).

// heardSince waits until u hears its peer on ifname after t and returns
// when, or fails after within.
func heardSince(t *testing.T, u *unit, ifname string, after time.Time, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within + time.Second)
	for time.Now().Before(deadline) {
		for _, p := range u.node.Peers() {
			for _, l := range p.Links {
				if l.Interface == ifname && l.LastHeard.After(after) {
					return l.LastHeard
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("unit %d: nothing heard on %s since %v", u.id, ifname, after)
	return time.Time{}
}

// TestDriverLinkDownUp: an interface set down and up again (ip link set
// down/up, as an administrator or vmac's down/set/up fallback does) makes
// the packet sockets on it fail with "network is down" while it is down.
// The readers survive it: once the link is back, heartbeats are read on it
// again within 2 intervals, both ways, and the peer is Alive there again.
func TestDriverLinkDownUp(t *testing.T) {
	c := newCluster(t, Config{})
	a, b := c.units["a"], c.units["b"]
	const interval = 100 * time.Millisecond
	for round := range 3 {
		errs := a.node.Counters().ReadErrors
		ma := a.rec.mark()
		a.links["eth0"].HostDown()
		time.Sleep(time.Second)
		a.links["eth0"].HostUp()
		up := time.Now()
		gotA := heardSince(t, a, "eth0", up, 2*interval)
		gotB := heardSince(t, b, "eth0", up, 2*interval)
		t.Logf("round %d: a hears b %v after the link is up, b hears a %v after; %d read errors",
			round, gotA.Sub(up).Round(time.Millisecond), gotB.Sub(up).Round(time.Millisecond), a.node.Counters().ReadErrors-errs)
		require.LessOrEqual(t, gotA.Sub(up), 2*interval, "a hears b again")
		require.LessOrEqual(t, gotB.Sub(up), 2*interval, "b hears a again")
		require.Greater(t, a.node.Counters().ReadErrors, errs, "the readers saw the link down")
		waitReport(t, a, ma, is("eth0", Alive), "b alive on eth0 again")
		c.waitAlive(t)
	}
}

// udpPair is two units a (198.18.0.1) and b (198.18.0.2) on one bridge
// with heartbeats over unicast UDP only: no Prober, no neighbours, the
// way a cloud pair runs.
func udpPair(t *testing.T, cfg Config) (*testbed.Bed, map[string]*unit) {
	t.Helper()
	bed := testbed.New(t)
	lan := bed.Bridge("lan")
	addrs := map[string]netip.Addr{"a": netip.MustParseAddr("198.18.0.1"), "b": netip.MustParseAddr("198.18.0.2")}
	units := map[string]*unit{}
	for i, name := range []string{"a", "b"} {
		u := &unit{id: uint16(i + 1), host: bed.Host(name), links: map[string]*testbed.Link{}, rec: &recorder{}}
		u.links["eth0"] = bed.Link(u.host, lan, "eth0")
		u.host.AddAddr("eth0", netip.PrefixFrom(addrs[name], 24))
		units[name] = u
	}
	for i, name := range []string{"a", "b"} {
		u, peer := units[name], addrs[map[string]string{"a": "b", "b": "a"}[name]]
		ucfg := cfg
		ucfg.ClusterID, ucfg.UnitID = 7, u.id
		ucfg.Role = []hakit.Role{hakit.Primary, hakit.Secondary}[i]
		ucfg.OnReport = u.rec.add
		var conn Conn
		require.NoError(t, u.host.Do(func() (err error) {
			conn, err = ListenUDP(netip.AddrPortFrom(addrs[name], 7000), netip.AddrPortFrom(peer, 7000))
			return err
		}))
		n, err := NewDriver(&ucfg, Interface{Name: "eth0", Addr: addrs[name], Conn: conn})
		require.NoError(t, err)
		u.node = n
		t.Cleanup(func() { _ = n.Close() })
	}
	for _, u := range units {
		require.NoError(t, u.node.Start())
	}
	// Each hears the other (a loaded machine, -race, may take seconds).
	for name, u := range units {
		deadline := time.Now().Add(20 * time.Second)
		for ps := u.node.Peers(); len(ps) != 1 || ps[0].Links[0].State != Alive; ps = u.node.Peers() {
			require.True(t, time.Now().Before(deadline), "unit %s does not hear its peer", name)
			time.Sleep(10 * time.Millisecond)
		}
	}
	return bed, units
}

// TestUDPPairPowerLoss: a UDP-only pair at the default timers, the
// primary loses power (every cable dark at once): the survivor declares it
// down within 0.25 s of its last heartbeat, by its unanswered echo
// requests, and never marks its own interface faulty (no LocalFault: it
// is not degraded), then or in the seconds after.
func TestUDPPairPowerLoss(t *testing.T) {
	bed, units := udpPair(t, Config{})
	a, b := units["a"], units["b"]
	time.Sleep(5 * time.Second) // a history for the loss estimate
	mb := b.rec.mark()
	bed.DownAll(nil, a.links["eth0"])
	r := waitReport(t, b, mb, is("eth0", PeerDown), "peer down")
	s := waitReport(t, b, mb, is("eth0", Suspect), "suspicion")
	last := b.node.Peers()[0].Links[0].LastHeard
	// The verdict comes from the first round of echo requests: on the
	// Machine's schedule 0.225 s after the last heartbeat. The Driver's
	// timers fire late on a loaded machine (tens of milliseconds at a load
	// of 40 on 2 cores, more under -race): the figure logged is the wall
	// clock's, the bound allows the lateness measured at both timers.
	late := max(0, s.At.Sub(last)-200*time.Millisecond) + max(0, r.At.Sub(s.At)-25*time.Millisecond)
	t.Logf("b: %v %v after a's last heartbeat (timers %v late): %s", r.State,
		r.At.Sub(last).Round(time.Millisecond), late.Round(time.Millisecond), r.Reason)
	require.Contains(t, r.Reason, fmt.Sprintf("the peer left %d probes unanswered", echoFirst), "one round")
	require.Contains(t, r.Reason, "sends succeed")
	require.LessOrEqual(t, r.At.Sub(last)-late, 250*time.Millisecond, r.Reason)
	time.Sleep(3 * time.Second)
	noReport(t, b, mb, func(r Report) bool { return r.State == LocalFault || r.State == PeerFault }, "local fault")
	require.Equal(t, PeerDown, b.node.Peers()[0].Links[0].State)
}
