package member_test

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// mergeLog records what a unit's OnMerge was given.
type mergeLog struct {
	mu     sync.Mutex
	merged map[statesync.Key]bool
}

func (l *mergeLog) has(k statesync.Key) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.merged[k]
}

// splitPair starts units 1 and 2 with session sync, each with a router of
// its own on the LAN (so that each still reaches a neighbour when they are
// cut off from each other), and returns them once 1 is primary holding
// sessions 0 to 99 and 2 mirrors them.
func splitPair(t *testing.T, tweak func(*member.Config)) (s *segment, a, b *simUnit, logs map[uint16]*mergeLog) {
	s = newSegment(t)
	s.n = 2
	gw2 := netip.MustParseAddr("198.18.0.253")
	s.router("router2", hw(3, 253), gw2)
	logs = map[uint16]*mergeLog{}
	mk := func(id uint16, gw netip.Addr) *simUnit {
		l := &mergeLog{merged: map[statesync.Key]bool{}}
		logs[id] = l
		return s.unit(id, func(c *member.Config) {
			c.Heartbeat = &heartbeat.Config{Neighbours: neighbours{"eth0": {gw}}}
			c.Sync.OnMerge = func(_ uint16, ss []statesync.Session) {
				l.mu.Lock()
				defer l.mu.Unlock()
				for _, x := range ss {
					l.merged[x.Key] = true
				}
			}
			if tweak != nil {
				tweak(c)
			}
		})
	}
	a, b = mk(1, s.gw), mk(2, gw2)
	require.NoError(t, a.d.Start())
	require.NoError(t, b.d.Start())
	time.Sleep(2 * time.Second)
	require.Equal(t, []uint16{1}, primaries(a, b))
	for i := range 100 {
		a.d.Upsert(statesync.Session{Key: sessionKey(i), State: 3})
	}
	time.Sleep(time.Second)
	require.True(t, b.d.Status().InSync)
	require.Equal(t, 100, b.d.Table().Len())
	return s, a, b, logs
}

// partition cuts every path between units 1 and 2: heartbeats and sync.
// Each keeps its own router.
func (s *segment) partition() {
	s.seg.Isolate(s.seg.Port("hb1"), s.seg.Port("arp1"), s.seg.Port("router"))
	s.seg.Isolate(s.seg.Port("hb2"), s.seg.Port("arp2"), s.seg.Port("router2"))
	s.sync.Isolate(s.sync.Port("sync1"))
}

func roleChangesOf(u *simUnit) uint64 { return u.d.Status().Counters.Election.RoleChanges }

// TestDriverSplitBrainSessionsSurvive: both units are primary while cut
// off from each other, and each follows connections of its own (and
// changes one they share). When the partition heals, the loser hands its
// sessions to the winner before its steps go down; the winner takes in
// what it lacks, keeps its own state of the shared session, and hands the
// new ones to OnMerge (the kernel); the loser then mirrors the union. One
// role changes after the heal, the loser's.
func TestDriverSplitBrainSessionsSurvive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, a, b, logs := splitPair(t, nil)
		s.partition()
		time.Sleep(2 * time.Second)
		require.Equal(t, []uint16{1, 2}, primaries(a, b), "a split brain")
		own := map[uint16]int{1: 100, 2: 200} // each side's new sessions start there
		for _, u := range []*simUnit{a, b} {
			for i := range 100 {
				u.d.Upsert(statesync.Session{Key: sessionKey(own[u.id] + i), State: 3})
			}
			u.d.Upsert(statesync.Session{Key: sessionKey(0), State: 3, Packets: uint64(u.id)})
		}
		time.Sleep(time.Second)
		before := map[uint16]uint64{1: roleChangesOf(a), 2: roleChangesOf(b)}
		for _, u := range []*simUnit{a, b} {
			u.rec.takeOps()
		}

		s.seg.Join()
		s.sync.Join()
		time.Sleep(3 * time.Second)
		ps := primaries(a, b)
		require.Len(t, ps, 1, "one primary after the heal")
		winner, loser := a, b
		if ps[0] == 2 {
			winner, loser = b, a
		}
		t.Logf("unit %d won", winner.id)
		require.Equal(t, before[winner.id], roleChangesOf(winner), "the winner's role does not change")
		require.Equal(t, before[loser.id]+1, roleChangesOf(loser), "the loser stands down once")
		require.Empty(t, winner.rec.takeOps(), "the winner's steps stay up")
		require.Equal(t, userDown, loser.rec.takeOps())

		// The loser handed its sessions back, and only then took its
		// steps down (replication first).
		var handed, down int = -1, -1
		loser.rec.mu.Lock()
		for i, e := range loser.rec.events {
			switch {
			case e.Kind == member.EventHandedBack && handed < 0:
				handed = i
				require.NoError(t, e.Err)
				require.Equal(t, winner.id, e.Peer)
			case e.Kind == member.EventStep && e.Step == "replication" && e.Action == member.Down && down < 0:
				down = i
			}
		}
		loser.rec.mu.Unlock()
		require.GreaterOrEqual(t, handed, 0, "handed back")
		require.Less(t, handed, down, "handed back before the steps went down")
		lc := loser.d.Status().Counters
		require.Equal(t, uint64(1), lc.Handbacks)
		require.Zero(t, lc.HandbackTimeouts)

		// The winner holds every session of both sides; the loser's new
		// ones went to its OnMerge, its own state of the shared one won.
		wt := winner.d.Table()
		for i := range 300 {
			_, ok := wt.Get(sessionKey(i))
			require.True(t, ok, "the winner holds session %d", i)
		}
		for i := range 100 {
			require.True(t, logs[winner.id].has(sessionKey(own[loser.id]+i)), "merged: the loser's session %d", own[loser.id]+i)
			require.False(t, logs[winner.id].has(sessionKey(i)), "not merged: session %d, held already", i)
		}
		got, _ := wt.Get(sessionKey(0))
		require.Equal(t, uint64(winner.id), got.Packets, "the winner's own state wins")
		require.Equal(t, 300, wt.Len())

		// The loser mirrors the union.
		st := loser.d.Status()
		require.True(t, st.InSync)
		require.Equal(t, 300, st.Sync.Sessions)
		got, _ = loser.d.Table().Get(sessionKey(own[loser.id]))
		require.Equal(t, statesync.Session{Key: sessionKey(own[loser.id]), State: 3}.Key, got.Key)
	})
}

