package statesync_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/statesync"
)

// group is units of one cluster on a simulated segment, each with one
// Driver synced with all the others.
type group struct {
	t     *testing.T
	sim   *clock.Sim
	seg   *simnet.Segment
	units map[uint16]*member
}

type member struct {
	id   uint16
	mac  net.HardwareAddr
	port *simnet.Port
	tab  *statesync.Table
	d    *statesync.Driver
}

func unitMAC(id uint16) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0, 0, 0, byte(id >> 8), byte(id)}
}

func newGroup(t *testing.T) *group {
	sim := clock.NewSim(time.Time{})
	return &group{t: t, sim: sim, seg: simnet.New(&simnet.Config{Clock: sim, Seed: 3}), units: map[uint16]*member{}}
}

// start attaches unit id of cluster, syncing with peers, sending and/or
// receiving; opts change the Driver's settings.
func (g *group) start(cluster, id uint16, peers []uint16, send, receive bool, opts ...func(*statesync.DriverConfig)) *member {
	g.t.Helper()
	m := &member{id: id, mac: unitMAC(id), tab: statesync.NewTable(0)}
	m.port = g.seg.Attach(fmt.Sprint("unit", id), m.mac)
	m.port.SetLoss(0.02)
	m.port.SetReorder(0.05, 2*time.Millisecond)
	m.port.SetLatency(100 * time.Microsecond)
	var macs []net.HardwareAddr
	var ps []statesync.Peer
	for _, p := range peers {
		macs = append(macs, unitMAC(p))
		ps = append(ps, statesync.Peer{Unit: p, Addr: &packet.Addr{HardwareAddr: unitMAC(p)}})
	}
	var err error
	cfg := &statesync.DriverConfig{
		Transport: statesync.NewEthernetTransport(m.port, m.mac, macs[0], 0, macs[1:]...),
		Table:     m.tab, Clock: g.sim, Keys: testKeys(g.t, "sync key"),
		Cluster: cluster, Unit: id, Peers: ps,
		Send: send, Receive: receive, Sender: &statesync.SenderConfig{MTU: 1500},
	}
	for _, o := range opts {
		o(cfg)
	}
	m.d, err = statesync.NewDriver(cfg)
	require.NoError(g.t, err)
	g.t.Cleanup(func() { m.d.Close() })
	g.units[id] = m
	return m
}

// until runs the simulation until ok, for at most limit.
func (g *group) until(limit time.Duration, what string, ok func() bool) {
	g.t.Helper()
	for start := g.sim.Now(); !ok(); g.sim.RunFor(5 * time.Millisecond) {
		if g.sim.Since(start) > limit {
			g.t.Fatalf("not %s after %v", what, limit)
		}
	}
}

// churn makes n changes on m over keys sessions, 20 per millisecond.
func (g *group) churn(m *member, n, keys, seed int) {
	for i := range n {
		s := session((seed*7919 + i*31) % keys)
		if i%5 == 0 {
			m.d.Delete(s.Key)
		} else {
			s.Packets = uint64(seed*n + i)
			m.d.Upsert(s)
		}
		if i%20 == 19 {
			g.sim.RunFor(time.Millisecond)
		}
	}
}

func allAcked(m *member) bool {
	for _, p := range m.d.Peers() {
		if !p.Acked {
			return false
		}
	}
	return m.d.Acked()
}

