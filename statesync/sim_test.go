package statesync_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/statesync"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
)

// cluster is two units on a simulated segment: a sends, b receives.
type cluster struct {
	t        *testing.T
	sim      *clock.Sim
	seg      *simnet.Segment
	a, b     *statesync.Driver
	ta, tb   *statesync.Table
	pa, pb   *simnet.Port
	restarts int
	ka, kb   *hakit.Keyring // each unit's keys, with the same secrets
	tapA     func(b []byte) // if set, sees every datagram a writes
}

func newCluster(t *testing.T, loss, reorder float64) *cluster {
	return newClusterWith(t, loss, reorder, 0)
}

// newClusterWith starts the cluster with prefill sessions already in a's
// table, so that b's join is a bulk sync.
func newClusterWith(t *testing.T, loss, reorder float64, prefill int) *cluster {
	t.Helper()
	c := &cluster{t: t, sim: clock.NewSim(time.Time{}), ta: statesync.NewTable(0), tb: statesync.NewTable(0),
		ka: testKeys(t, "sync key"), kb: testKeys(t, "sync key")}
	for i := range prefill {
		c.ta.Upsert(session(i))
	}
	c.seg = simnet.New(&simnet.Config{Clock: c.sim, Seed: 1})
	c.pa = c.seg.Attach("a", macA)
	c.pa.SetLoss(loss)
	c.pa.SetReorder(reorder, 3*time.Millisecond)
	c.pa.SetLatency(100 * time.Microsecond)
	var err error
	c.a, err = statesync.NewDriver(&statesync.DriverConfig{
		Transport: tapTransport{statesync.NewEthernetTransport(c.pa, macA, macB, 0), func(b []byte) {
			if c.tapA != nil {
				c.tapA(b)
			}
		}},
		Table: c.ta, Clock: c.sim,
		Send: true, Sender: &statesync.SenderConfig{MTU: 1500}, Keys: c.ka,
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.a.Close() })
	c.startB(loss, reorder)
	return c
}

func (c *cluster) startB(loss, reorder float64) {
	c.t.Helper()
	name := "b"
	if c.restarts > 0 {
		name = "b" + string(rune('0'+c.restarts))
	}
	c.restarts++
	c.pb = c.seg.Attach(name, macB)
	c.pb.SetLoss(loss)
	c.pb.SetReorder(reorder, 3*time.Millisecond)
	c.pb.SetLatency(100 * time.Microsecond)
	var err error
	c.b, err = statesync.NewDriver(&statesync.DriverConfig{
		Transport: statesync.NewEthernetTransport(c.pb, macB, macA, 0),
		Table:     c.tb, Clock: c.sim,
		Receive: true, Keys: c.kb,
	})
	require.NoError(c.t, err)
	b := c.b
	c.t.Cleanup(func() { b.Close() })
}

// scale returns n, or n/20 under the race detector.
func scale(n int) int {
	if raceEnabled {
		return n / 20
	}
	return n
}

func session(i int) statesync.Session {
	return statesync.Session{
		Key: statesync.Key{Proto: 6,
			Src: addrPort(198, 18, i, uint16(1024+i%50000)),
			Dst: addrPort(198, 19, i%7, 443)},
		State: statesync.TCPStateEstablished, Status: 0xe, Expires: 2_000_000_000,
	}
}

// churn makes n random changes over keys sessions, 20 per simulated
// millisecond (20,000/s), a fifth of them deletions.
func (c *cluster) churn(n, keys int, seed uint64) { c.churnDel(n, keys, seed, 5) }

// churnDel is churn with one deletion in every del changes (0: none).
func (c *cluster) churnDel(n, keys int, seed uint64, del int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range n {
		s := session(rng.IntN(keys))
		if del > 0 && rng.IntN(del) == 0 {
			c.a.Delete(s.Key)
		} else {
			s.Packets, s.Bytes = uint64(i), uint64(i)*64
			c.a.Upsert(s)
		}
		if i%20 == 19 {
			c.sim.RunFor(time.Millisecond)
		}
	}
}