// TestDriverHandbackBounded: when the winner does not take the loser's
// sessions (the sync link stays cut while the heartbeats heal), the
// loser's steps go down at the bound, and the winner's role never waits.
func TestDriverHandbackBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bound = 500 * time.Millisecond
		s, a, b, _ := splitPair(t, func(c *member.Config) { c.Sync.HandbackTimeout = bound })
		s.partition()
		time.Sleep(2 * time.Second)
		require.Equal(t, []uint16{1, 2}, primaries(a, b))
		before := map[uint16]uint64{1: roleChangesOf(a), 2: roleChangesOf(b)}
		a.rec.takeOps()
		b.rec.takeOps()
		s.seg.Join() // the sync link stays cut
		time.Sleep(3 * time.Second)
		ps := primaries(a, b)
		require.Len(t, ps, 1)
		winner, loser := a, b
		if ps[0] == 2 {
			winner, loser = b, a
		}
		require.Equal(t, before[winner.id], roleChangesOf(winner))
		require.Empty(t, winner.rec.takeOps())
		require.Equal(t, userDown, loser.rec.takeOps(), "the loser's steps went down all the same")
		hb := loser.rec.eventsOf(member.EventHandedBack)
		require.Len(t, hb, 1)
		require.Error(t, hb[0].Err)
		var stood, down time.Time
		for _, e := range loser.rec.eventsOf(member.EventRoleChange) {
			if e.From == hakit.Primary {
				stood = e.Time
			}
		}
		for _, e := range loser.rec.eventsOf(member.EventStep) {
			if e.Step == "replication" && e.Action == member.Down {
				down = e.Time
			}
		}
		require.Equal(t, bound, down.Sub(stood), "the steps go down at the bound, not later")
		lc := loser.d.Status().Counters
		require.Zero(t, lc.Handbacks)
		require.Equal(t, uint64(1), lc.HandbackTimeouts)
	})
}

