package heartbeat

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/testbed"
)

// The acceptance tests of issue 3 on real Linux networking (they need root;
// see transport_linux_test.go): two units a and b and a gateway gw, each
// cabled to two bridges, lan (eth0, 198.18.0.0/24) and sync (eth1,
// 198.18.1.0/24). Heartbeats go over ListenEthernet, EIFD probes over
// NewProber, neighbours come from KernelNeighbours after a ping to gw.

// recorder keeps a Driver's reports.
type recorder struct {
	mu      sync.Mutex
	reports []Report
}

func (r *recorder) add(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
}

func (r *recorder) all() []Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports)
}

// mark returns how many reports there are now, for since.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reports)
}

func (r *recorder) since(mark int) []Report { return r.all()[mark:] }

type unit struct {
	id    uint16
	host  *testbed.Host
	links map[string]*testbed.Link // by interface name
	node  *Driver
	rec   *recorder
}

type cluster struct {
	bed     *testbed.Bed
	bridges map[string]*testbed.Bridge // by interface name: eth0 lan, eth1 sync
	units   map[string]*unit           // a, b
}

func newCluster(t *testing.T, cfg Config) *cluster {
	t.Helper()
	bed := testbed.New(t)
	c := &cluster{
		bed:     bed,
		bridges: map[string]*testbed.Bridge{"eth0": bed.Bridge("lan"), "eth1": bed.Bridge("sync")},
		units:   map[string]*unit{},
	}
	addr := func(ifname string, host int) netip.Addr {
		return netip.MustParseAddr(fmt.Sprintf("198.18.%d.%d", map[string]int{"eth0": 0, "eth1": 1}[ifname], host))
	}
	gw := bed.Host("gw")
	for _, ifname := range []string{"eth0", "eth1"} {
		bed.Link(gw, c.bridges[ifname], ifname)
		gw.AddAddr(ifname, netip.PrefixFrom(addr(ifname, 254), 24))
	}
	for i, name := range []string{"a", "b"} {
		u := &unit{id: uint16(i + 1), host: bed.Host(name), links: map[string]*testbed.Link{}, rec: &recorder{}}
		var ifaces []Interface
		for _, ifname := range []string{"eth0", "eth1"} {
			u.links[ifname] = bed.Link(u.host, c.bridges[ifname], ifname)
			u.host.AddAddr(ifname, netip.PrefixFrom(addr(ifname, i+1), 24))
			ifaces = append(ifaces, Interface{Name: ifname, Addr: addr(ifname, i+1)})
		}
		ucfg := cfg
		ucfg.ClusterID, ucfg.UnitID = 7, u.id
		ucfg.Role = []hakit.Role{hakit.Primary, hakit.Secondary}[i]
		ucfg.OnReport = u.rec.add
		require.NoError(t, u.host.Do(func() error {
			ucfg.Neighbours = KernelNeighbours()
			for j := range ifaces {
				ifi, err := netInterface(ifaces[j].Name)
				if err != nil {
					return err
				}
				if ifaces[j].Conn, err = ListenEthernet(ifi, DefaultEtherType); err != nil {
					return err
				}
				if ifaces[j].Prober, err = NewProber(ifi); err != nil {
					return err
				}
			}
			return nil
		}))
		t.Cleanup(func() { _ = ucfg.Neighbours.(interface{ Close() error }).Close() })
		n, err := NewDriver(&ucfg, ifaces...)
		require.NoError(t, err)
		u.node = n
		t.Cleanup(func() { _ = n.Close() })
		c.units[name] = u
	}
	c.pingGateway(t)
	for _, u := range c.units {
		require.NoError(t, u.node.Start())
	}
	c.waitAlive(t)
	return c
}

// waitAlive waits until each unit sees the other Alive on both interfaces,
// then pings gw from both units again: the kernel flushes an interface's
// neighbour cache when it loses carrier, and on a real network traffic
// would resolve the neighbours again at once.
func (c *cluster) waitAlive(t *testing.T) {
	t.Helper()
	defer c.pingGateway(t)
	for name, u := range c.units {
		eventually(t, func() bool {
			ps := u.node.Peers()
			if len(ps) != 1 {
				return false
			}
			for _, l := range ps[0].Links {
				if l.State != Alive {
					return false
				}
			}
			return true
		})
		_ = name
	}
}

// pingGateway has both units resolve gw on both interfaces.
func (c *cluster) pingGateway(t *testing.T) {
	t.Helper()
	for _, u := range c.units {
		for _, gw := range []string{"198.18.0.254", "198.18.1.254"} {
			eventually(t, func() bool {
				_, err := u.host.Run("ping", "-c", "1", "-W", "1", gw)
				return err == nil
			})
		}
	}
}

