package member_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
)

// switchProbe is a probe whose result the test sets.
type switchProbe struct{ fail atomic.Bool }

func (p *switchProbe) probe(context.Context) error {
	if p.fail.Load() {
		return errors.New("exit status 1")
	}
	return nil
}

// withCheck gives a unit preemption with short delays (so that priority
// moves the role within the test) and one check.
func withCheck(c member.Check) func(*member.Config) {
	return func(cfg *member.Config) {
		cfg.Preempt = true
		ec := cfg.ElectionConfig()
		ec.PreemptDelay, ec.HoldDown = time.Second, 3*time.Second
		cfg.Election = ec
		cfg.Checks = []member.Check{c}
	}
}

func roleChanges(u *simUnit) []string {
	var out []string
	for _, e := range u.rec.eventsOf(member.EventRoleChange) {
		out = append(out, fmt.Sprintf("%v: %s", e.To, e.Reason))
	}
	return out
}

// TestDriverWeightedCheck: a failing check with weight lowers unit 1's
// priority below unit 2's: the role moves to unit 2, with the check named
// in unit 1's reason, and comes back once the check passes again.
func TestDriverWeightedCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		var p switchProbe
		check := member.Check{Name: "script", Probe: p.probe, Interval: 100 * time.Millisecond, Weight: 10}
		u1 := s.unit(1, withCheck(check)) // priority 199
		u2 := s.unit(2, withCheck(member.Check{Name: "script", Probe: (&switchProbe{}).probe, Weight: 10}))
		require.NoError(t, u1.d.Start())
		require.NoError(t, u2.d.Start())
		time.Sleep(2 * time.Second)
		require.Equal(t, []uint16{1}, primaries(u1, u2))

		p.fail.Store(true)
		time.Sleep(350 * time.Millisecond) // three failures
		st := u1.d.Status()
		require.Equal(t, uint8(189), st.Effective)
		require.True(t, st.Checks[0].Failing)
		time.Sleep(3 * time.Second) // preempt delay, handover
		require.Equal(t, []uint16{2}, primaries(u1, u2))
		rc := roleChanges(u1)
		require.Contains(t, rc[len(rc)-1], "check script failed 3 times: exit status 1: priority 199 -> 189")
		checks := u1.rec.eventsOf(member.EventCheck)
		require.Len(t, checks, 1)

		p.fail.Store(false)
		time.Sleep(6 * time.Second) // rise, hold-down, preempt delay, handover
		require.Equal(t, []uint16{1}, primaries(u1, u2))
		require.Equal(t, uint8(199), u1.d.Status().Effective)
		require.Len(t, u1.rec.eventsOf(member.EventCheck), 2)
		require.Len(t, roleChanges(u2), 3, "secondary, primary, secondary: %q", roleChanges(u2))
	})
}

// TestDriverFlappingCheck: a check that fails and passes every 300 ms
// moves the role at most once while it flaps, with weight and without.
func TestDriverFlappingCheck(t *testing.T) {
	for _, weight := range []uint8{10, 0} {
		t.Run(fmt.Sprint("weight ", weight), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSegment(t)
				var flapping atomic.Bool
				start := time.Now()
				probe := func(context.Context) error {
					if flapping.Load() && time.Since(start)/(300*time.Millisecond)%2 == 0 {
						return errors.New("exit status 1")
					}
					return nil
				}
				check := member.Check{Name: "flap", Probe: probe, Interval: 100 * time.Millisecond, Weight: weight}
				u1 := s.unit(1, withCheck(check))
				u2 := s.unit(2, withCheck(member.Check{Name: "flap", Probe: (&switchProbe{}).probe}))
				require.NoError(t, u1.d.Start())
				require.NoError(t, u2.d.Start())
				time.Sleep(2 * time.Second)
				require.Equal(t, []uint16{1}, primaries(u1, u2))
				before := len(roleChanges(u1)) + len(roleChanges(u2))

				flapping.Store(true)
				time.Sleep(30 * time.Second)
				t.Logf("while flapping: %q / %q", roleChanges(u1), roleChanges(u2))
				moves := len(roleChanges(u1)) + len(roleChanges(u2)) - before
				require.LessOrEqual(t, moves, 2, "one move is a change on each unit: %q %q", roleChanges(u1), roleChanges(u2))
				require.Greater(t, len(u1.rec.eventsOf(member.EventCheck)), 10, "the check did flap")
				require.Len(t, primaries(u1, u2), 1)

				flapping.Store(false)
				time.Sleep(10 * time.Second)
				require.Equal(t, []uint16{1}, primaries(u1, u2), "back once the check is steady")
				require.Equal(t, hakit.Secondary, u2.d.Role())
			})
		})
	}
}

// TestDriverSetChecks: checks replaced while the unit runs start at once;
// a refused set changes nothing.
func TestDriverSetChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		u1 := s.unit(1, nil)
		require.NoError(t, u1.d.Start())
		time.Sleep(2 * time.Second)
		var p switchProbe
		p.fail.Store(true)
		require.NoError(t, u1.d.SetChecks([]member.Check{{Name: "gw", Probe: p.probe, Weight: 50}}))
		synctest.Wait()
		st := u1.d.Status()
		require.Equal(t, uint8(149), st.Effective)
		require.ErrorIs(t, u1.d.SetChecks([]member.Check{{Name: "gw"}}), hakit.ErrConfig)
		u1.d.SetPriority(100)
		synctest.Wait()
		st = u1.d.Status()
		require.Equal(t, uint8(100), st.Priority)
		require.Equal(t, uint8(50), st.Effective)
		require.Len(t, u1.rec.eventsOf(member.EventPriority), 1)
	})
}
