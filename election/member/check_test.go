package member_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/internal/clock"
)

func checkMachine(t *testing.T, checks ...member.Check) *member.Machine {
	t.Helper()
	ec := election.DefaultConfig()
	ec.Unit, ec.Priority = 1, 120
	m, err := member.NewMachine(clock.Epoch, &member.MachineConfig{Election: ec, Links: []member.Link{{Name: "lan"}}, Checks: checks})
	require.NoError(t, err)
	return m
}

var errDown = errors.New("exit status 1")

// TestCheckDamping: the first result counts at once; after it a check
// fails after Fall failures in a row and passes after Rise passes, and
// every change is one EventCheck whose reason says what it did.
func TestCheckDamping(t *testing.T) {
	m := checkMachine(t, member.Check{Name: "gw", Weight: 20, Fall: 3, Rise: 2})
	now := clock.Epoch
	results := []struct {
		err       error
		effective uint8
		event     string
	}{
		{nil, 120, ""},
		{errDown, 120, ""},
		{errDown, 120, ""},
		{nil, 120, ""}, // the streak starts again
		{errDown, 120, ""},
		{errDown, 120, ""},
		{errDown, 100, "check gw failed 3 times: exit status 1: priority 120 -> 100"},
		{errDown, 100, ""},
		{nil, 100, ""},
		{errDown, 100, ""},
		{nil, 100, ""},
		{nil, 120, "check gw passed 2 times: priority 100 -> 120"},
	}
	for i, r := range results {
		now = now.Add(time.Second)
		require.NoError(t, m.CheckResult(now, "gw", r.err))
		out := m.Tick(now)
		var got string
		for _, e := range out.Events {
			if e.Kind == member.EventCheck {
				require.Empty(t, got, "result %d: one event", i)
				got = e.Reason
				require.Equal(t, r.err != nil, e.Failing)
			}
		}
		require.Equal(t, r.event, got, "result %d", i)
		require.Equal(t, r.effective, m.Candidate(now).Priority, "result %d", i)
		require.Equal(t, r.effective, m.Status(now).Effective, "result %d", i)
		require.Equal(t, uint8(120), m.Status(now).Priority)
	}
	st := m.Checks()
	require.Len(t, st, 1)
	require.Equal(t, uint64(len(results)), st[0].Runs)
	require.Equal(t, uint64(7), st[0].Failures)
	require.False(t, st[0].Failing)
	require.Error(t, m.CheckResult(now, "nope", nil))
}

// TestCheckFirstResult: a check that fails from the start counts at once.
func TestCheckFirstResult(t *testing.T) {
	m := checkMachine(t, member.Check{Name: "gw", Weight: 30})
	require.NoError(t, m.CheckResult(clock.Epoch, "gw", errDown))
	require.Equal(t, uint8(90), m.Candidate(clock.Epoch).Priority)
}

// TestCheckFault: a failing check without weight makes the unit
// ineligible (degraded); it is eligible again once the check passes, and
// the effective priority never falls below 1.
func TestCheckFault(t *testing.T) {
	m := checkMachine(t, member.Check{Name: "proc", Fall: 1, Rise: 1}, member.Check{Name: "big", Weight: 200, Fall: 1, Rise: 1})
	now := clock.Epoch
	require.NoError(t, m.CheckResult(now, "proc", errDown))
	require.NoError(t, m.CheckResult(now, "big", errDown))
	c := m.Candidate(now)
	require.True(t, c.Degraded)
	require.Equal(t, uint8(1), c.Priority)
	out := m.Tick(now)
	var why []string
	for _, e := range out.Events {
		if e.Kind == member.EventCheck {
			why = append(why, e.Reason)
		}
	}
	require.Equal(t, []string{"check proc failed once: exit status 1: this unit is not eligible",
		"check big failed once: exit status 1: priority 120 -> 1"}, why)
	require.NoError(t, m.CheckResult(now, "proc", nil))
	require.False(t, m.Candidate(now).Degraded)
}