// settle advances simulated time until b is in sync with everything a sent
// acknowledged.
func (c *cluster) settle(limit time.Duration) time.Duration {
	c.t.Helper()
	start := c.sim.Now()
	for c.sim.Since(start) < limit {
		c.sim.RunFor(10 * time.Millisecond)
		if c.b.InSync() && c.a.Acked() {
			return c.sim.Since(start)
		}
	}
	c.t.Fatalf("not in sync after %v: sender %+v receiver %+v", limit, c.a.SenderStats(), c.b.ReceiverStats())
	return 0
}

func requireSame(t *testing.T, src, dst *statesync.Table) {
	t.Helper()
	missing, extra, differing := 0, 0, 0
	src.Range(func(s statesync.Session) bool {
		got, ok := dst.Get(s.Key)
		if !ok {
			missing++
		} else if got != s {
			differing++
		}
		return true
	})
	dst.Range(func(s statesync.Session) bool {
		if _, ok := src.Get(s.Key); !ok {
			extra++
		}
		return true
	})
	t.Logf("source %d sessions, replica %d: %d missing, %d extra, %d differing", src.Len(), dst.Len(), missing, extra, differing)
	require.Zero(t, missing, "missing")
	require.Zero(t, extra, "extra")
	require.Zero(t, differing, "differing")
}

// Acceptance: with 5% loss and reordering on the simulated segment, after
// the updates stop the replica equals the source.
func TestSimLossReorderConverges(t *testing.T) {
	c := newCluster(t, 0.05, 0.10)
	for i := range scale(10000) {
		c.a.Upsert(session(i))
	}
	c.churn(scale(60000), scale(20000), 1)
	took := c.settle(30 * time.Second)
	t.Logf("settled %v after the last update; sender %+v; receiver %+v", took, c.a.SenderStats(), c.b.ReceiverStats())
	requireSame(t, c.ta, c.tb)
	require.NotZero(t, c.b.ReceiverStats().Buffered, "reordering happened")
	require.NotZero(t, c.a.SenderStats().Resent, "losses were repaired")
}

// tapTransport shows a test what it writes.
type tapTransport struct {
	*statesync.EthernetTransport
	tap func(b []byte)
}

func (t tapTransport) WriteTo(b []byte, addr net.Addr) (int, error) {
	t.tap(b)
	return t.EthernetTransport.WriteTo(b, addr)
}

// TestSimKeyRotation: both units rotate their key in the documented order
// (the new key verifies everywhere, then seals everywhere, then the old one
// is dropped) while sessions change, each unit a moment after the other:
// not one datagram is rejected, the stream is never restarted, and the
// replica ends equal to the source.
func TestSimKeyRotation(t *testing.T) {
	c := newCluster(t, 0, 0)
	c.churn(scale(2000), scale(1000), 4)
	c.settle(10 * time.Second)
	old := c.ka.Keys()[0]
	next := hakit.Key{ID: 2, Secret: []byte("the next sync secret")}
	for i, s := range [][]hakit.Key{{old, next}, {next, old}, {next}} {
		first, second := c.ka, c.kb
		if i%2 == 1 {
			first, second = c.kb, c.ka // the order of the units does not matter
		}
		require.NoError(t, first.Set(s[0], s[1:]...))
		c.churn(scale(2000), scale(1000), uint64(10+i))
		require.NoError(t, second.Set(s[0], s[1:]...))
		c.churn(scale(2000), scale(1000), uint64(20+i))
	}
	keyIDs := map[byte]int{}
	c.tapA = func(b []byte) { keyIDs[b[5]]++ }
	c.settle(10 * time.Second)
	c.churn(scale(200), scale(1000), 30)
	c.settle(10 * time.Second)
	require.Len(t, keyIDs, 1, "%v", keyIDs)
	require.NotZero(t, keyIDs[2], "sealed with the new key")
	requireSame(t, c.ta, c.tb)
	ss, rs := c.a.SenderStats(), c.b.ReceiverStats()
	require.Zero(t, ss.DropAuth+rs.DropAuth, "rejected datagrams")
	require.Zero(t, ss.Resyncs+rs.Resyncs, "resyncs")
	require.Equal(t, uint64(1), rs.Streams, "one stream throughout")
	for _, d := range []*statesync.Driver{c.a, c.b} {
		ss, rs := d.SenderStats(), d.ReceiverStats()
		require.Zero(t, ss.Resyncs+rs.Resyncs, "no resync: every switch starts a clean stream")
		require.Zero(t, ss.DropMalformed+ss.DropAuth+ss.DropVersion+rs.DropMalformed+rs.DropAuth+rs.DropVersion)
	}
}