// TestSimThreeUnits: one primary replicates to two standbys on one
// transport each; each standby acknowledges on its own (one cut off does
// not hold the other back, and catches up with a resync of its own stream
// when it returns); then the primary dies twice in a row and the last unit
// standing holds the table of the one before it.
func TestSimThreeUnits(t *testing.T) {
	g := newGroup(t)
	n := scale(20000)
	a := g.start(7, 1, []uint16{2, 3}, true, false)
	for i := range n {
		a.tab.Upsert(session(i)) // before the standbys exist: a bulk sync
	}
	b := g.start(7, 2, []uint16{1, 3}, false, true)
	c := g.start(7, 3, []uint16{1, 2}, false, true)
	g.churn(a, scale(4000), n, 1)
	g.until(30*time.Second, "in sync", func() bool { return b.d.InSync() && c.d.InSync() && allAcked(a) })
	requireSame(t, a.tab, b.tab)
	requireSame(t, a.tab, c.tab)
	ps := a.d.Peers()
	require.Len(t, ps, 2)
	require.Equal(t, []uint16{2, 3}, []uint16{ps[0].Unit, ps[1].Unit})
	require.NotZero(t, ps[0].Sender.Acks)
	require.NotZero(t, ps[1].Sender.Acks)

	// c is cut off: b keeps up, a still waits for c.
	c.port.Cut()
	g.churn(a, scale(2000), n, 2)
	g.until(10*time.Second, "b in sync while c is away", func() bool { return a.d.Peers()[0].Acked && b.d.InSync() })
	require.False(t, a.d.Peers()[1].Acked, "c cannot have acknowledged")
	requireSame(t, a.tab, b.tab)
	bStreams := b.d.ReceiverStats().Streams
	// c returns and catches up (resends, or a resync of its own stream if
	// a's window to it overflowed); b's stream goes on untouched.
	g.churn(a, scale(20000), n, 3)
	c.port.Heal()
	g.until(30*time.Second, "c back in sync", func() bool { return c.d.InSync() && allAcked(a) })
	requireSame(t, a.tab, c.tab)
	cs := a.d.Peers()[1].Sender
	require.NotZero(t, cs.Resent+cs.Resyncs, "c caught up on its own stream")
	require.Zero(t, a.d.Peers()[0].Sender.Resyncs, "b's did not restart")
	require.Equal(t, bStreams, b.d.ReceiverStats().Streams, "b's stream went on")

	// The primary dies; b takes over and c follows b.
	want := cloneTable(a.tab)
	a.d.Close()
	a.port.Cut()
	require.True(t, b.d.Commit().InSync)
	requireSame(t, want, b.tab)
	require.NoError(t, b.d.SetSending(true))
	g.churn(b, scale(2000), n, 4)
	g.until(30*time.Second, "c in sync with b", func() bool { return c.d.InSync() && b.d.Peers()[1].Acked })
	requireSame(t, b.tab, c.tab)

	// b dies too; c holds b's table.
	want = cloneTable(b.tab)
	b.d.Close()
	b.port.Cut()
	require.True(t, c.d.Commit().InSync)
	requireSame(t, want, c.tab)
	for _, m := range []*member{a, b, c} {
		require.Zero(t, m.d.Stats().Foreign)
		rs := m.d.ReceiverStats()
		require.Zero(t, rs.DropAuth+rs.DropPeer+rs.DropCluster, "unit %d", m.id)
	}
}

// TestSimJoinDoesNotStall: a unit that joins gets its bulk sync of a large
// table while the standby already in sync keeps receiving every change
// within milliseconds.
func TestSimJoinDoesNotStall(t *testing.T) {
	g := newGroup(t)
	n := scale(100_000)
	a := g.start(7, 1, []uint16{2, 3}, true, false)
	for i := range n {
		a.tab.Upsert(session(i))
	}
	b := g.start(7, 2, []uint16{1, 3}, false, true)
	g.until(30*time.Second, "b in sync", b.d.InSync)
	c := g.start(7, 3, []uint16{1, 2}, false, true)
	g.sim.RunFor(5 * time.Millisecond)
	// While c's bulk sync runs, each change on a reaches b quickly.
	var worst time.Duration
	for i := 0; ; i++ {
		if _, _, running := c.d.ReceiveProgress(); !running && i > 0 {
			break
		}
		s := session(i % n)
		s.Packets = uint64(1_000_000 + i)
		a.d.Upsert(s)
		start := g.sim.Now()
		for got, _ := b.tab.Get(s.Key); got.Packets != s.Packets; got, _ = b.tab.Get(s.Key) {
			g.sim.RunFor(100 * time.Microsecond)
			require.Less(t, g.sim.Since(start), time.Second, "a change waited for the joining unit's bulk sync")
		}
		worst = max(worst, g.sim.Since(start))
		require.Less(t, i, 1_000_000)
	}
	g.until(30*time.Second, "c in sync", func() bool { return c.d.InSync() && allAcked(a) })
	t.Logf("during c's bulk sync of %d sessions, b saw each change within %v", n, worst)
	require.Less(t, worst, 50*time.Millisecond)
	requireSame(t, a.tab, c.tab)
	require.Zero(t, b.d.ReceiverStats().Resyncs)
}