// TestCheckSetPriorityAndChecks: a reloaded priority keeps the failing
// checks' weights off; replacing the checks keeps the state of those kept
// by name and drops the effect of those removed.
func TestCheckSetPriorityAndChecks(t *testing.T) {
	m := checkMachine(t, member.Check{Name: "gw", Weight: 20}, member.Check{Name: "proc"})
	now := clock.Epoch
	require.NoError(t, m.CheckResult(now, "gw", errDown))
	require.NoError(t, m.CheckResult(now, "proc", errDown))
	m.SetPriority(now, 150)
	require.Equal(t, uint8(130), m.Candidate(now).Priority)
	require.Equal(t, uint8(150), m.Status(now).Priority)
	require.True(t, m.Candidate(now).Degraded)

	require.NoError(t, m.SetChecks(now, []member.Check{{Name: "gw", Weight: 40}, {Name: "new"}}))
	c := m.Candidate(now)
	require.Equal(t, uint8(110), c.Priority, "gw still failing, with its new weight")
	require.False(t, c.Degraded, "proc removed, and new has no result yet")
	st := m.Checks()
	require.Equal(t, []string{"gw", "new"}, []string{st[0].Name, st[1].Name})
	require.True(t, st[0].Failing)
	require.False(t, st[1].Known)

	require.ErrorIs(t, m.SetChecks(now, []member.Check{{Name: "a"}, {Name: "a"}}), hakit.ErrConfig)
	require.Equal(t, uint8(110), m.Candidate(now).Priority, "a refused set changes nothing")
}

// TestCheckStandDownReason: a primary that a failing check demotes says so
// in its role change.
func TestCheckStandDownReason(t *testing.T) {
	b := newBench(t, 1, 2)
	for _, u := range b.units {
		require.NoError(t, u.m.SetChecks(b.now, []member.Check{{Name: "gw-ping", Fall: 1}}))
	}
	b.run(3 * time.Second)
	u1 := b.units[0]
	require.Equal(t, hakit.Primary, u1.role)
	require.NoError(t, u1.m.CheckResult(b.now, "gw-ping", errors.New("no reply from 198.18.0.254")))
	b.run(time.Second)
	require.Equal(t, hakit.Secondary, u1.role)
	require.Equal(t, hakit.Primary, b.units[1].role)
	var change member.Event
	for _, e := range u1.events {
		if e.Kind == member.EventRoleChange && e.To == hakit.Secondary {
			change = e
		}
	}
	require.Equal(t, election.CauseCheck, change.Cause)
	require.True(t, strings.HasPrefix(change.Reason, "unit 1 stood down: check gw-ping failed once: no reply from 198.18.0.254: this unit is not eligible; failover: "), change.Reason)
	st := u1.m.Status(b.now)
	require.Equal(t, election.CauseCheck, st.Cause)
	require.Equal(t, change.Reason, st.Reason)
	// Unit 2 took over because unit 1 stood down: not a check of its own.
	for _, e := range b.units[1].events {
		if e.Kind == member.EventRoleChange && e.To == hakit.Primary {
			require.NotEqual(t, election.CauseCheck, e.Cause, e.Reason)
		}
	}
}

// TestCheckWeightStandDownReason: a weighted check that lowers a
// preempting cluster's primary below its peer moves the role, and the
// role change names the check.
func TestCheckWeightStandDownReason(t *testing.T) {
	b := newBench(t)
	for id := range uint16(2) {
		u := b.add(id+1, func(c *election.Config) {
			c.Preempt, c.Priority = true, 190-uint8(id)*10
			// The bench replicates nothing: the sync gate opens after SyncTimeout.
			c.PreemptDelay, c.HoldDown, c.SyncTimeout = time.Second, time.Second, time.Second
		})
		require.NoError(t, u.m.SetChecks(b.now, []member.Check{{Name: "gw-ping", Fall: 1, Weight: 50}}))
	}
	b.run(3 * time.Second)
	u1 := b.units[0]
	require.Equal(t, hakit.Primary, u1.role)
	require.NoError(t, u1.m.CheckResult(b.now, "gw-ping", errors.New("no reply")))
	b.run(10 * time.Second)
	require.Equal(t, hakit.Secondary, u1.role)
	var change member.Event
	for _, e := range u1.events {
		if e.Kind == member.EventRoleChange && e.To == hakit.Secondary {
			change = e
		}
	}
	require.Equal(t, election.CauseCheck, change.Cause, change.Reason)
	require.Contains(t, change.Reason, "unit 1 stood down: check gw-ping failed once: no reply: priority 190 -> 140; preempted: ")
}