// Acceptance: the same with the replica restarted in the middle of a bulk
// sync.
func TestSimReplicaRestartMidBulk(t *testing.T) {
	n := scale(50000)
	c := newClusterWith(t, 0.05, 0.10, n)
	for {
		c.churn(20, n, 2)
		if got, _, _ := c.b.ReceiveProgress(); got > uint64(n/10) {
			break
		}
	}
	got, total, running := c.b.ReceiveProgress()
	t.Logf("restarting the replica at %d/%d", got, total)
	require.True(t, running, "still in the bulk sync")
	require.Less(t, got, total)
	c.b.Close() // the replica restarts, keeping its partial table
	c.startB(0.05, 0.10)
	c.churn(scale(20000), n, 3)
	c.settle(30 * time.Second)
	requireSame(t, c.ta, c.tb)
	require.NotZero(t, c.a.SenderStats().Resyncs, "the restarted replica needed a resync")
}

// A failover while changes are still flowing: the primary dies with
// datagrams in flight; the replica commits what it has.
func TestSimFailoverMidStream(t *testing.T) {
	n := scale(100_000)
	c := newCluster(t, 0.05, 0.10)
	for i := range n {
		c.a.Upsert(session(i))
		if i%100 == 99 {
			c.sim.RunFor(time.Millisecond)
		}
	}
	c.settle(30 * time.Second)
	c.churn(scale(5000), n, 4)
	// The primary dies mid-stream: whatever is in flight is lost.
	want := c.ta.Len()
	c.a.Close()
	c.sim.RunFor(50 * time.Millisecond)
	res := c.b.Commit()
	t.Logf("commit: %+v; sender %+v", res, c.a.SenderStats())
	require.GreaterOrEqual(t, c.tb.Len(), n-scale(5000))
	// Everything acknowledged before the death is there; the last few
	// milliseconds of changes may be lost with the primary, not more.
	diff := 0
	c.ta.Range(func(s statesync.Session) bool {
		if got, ok := c.tb.Get(s.Key); !ok || got != s {
			diff++
		}
		return true
	})
	t.Logf("%d of %d sessions differ after failover", diff, want)
	require.Less(t, diff, 200)
}

// Acceptance: 100,000 sessions present on the new primary after a failover
// in simulation (5,000 under -race), with 5% loss and reordering.
func TestSimFailover100k(t *testing.T) {
	n := scale(100_000)
	c := newCluster(t, 0.05, 0.10)
	for i := range n {
		c.a.Upsert(session(i))
		if i%100 == 99 {
			c.sim.RunFor(time.Millisecond)
		}
	}
	c.churnDel(scale(5000), n, 5, 0)
	c.settle(30 * time.Second)
	c.a.Close()
	res := c.b.Commit()
	require.True(t, res.InSync)
	require.Zero(t, res.Lost)
	require.Equal(t, n, c.tb.Len())
	requireSame(t, c.ta, c.tb)
}