// TestDriverRejoinNoFlap: three units; 17 times over, the primary dies
// (Close, no handover) and comes back as a new start while the others run.
// Every round changes exactly the roles it must: the best survivor becomes
// primary (one change), the other survivor none, the unit that rejoins
// goes from initial to secondary (one) and nobody else moves when it
// comes back.
func TestDriverRejoinNoFlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		s.n = 3
		gen := map[uint16]int{}
		start := func(id uint16) *simUnit {
			gen[id]++
			g := gen[id]
			// A new start of the same unit: same MACs, new sockets.
			u := s.unitNamed(id, fmt.Sprintf(".%d", g), nil)
			require.NoError(t, u.d.Start())
			return u
		}
		us := map[uint16]*simUnit{}
		for id := uint16(1); id <= 3; id++ {
			us[id] = start(id)
		}
		time.Sleep(3 * time.Second)
		require.Equal(t, hakit.Primary, us[1].d.Role())
		for i := range 100 { // each rejoiner gets them in its bulk sync
			us[1].d.Upsert(statesync.Session{Key: sessionKey(i), State: 3})
		}
		time.Sleep(time.Second)
		changes := func() uint64 {
			var n uint64
			for _, u := range us {
				n += roleChangesOf(u)
			}
			return n
		}
		var extra uint64
		for round := range 17 {
			var ps []uint16
			for id, u := range us {
				if u.d.Role() == hakit.Primary {
					ps = append(ps, id)
				}
			}
			require.Len(t, ps, 1, "round %d: one primary", round)
			dead := ps[0]
			c0 := changes() - roleChangesOf(us[dead])
			require.NoError(t, us[dead].d.Close())
			delete(us, dead)
			time.Sleep(2 * time.Second)
			var now []uint16
			for id, u := range us {
				if u.d.Role() == hakit.Primary {
					now = append(now, id)
				}
			}
			require.Len(t, now, 1, "round %d: one primary after unit %d died", round, dead)
			c1 := changes()
			us[dead] = start(dead)
			time.Sleep(3 * time.Second)
			c2 := changes()
			require.Equal(t, hakit.Secondary, us[dead].d.Role(), "round %d: unit %d rejoins as secondary", round, dead)
			st := us[dead].d.Status()
			require.True(t, st.InSync && st.Sync.Sessions == 100, "round %d: unit %d rejoins in sync: %d sessions", round, dead, st.Sync.Sessions)
			slices.Sort(now)
			var still []uint16
			for id, u := range us {
				if u.d.Role() == hakit.Primary {
					still = append(still, id)
				}
			}
			require.Equal(t, now, still, "round %d: the primary keeps the role when unit %d rejoins", round, dead)
			// One change to elect the successor; one for the rejoiner
			// (initial → secondary).
			extra += (c1 - c0 - 1) + (c2 - c1 - 1)
			t.Logf("round %d: unit %d died; unit %v primary; role changes: %d at the failover, %d at the rejoin", round, dead, now, c1-c0, c2-c1)
		}
		require.Zero(t, extra, "extra role changes over 17 rounds")
	})
}

// TestMachineHandbackHolds: after a split brain it lost, a unit's steps
// stay up until the winner acknowledges its sessions (an acknowledgement
// from another unit does not count), and no later than the bound; Next
// wakes the caller for it.
func TestMachineHandbackHolds(t *testing.T) {
	for _, acked := range []bool{true, false} {
		t.Run(fmt.Sprint("acknowledged ", acked), func(t *testing.T) {
			b, a, s := splitBrain(t)
			s.takeOps()
			s.holdBack = true
			rejoin(a, s)
			for s.role == hakit.Primary {
				b.run(interval)
			}
			stood := b.now
			require.Equal(t, []uint16{1}, s.handedTo)
			b.run(time.Second)
			require.Empty(t, s.takeOps(), "the steps wait for the hand-back")
			require.Len(t, s.m.Held(), 5)
			s.m.HandedBack(b.now, 3, nil) // not the winner
			b.run(interval)
			require.Empty(t, s.takeOps())
			if acked {
				s.m.HandedBack(b.now, 1, nil)
				b.run(interval)
				require.Equal(t, downAll, s.takeOps())
				require.Equal(t, uint64(1), s.m.Counters().Handbacks)
				return
			}
			for b.now.Before(stood.Add(member.DefaultHandbackTimeout - interval)) {
				b.run(interval)
			}
			require.Empty(t, s.takeOps(), "still waiting just before the bound")
			b.run(2 * interval)
			require.Equal(t, downAll, s.takeOps(), "down at the bound")
			require.Equal(t, uint64(1), s.m.Counters().HandbackTimeouts)
			require.Equal(t, hakit.Primary, a.role, "the winner never waited")
		})
	}
}

// TestMachineStalledStandbyHoldsVerdicts: the standby's own loop stalls
// (its process starved); when it resumes, its heartbeats' late timers
// declare the primary down before the heartbeats that waited are read.
// The verdict waits out the resume window: the heartbeats resume and
// nobody changes role. When the primary did die during the stall, the
// standby takes over once the window ends.
func TestMachineStalledStandbyHoldsVerdicts(t *testing.T) {
	for _, died := range []bool{false, true} {
		t.Run(fmt.Sprint("primary died ", died), func(t *testing.T) {
			b, a, s := startPair(t)
			ra, rs := a.m.Counters().Election.RoleChanges, s.m.Counters().Election.RoleChanges
			s.dead = true // stalled: it neither ticks nor hears
			a.dead = died
			b.run(1500 * time.Millisecond)
			s.dead = false
			s.report(1, heartbeat.PeerDown) // the late timers first
			s.tick()
			require.Equal(t, hakit.Secondary, s.role, "the verdict waits")
			if !died {
				s.report(1, heartbeat.Alive) // then the heartbeats read
			}
			b.run(2 * time.Second)
			if died {
				require.Equal(t, hakit.Primary, s.role, "the primary is lost once the window ends")
				return
			}
			require.Equal(t, hakit.Secondary, s.role)
			require.Equal(t, hakit.Primary, a.role)
			require.Equal(t, ra, a.m.Counters().Election.RoleChanges)
			require.Equal(t, rs, s.m.Counters().Election.RoleChanges, "no role change of the stalled unit's making")
			require.Empty(t, s.takeOps())
		})
	}
}