// verdictWithin bounds the wait for a verdict at the default 0.6 s probe
// window: ModeEarly may wait up to 1+maxExtension windows for conclusive
// evidence when the link looked lossy (as it does when this machine is so
// loaded that heartbeats arrive late), plus slack for that load.
const verdictWithin = (1+maxExtension)*600*time.Millisecond + 2*time.Second

// waitReport waits for a report of u matching want among those after mark.
func waitReport(t *testing.T, u *unit, mark int, want func(Report) bool, what string) Report {
	t.Helper()
	var found Report
	ok := false
	deadline := time.Now().Add(verdictWithin)
	for time.Now().Before(deadline) && !ok {
		for _, r := range u.rec.since(mark) {
			if want(r) {
				found, ok = r, true
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.True(t, ok, "unit %d: no %s within %v; reports: %v", u.id, what, verdictWithin, u.rec.since(mark))
	return found
}

func is(ifname string, s State) func(Report) bool {
	return func(r Report) bool { return r.Interface == ifname && r.State == s }
}

func noReport(t *testing.T, u *unit, mark int, bad func(Report) bool, what string) {
	t.Helper()
	for _, r := range u.rec.since(mark) {
		require.False(t, bad(r), "unit %d: unexpected %s: %+v", u.id, what, r)
	}
}

// unplug takes links down at the bridge; when the (sub)test ends it plugs
// them back and waits until the units see each other again.
func unplug(t *testing.T, c *cluster, links ...*testbed.Link) {
	t.Helper()
	for _, l := range links {
		l.Down()
	}
	t.Cleanup(func() {
		for _, l := range links {
			l.Up()
		}
		c.waitAlive(t)
	})
}

func TestDriverLinkFaults(t *testing.T) {
	c := newCluster(t, Config{})
	a, b := c.units["a"], c.units["b"]

	t.Run("peer interface", func(t *testing.T) {
		ma, mb := a.rec.mark(), b.rec.mark()
		unplug(t, c, b.links["eth0"]) // b's lan cable pulled at the switch
		r := waitReport(t, a, ma, is("eth0", PeerFault), "peer fault on eth0")
		t.Logf("a: %v after %v: %s", r.State, r.At.Sub(a.node.Peers()[0].Links[0].LastHeard), r.Reason)
		waitReport(t, b, mb, is("eth0", LocalFault), "local fault on eth0")
		noReport(t, a, ma, func(r Report) bool { return r.State == LocalFault || (r.Interface == "eth1" && r.State.Verdict()) }, "verdict")
	})

	t.Run("local interface", func(t *testing.T) {
		ma, mb := a.rec.mark(), b.rec.mark()
		unplug(t, c, a.links["eth0"]) // a's own lan cable pulled at the switch
		waitReport(t, a, ma, is("eth0", LocalFault), "local fault on eth0")
		waitReport(t, b, mb, is("eth0", PeerFault), "peer fault on eth0")
		noReport(t, b, mb, func(r Report) bool { return r.State == LocalFault || (r.Interface == "eth1" && r.State.Verdict()) }, "verdict")
	})

	t.Run("peer down", func(t *testing.T) {
		ma := a.rec.mark()
		unplug(t, c, b.links["eth0"], b.links["eth1"]) // b unplugged
		for _, ifname := range []string{"eth0", "eth1"} {
			waitReport(t, a, ma, is(ifname, PeerDown), "peer down on "+ifname)
		}
		noReport(t, a, ma, func(r Report) bool { return r.State == LocalFault || r.State == PeerFault }, "report")
	})
}

// TestDriverLossNoVerdict runs the cluster at the default 100 ms interval for
// 20 s with 20% of the frames dropped at random by both bridges: suspicions
// may come, verdicts must not.
func TestDriverLossNoVerdict(t *testing.T) {
	c := newCluster(t, Config{})
	marks := map[string]int{}
	for name, u := range c.units {
		marks[name] = u.rec.mark()
	}
	for _, br := range c.bridges {
		remove := br.Loss(0.2)
		t.Cleanup(remove)
	}
	time.Sleep(20 * time.Second)
	for name, u := range c.units {
		var suspicions int
		for _, r := range u.rec.since(marks[name]) {
			require.False(t, r.State.Verdict(), "unit %s: verdict under 20%% loss: %+v", name, r)
			if r.State == Suspect {
				suspicions++
			}
		}
		cs := u.node.Counters()
		t.Logf("unit %s: %d suspicions, %d heartbeats received, %d probes, %d replies", name, suspicions, cs.Received, cs.ProbesSent, cs.ProbeReplies)
		require.NotZero(t, cs.ProbeReplies, "EIFD probes were answered through the loss")
	}
}