// Active-active: each unit owns the sessions the schedule gives it, sends
// them to the other, and both end up holding the whole table.
func TestSimActiveActive(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 2})
	sched, err := statesync.NewSchedule([]statesync.Unit{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}})
	require.NoError(t, err)
	keys := testKeys(t, "sync key")
	type unit struct {
		id  uint16
		tab *statesync.Table
		d   *statesync.Driver
	}
	mk := func(id uint16, mac, peer net.HardwareAddr) *unit {
		p := seg.Attach(fmt.Sprint("unit", id), mac)
		p.SetLoss(0.05)
		p.SetReorder(0.1, 3*time.Millisecond)
		u := &unit{id: id, tab: statesync.NewTable(0)}
		// Prefilled: the bulk sync must send only what the unit owns.
		for i := range scale(4000) {
			if s := session(i); sched.Owns(id, s.Key) {
				u.tab.Upsert(s)
			}
		}
		u.d, err = statesync.NewDriver(&statesync.DriverConfig{
			Transport: statesync.NewEthernetTransport(p, mac, peer, 0),
			Table:     u.tab, Clock: sim,
			Send: true, Sender: &statesync.SenderConfig{Filter: sched.Filter(id)}, Keys: keys,
			Receive: true, Receiver: &statesync.ReceiverConfig{Origin: 1},
		})
		require.NoError(t, err)
		t.Cleanup(func() { u.d.Close() })
		return u
	}
	a, b := mk(1, macA, macB), mk(2, macB, macA)
	rng := rand.New(rand.NewPCG(9, 9))
	owned := map[uint16]int{}
	for i := range scale(20000) {
		s := session(rng.IntN(scale(8000)))
		s.Packets = uint64(i)
		u := a
		if sched.Owner(s.Key) == 2 {
			u = b
		}
		owned[u.id]++
		if rng.IntN(6) == 0 {
			u.d.Delete(s.Key)
		} else {
			u.d.Upsert(s)
		}
		if i%20 == 19 {
			sim.RunFor(time.Millisecond)
		}
	}
	require.NotZero(t, owned[1])
	require.NotZero(t, owned[2])
	for range 3000 {
		sim.RunFor(10 * time.Millisecond)
		if a.d.InSync() && b.d.InSync() && a.d.Acked() && b.d.Acked() {
			break
		}
	}
	require.True(t, a.d.InSync() && b.d.InSync() && a.d.Acked() && b.d.Acked())
	requireSame(t, a.tab, b.tab)
}

// TestSimSwitchDirection: the two units swap roles twice on the same
// Drivers, transports and tables. The standby commits (and stops
// receiving: what the old primary sends after that is ignored) and starts
// sending; the old primary stops sending and mirrors the new one, whose bulk
// sync removes what it no longer has. No new transport, driver or table.
func TestSimSwitchDirection(t *testing.T) {
	c := newCluster(t, 0.02, 0.05)
	c.churn(scale(4000), scale(2000), 5)
	c.settle(10 * time.Second)
	requireSame(t, c.ta, c.tb)

	primary, standby := c.a, c.b
	ptab, stab := c.ta, c.tb
	for round := range 2 {
		res := standby.Commit()
		require.True(t, res.InSync, "round %d", round)
		require.False(t, standby.Receiving(), "Commit stops receiving")
		late := session(900000 + round)
		primary.Upsert(late) // the old primary's last change, after the commit
		c.sim.RunFor(50 * time.Millisecond)
		_, ok := stab.Get(late.Key)
		require.False(t, ok, "nothing is applied after Commit")

		require.NoError(t, standby.SetSending(true))
		require.NoError(t, primary.SetSending(false))
		require.NoError(t, primary.SetReceiving(true))
		require.True(t, standby.Sending() && primary.Receiving() && !primary.Sending())

		// The new primary's table changes; the new standby follows it.
		rng := rand.New(rand.NewPCG(uint64(round), 9))
		for i := range scale(3000) {
			s := session(rng.IntN(scale(2000)))
			if i%5 == 0 {
				standby.Delete(s.Key)
			} else {
				s.Packets = uint64(i)
				standby.Upsert(s)
			}
			if i%20 == 19 {
				c.sim.RunFor(time.Millisecond)
			}
		}
		for deadline := c.sim.Now().Add(30 * time.Second); !(primary.InSync() && standby.Acked()); {
			require.True(t, c.sim.Now().Before(deadline), "round %d: not in sync: %+v", round, primary.ReceiverStats())
			c.sim.RunFor(10 * time.Millisecond)
		}
		requireSame(t, stab, ptab)
		_, ok = ptab.Get(late.Key)
		require.False(t, ok, "the new primary's bulk sync removed what it never had")
		primary, standby, ptab, stab = standby, primary, stab, ptab
	}
	for _, d := range []*statesync.Driver{c.a, c.b} {
		ss, rs := d.SenderStats(), d.ReceiverStats()
		require.Zero(t, ss.Resyncs+rs.Resyncs, "no resync: every switch starts a clean stream")
		require.Zero(t, ss.DropMalformed+ss.DropAuth+ss.DropVersion+rs.DropMalformed+rs.DropAuth+rs.DropVersion)
	}
}
