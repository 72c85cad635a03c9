package main

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deadInterval is how long the default heartbeat settings take at most to
// declare a silent peer lost: 2 missed heartbeats and the 0.6 s probe
// window.
const deadInterval = 800 * time.Millisecond

// roleChanges reads u's election role-change counter.
func roleChanges(t testing.TB, u *unit) uint64 {
	t.Helper()
	s, err := statusOf(u)
	require.NoError(t, err)
	return s.Counters.Member.Election.RoleChanges
}

// TestE2EFrozenPrimary needs root: the primary's daemon is frozen
// (SIGSTOP) for 2, 5 and 20 times the dead interval while its kernel goes
// on forwarding; the standby takes over and a new TCP stream is opened
// through it during the freeze. When the frozen daemon resumes (SIGCONT)
// it notices that its own loop stalled and stands down: every stream goes
// on, exactly one unit is primary, and the resume changes at most one role
// (the frozen unit's). The rounds alternate the frozen unit on one bed.
func TestE2EFrozenPrimary(t *testing.T) {
	p := newPair(t)
	streams := []*stream{p.established()}
	primary, standby := p.a, p.b
	for i, times := range []int{2, 5, 20} {
		freeze := time.Duration(times) * deadInterval
		what := fmt.Sprintf("%s frozen for %v (%d× the dead interval)", primary.name, freeze, times)
		for _, st := range streams {
			st.resetGap()
		}
		before := roleChanges(t, primary)
		require.NoError(t, primary.cmd.Process.Signal(syscall.SIGSTOP))
		frozen := time.Now()
		p.waitStatus(standby, "primary during the freeze", func(s Status) bool { return s.Role == "primary" && s.Active })
		streams = append(streams, p.startStreamTo(netip.AddrPortFrom(serverAddr.Addr(), uint16(8081+i))))
		for _, st := range streams {
			p.flowing(st, 100)
		}
		atResume := roleChanges(t, standby)
		time.Sleep(time.Until(frozen.Add(freeze)))
		require.NoError(t, primary.cmd.Process.Signal(syscall.SIGCONT))
		p.waitStatus(primary, "stood down after the resume", func(s Status) bool { return s.Role == "secondary" && !s.Active })
		time.Sleep(time.Second) // long enough for any further role change
		sp, err := statusOf(primary)
		require.NoError(t, err)
		ss, err := statusOf(standby)
		require.NoError(t, err)
		require.True(t, ss.Active && ss.Role == "primary", "%s: the unit that kept running stays primary: %+v", what, ss.RoleLog)
		require.False(t, sp.Active, "%s: exactly one primary", what)
		require.NotZero(t, sp.Counters.Member.Election.Stalls, "%s: the frozen unit noticed its stall", what)
		changes := sp.Counters.Member.Election.RoleChanges - before + ss.Counters.Member.Election.RoleChanges - atResume
		require.LessOrEqual(t, changes, uint64(1), "%s: role changes after the resume: %v / %v", what, sp.RoleLog, ss.RoleLog)
		p.t.Cleanup(func() {
			if t.Failed() {
				t.Logf("bridge c: %+v\nbridge s: %+v", p.c.FDB(), p.s.FDB())
				for _, u := range []*unit{p.a, p.b} {
					out, _ := u.h.Run("conntrack", "-L", "-p", "tcp")
					links, _ := u.h.Run("ip", "-br", "link")
					t.Logf("%s:\n%s\n%s", u.name, out, links)
				}
			}
		})
		for j, st := range streams {
			t.Logf("%s: stream %d", what, j+1)
			p.flowing(st, 200)
			p.report(st, fmt.Sprintf("%s, stream %d", what, j+1))
		}
		p.onlyForwarder(streams[0], standby)
		primary, standby = standby, primary
		p.waitStatus(standby, "in-sync secondary", func(s Status) bool {
			return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync && s.Sync.Sessions >= len(streams)
		})
	}
}