// TestSimForeignCluster: the units of another cluster on the same segment,
// with the same unit IDs and key, are dropped and counted, and change
// nothing.
func TestSimForeignCluster(t *testing.T) {
	g := newGroup(t)
	a := g.start(7, 1, []uint16{2}, true, false)
	b := g.start(7, 2, []uint16{1}, false, true)
	for i := range 100 {
		a.tab.Upsert(session(i))
	}
	g.until(10*time.Second, "in sync", b.d.InSync)
	// Cluster 8 reuses unit 1's MAC on another port: b hears it.
	other := g.seg.Attach("intruder", unitMAC(9))
	tab := statesync.NewTable(0)
	tab.Upsert(session(424242))
	d, err := statesync.NewDriver(&statesync.DriverConfig{
		Transport: statesync.NewEthernetTransport(other, unitMAC(1), unitMAC(2), 0),
		Table:     tab, Clock: g.sim, Keys: testKeys(t, "sync key"),
		Cluster: 8, Unit: 1, Peers: []statesync.Peer{{Unit: 2, Addr: &packet.Addr{HardwareAddr: unitMAC(2)}}},
		Send: true,
	})
	require.NoError(t, err)
	defer d.Close()
	g.sim.RunFor(time.Second)
	require.NotZero(t, b.d.Stats().Foreign, "counted")
	_, ok := b.tab.Get(session(424242).Key)
	require.False(t, ok, "nothing of cluster 8 applied")
	require.True(t, b.d.InSync())
}

// TestSimActiveActiveThree: each of three units owns the sessions the
// schedule gives it and replicates them to both others; all end up with
// the whole table.
func TestSimActiveActiveThree(t *testing.T) {
	g := newGroup(t)
	sched, err := statesync.NewSchedule([]statesync.Unit{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}, {ID: 3, Weight: 1}})
	require.NoError(t, err)
	ids := []uint16{1, 2, 3}
	for _, id := range ids {
		var peers []uint16
		for _, p := range ids {
			if p != id {
				peers = append(peers, p)
			}
		}
		m := &member{id: id, mac: unitMAC(id), tab: statesync.NewTable(0)}
		m.port = g.seg.Attach(fmt.Sprint("unit", id), m.mac)
		m.port.SetLoss(0.02)
		var ps []statesync.Peer
		for _, p := range peers {
			ps = append(ps, statesync.Peer{Unit: p, Addr: &packet.Addr{HardwareAddr: unitMAC(p)}})
		}
		m.d, err = statesync.NewDriver(&statesync.DriverConfig{
			Transport: statesync.NewEthernetTransport(m.port, m.mac, unitMAC(peers[0]), 0, unitMAC(peers[1])),
			Table:     m.tab, Clock: g.sim, Keys: testKeys(t, "sync key"),
			Cluster: 7, Unit: id, Peers: ps, ActiveActive: true,
			Send: true, Receive: true, Sender: &statesync.SenderConfig{Filter: sched.Filter(id)},
		})
		require.NoError(t, err)
		t.Cleanup(func() { m.d.Close() })
		g.units[id] = m
	}
	for i := range scale(12000) {
		s := session(i % scale(6000))
		s.Packets = uint64(i)
		owner := g.units[sched.Owner(s.Key)]
		if i%7 == 0 {
			owner.d.Delete(s.Key)
		} else {
			owner.d.Upsert(s)
		}
		if i%20 == 19 {
			g.sim.RunFor(time.Millisecond)
		}
	}
	g.until(30*time.Second, "all in sync", func() bool {
		for _, m := range g.units {
			if !m.d.InSync() || !allAcked(m) {
				return false
			}
		}
		return true
	})
	requireSame(t, g.units[1].tab, g.units[2].tab)
	requireSame(t, g.units[1].tab, g.units[3].tab)
}

func cloneTable(t *statesync.Table) *statesync.Table {
	c := statesync.NewTable(t.Len())
	t.Range(func(s statesync.Session) bool {
		c.Store(s)
		return true
	})
	return c
}

// TestDriverPeersConfig: the identities a Driver with peers needs.
func TestDriverPeersConfig(t *testing.T) {
	tab := statesync.NewTable(0)
	tr := statesync.NewUDPTransport(nil, netip.MustParseAddrPort("198.18.0.2:1"))
	for name, c := range map[string]*statesync.DriverConfig{
		"no unit":       {Peers: []statesync.Peer{{Unit: 2}}},
		"peer unit 0":   {Unit: 1, Peers: []statesync.Peer{{Unit: 0}}},
		"peer is self":  {Unit: 1, Peers: []statesync.Peer{{Unit: 1}}},
		"peer twice":    {Unit: 1, Peers: []statesync.Peer{{Unit: 2}, {Unit: 2}}},
		"too many (aa)": {Unit: 1, ActiveActive: true, Peers: manyPeers(256)},
	} {
		c.Transport, c.Table = tr, tab
		require.Error(t, c.Validate(), name)
	}
	ok := &statesync.DriverConfig{Transport: tr, Table: tab, Unit: 1, Peers: []statesync.Peer{{Unit: 2}, {Unit: 3}}}
	require.NoError(t, ok.Validate())
}

func manyPeers(n int) []statesync.Peer {
	ps := make([]statesync.Peer, n)
	for i := range ps {
		ps[i].Unit = uint16(i + 2)
	}
	return ps
}
