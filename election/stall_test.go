package election

import (
	"fmt"
	"testing"
	"time"

	"github.com/hakit/hakit"
	"github.com/stretchr/testify/require"
)

// TestFrozenPrimaryResumes freezes the primary (unit 1: no Tick, no
// heartbeat) for 2, 5 and 20 times the detection time. Unit 2 declares it
// lost and takes over. When unit 1 resumes it has held the role, on its own
// clock, for longer than unit 2: without noticing its stall it would win
// the split brain on tenure and take the role back. It notices the gap,
// restarts its age and tenure, and stands down: unit 2 keeps the role, the
// units never both stay primary, and the only role change after the
// resume is unit 1's. Unit 1 has the higher priority, and in the "young"
// cases the units' ages lie within the split-brain age margin, so neither
// priority nor age may decide. With a hiccup, unit 2's own loop stalls
// too, just before it takes over (a loaded machine; the verdict waits for
// it, and comes just before unit 1 resumes): it still counts as the unit
// that kept running, as it took the role after its stall.
func TestFrozenPrimaryResumes(t *testing.T) {
	for _, times := range []int{2, 5, 20} {
		for _, lostOnResume := range []bool{false, true} {
			for _, young := range []bool{false, true} {
				for _, hiccup := range []bool{false, true} {
					t.Run(fmt.Sprintf("%dx/peer lost on resume %v/young %v/hiccup %v", times, lostOnResume, young, hiccup), func(t *testing.T) {
						frozenPrimary(t, times, lostOnResume, young, hiccup)
					})
				}
			}
		}
	}
}

func frozenPrimary(t *testing.T, times int, lostOnResume, young, hiccup bool) {
	c1, c2 := *unitConfig(1), *unitConfig(2)
	c1.Priority, c2.Priority = 200, 100
	b := settled(t, c1, c2)
	if !young {
		b.step(30 * time.Second) // both units long past the split-brain age margin
	}
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary}, b.roles())
	one, two := b.m(1), b.m(2)
	detect := one.cfg.DetectTime

	// Unit 1 freezes: unit 2 ticks alone and loses it. The heartbeat
	// unit 1 sends first when it resumes carries the candidate made before
	// the freeze.
	stale := one.AppendCandidate(nil, b.now)
	b.cut[[2]uint16{1, 2}], b.cut[[2]uint16{2, 1}] = true, true
	freeze := time.Duration(times) * detect
	lostAt := detect
	if hiccup {
		lostAt = freeze - 100*time.Millisecond
	}
	for end := b.now.Add(freeze); b.now.Before(end); {
		b.now = b.now.Add(100 * time.Millisecond)
		since := b.now.Sub(end.Add(-freeze))
		if hiccup && since > lostAt-700*time.Millisecond && since < lostAt {
			continue // unit 2's loop stalls; the verdict waits for it
		}
		if since == lostAt {
			two.PeerLost(b.now, 1)
		}
		two.Tick(b.now)
	}
	require.Equal(t, hakit.Primary, two.Role(), "unit 2 took over")
	require.Equal(t, hakit.Primary, one.Role(), "unit 1, frozen, still thinks it is primary")

	// Unit 1 resumes: its first Tick comes before it hears
	// anything (its timer fired), possibly after its heartbeat
	// layer declared the silent unit 2 lost.
	changes1, changes2 := one.Counters().RoleChanges, two.Counters().RoleChanges
	b.now = b.now.Add(time.Millisecond)
	require.NoError(t, two.ObserveBinary(b.now, stale))
	two.Tick(b.now)
	require.Equal(t, hakit.Primary, two.Role(), "a candidate made before the stall does not settle the split brain")
	if lostOnResume {
		one.PeerLost(b.now, 2)
	}
	out := one.Tick(b.now)
	delete(b.cut, [2]uint16{1, 2})
	delete(b.cut, [2]uint16{2, 1})
	both := 0
	for i := range 30 {
		b.now = b.now.Add(100 * time.Millisecond)
		b.exchange()
		if i > 0 && one.Role() == hakit.Primary && two.Role() == hakit.Primary {
			both++
		}
	}
	require.Zero(t, both, "never two primaries after the second exchange (one round)")
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary}, b.roles())
	require.Equal(t, changes1+1, one.Counters().RoleChanges, "unit 1 stood down once")
	require.Equal(t, changes2, two.Counters().RoleChanges, "unit 2 was not displaced")
	require.Equal(t, uint64(1), one.Counters().Stalls)
	require.Contains(t, kinds(out.Events), EventStalled)
	if hiccup {
		require.Equal(t, uint64(1), two.Counters().Stalls)
	} else {
		require.Zero(t, two.Counters().Stalls)
	}
}

// TestStallWithoutTakeover: a stall the peer did not notice (the primary's
// loop late by a few intervals) restarts the unit's age but changes no
// role.
func TestStallWithoutTakeover(t *testing.T) {
	b := settled(t, *unitConfig(1), *unitConfig(2))
	b.step(10 * time.Second)
	b.now = b.now.Add(500 * time.Millisecond)
	b.exchange()
	b.step(10 * time.Second)
	require.Equal(t, uint64(1), b.m(1).Counters().Stalls)
	require.Equal(t, uint64(1), b.m(2).Counters().Stalls)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary}, b.roles())
	require.Equal(t, uint64(1), b.m(1).Counters().RoleChanges)
	require.Equal(t, 10*time.Second, b.m(1).Candidate(b.now).Age.Round(time.Second), "age restarted at the stall")
}

func kinds(es []Event) []EventKind {
	var out []EventKind
	for _, e := range es {
		out = append(out, e.Kind)
	}
	return out
}
