package member

import (
	"context"
	"fmt"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
)

// Check is a health check that moves the role: a script, a file, a
// process, an interface, a gateway that must answer (see the check
// package for the probes). Each result is damped: the check fails after
// Fall failures in a row and passes again after Rise passes in a row, so
// a flapping check does not flap the role. A failing check with a Weight
// lowers this unit's priority by it; one without makes the unit
// ineligible (it advertises itself degraded and a primary hands the role
// to a healthy unit at once). Zero fields take their defaults.
type Check struct {
	// Name names the check in events, logs and status (required, unique).
	Name string
	// Probe runs the check once: nil means it passed. It must return when
	// ctx ends (at Timeout); the Driver calls it every Interval, never two
	// at a time.
	Probe func(ctx context.Context) error
	// Interval is the pause between the end of one run and the start of
	// the next; zero means 1 s, as keepalived's scripts.
	Interval time.Duration
	// Timeout bounds one run; a run that times out failed. Zero means the
	// Interval.
	Timeout time.Duration
	// Fall is how many failures in a row make a passing check fail, Rise
	// how many passes in a row make a failing one pass; zero means 3, so
	// one lost ping or one slow run changes nothing. The first result
	// counts at once.
	Fall, Rise int
	// Weight is what a failing check takes off the priority (the
	// effective priority is at least 1); zero makes a failing check a
	// fault: the unit is ineligible while it fails. A lower priority moves
	// the role where priority decides the election (see
	// election.Machine.SetPriority): with preemption, as keepalived's
	// weighted tracking does.
	Weight uint8
}

// withDefaults returns a copy of c with its defaults applied.
func (c Check) withDefaults() Check {
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = c.Interval
	}
	if c.Fall == 0 {
		c.Fall = 3
	}
	if c.Rise == 0 {
		c.Rise = 3
	}
	return c
}

// validateChecks reports the first invalid check, wrapping hakit.ErrConfig.
// A Probe is required only where the checks are run (probes).
func validateChecks(cs []Check, probes bool) error {
	seen := map[string]bool{}
	for _, c := range cs {
		c = c.withDefaults()
		bad := func(what string, args ...any) error {
			return fmt.Errorf("member: config: check %q: %s: %w", c.Name, fmt.Sprintf(what, args...), hakit.ErrConfig)
		}
		switch {
		case c.Name == "":
			return bad("no name")
		case seen[c.Name]:
			return bad("given twice")
		case probes && c.Probe == nil:
			return bad("no probe")
		case c.Interval < 0 || c.Timeout < 0:
			return bad("negative interval %v or timeout %v", c.Interval, c.Timeout)
		case c.Fall < 0 || c.Rise < 0:
			return bad("negative fall %d or rise %d", c.Fall, c.Rise)
		}
		seen[c.Name] = true
	}
	return nil
}

// CheckStatus is one check's state.
type CheckStatus struct {
	// Name and Weight are the check's (Weight 0: a fault while failing).
	Name   string
	Weight uint8
	// Known reports that the check has a result; before its first, it
	// counts as passing.
	Known bool
	// Failing reports that the check fails (after Fall failures in a row),
	// Since when it last changed.
	Failing bool
	Since   time.Time
	// Streak counts the last results that disagree with the state (a
	// passing check's failures in a row, a failing check's passes).
	Streak int
	// LastErr is the last run's error ("" if it passed); Runs and Failures
	// count every run and every failed one.
	LastErr        string
	Runs, Failures uint64
}

// checkState is one check as the Machine tracks it.
type checkState struct {
	c Check
	CheckStatus
	why string // why it failed, while it fails
}

// checks is the Machine's check state: the configured priority and the
// state of every check.
type checks struct {
	base uint8
	list []*checkState
}

// cause says why the check that failed last, of those failing, made this
// unit worse ("" if none fails).
func (k *checks) cause() string {
	var last *checkState
	for _, s := range k.list {
		if s.Failing && (last == nil || !s.Since.Before(last.Since)) {
			last = s
		}
	}
	if last == nil {
		return ""
	}
	return last.why
}

// checkFault names a failing check's fault as the election tracks it:
// beside the interfaces' malfunctions, never one of their names.
func checkFault(name string) string { return "check " + name }

func newChecks(base uint8, cs []Check) *checks {
	k := &checks{base: base}
	for _, c := range cs {
		c = c.withDefaults()
		k.list = append(k.list, &checkState{c: c, CheckStatus: CheckStatus{Name: c.Name, Weight: c.Weight}})
	}
	return k
}

func (k *checks) find(name string) *checkState {
	for _, s := range k.list {
		if s.c.Name == name {
			return s
		}
	}
	return nil
}

// effective returns the priority after the weights of the failing checks.
func (k *checks) effective() uint8 {
	p := int(k.base)
	for _, s := range k.list {
		if s.Failing {
			p -= int(s.c.Weight)
		}
	}
	return uint8(max(p, 1))
}

// CheckResult records at now the result of one run of check name: nil
// passed. After Fall failures in a row a passing check fails (its weight
// comes off the priority, or without one the unit is ineligible); after
// Rise passes in a row a failing check passes again. Every change is
// reported as an EventCheck with the reason in words. It returns an
// error wrapping hakit.ErrConfig, and changes nothing, for a check that
// is not configured.
func (m *Machine) CheckResult(now time.Time, name string, result error) error {
	s := m.checks.find(name)
	if s == nil {
		return fmt.Errorf("member: result of check %q: not configured: %w", name, hakit.ErrConfig)
	}
	s.Runs++
	s.LastErr = ""
	failed := result != nil
	if failed {
		s.Failures++
		s.LastErr = result.Error()
	}
	first := !s.Known
	s.Known = true
	if failed == s.Failing {
		s.Streak = 0
		return nil
	}
	s.Streak++
	need := s.c.Fall
	if s.Failing {
		need = s.c.Rise
	}
	if !first && s.Streak < need {
		return nil
	}
	n := s.Streak
	s.Failing, s.Since, s.Streak = failed, now, 0
	m.checkChanged(now, s, n)
	return nil
}

// checkChanged applies a check's new state to the election and reports
// it.
func (m *Machine) checkChanged(now time.Time, s *checkState, n int) {
	times := "once"
	if n > 1 {
		times = fmt.Sprintf("%d times", n)
	}
	why := fmt.Sprintf("check %s passed %s", s.c.Name, times)
	if s.Failing {
		why = fmt.Sprintf("check %s failed %s: %s", s.c.Name, times, s.LastErr)
	}
	if s.c.Weight == 0 {
		v := election.Verdict{Kind: election.LocalRecovered, Interface: checkFault(s.c.Name)}
		effect := "no longer a fault"
		if s.Failing {
			v.Kind, effect = election.LocalMalfunction, "this unit is not eligible"
		}
		_ = m.el.Verdict(now, v) // local verdicts are always valid
		why += ": " + effect
	} else {
		from := m.el.Priority()
		to := m.checks.effective()
		m.el.SetPriority(now, to)
		why += fmt.Sprintf(": priority %d -> %d", from, to)
	}
	s.why = ""
	if s.Failing {
		s.why = why
	}
	m.event(now, Event{Kind: EventCheck, Check: s.c.Name, Failing: s.Failing, Reason: why})
}

// SetPriority changes the configured priority at now (a reloaded
// configuration): the effective priority is it less the weights of the
// failing checks. Zero means the default, 128.
func (m *Machine) SetPriority(now time.Time, p uint8) {
	if p == 0 {
		p = election.DefaultConfig().Priority
	}
	if p == m.checks.base {
		return
	}
	from := m.checks.base
	m.checks.base = p
	m.el.SetPriority(now, m.checks.effective())
	m.event(now, Event{Kind: EventPriority, Reason: fmt.Sprintf("configured priority %d -> %d, effective %d", from, p, m.el.Priority())})
}

// SetChecks replaces the checks at now (a reloaded configuration). A
// check kept by name keeps its state; a removed one takes its weight or
// its fault with it. Invalid checks return an error wrapping
// hakit.ErrConfig and change nothing.
func (m *Machine) SetChecks(now time.Time, cs []Check) error {
	if err := validateChecks(cs, false); err != nil {
		return err
	}
	old := m.checks
	k := newChecks(old.base, cs)
	for i, s := range k.list {
		if o := old.find(s.c.Name); o != nil {
			st := o.CheckStatus
			st.Weight = s.c.Weight
			k.list[i].CheckStatus, k.list[i].why = st, o.why
		}
	}
	for _, o := range old.list {
		if o.Failing && o.c.Weight == 0 {
			if s := k.find(o.c.Name); s == nil || s.c.Weight != 0 {
				_ = m.el.Verdict(now, election.Verdict{Kind: election.LocalRecovered, Interface: checkFault(o.c.Name)})
			}
		}
	}
	for _, s := range k.list {
		if s.Failing && s.c.Weight == 0 {
			_ = m.el.Verdict(now, election.Verdict{Kind: election.LocalMalfunction, Interface: checkFault(s.c.Name)})
		}
	}
	m.checks = k
	m.el.SetPriority(now, k.effective())
	return nil
}

// Checks returns the state of every check, in configuration order.
func (m *Machine) Checks() []CheckStatus {
	out := make([]CheckStatus, len(m.checks.list))
	for i, s := range m.checks.list {
		out[i] = s.CheckStatus
	}
	return out
}

// standDownReason names the check that made this unit worse, while that
// check still fails, in a failover or a preemption that took this unit
// from primary: the cause becomes CauseCheck and the reason "unit 1 stood
// down: check gw failed 3 times: …; preempted: unit 3 selected: …" (the
// election's words last).
func (m *Machine) standDownReason(from, to hakit.Role, cause election.Cause, reason string) (election.Cause, string) {
	why := m.checks.cause()
	if from != hakit.Primary || to == hakit.Primary || why == "" ||
		cause != election.CauseLocalFault && cause != election.CausePreempt {
		return cause, reason
	}
	return election.CauseCheck, fmt.Sprintf("unit %d stood down: %s; %s", m.cfg.Election.Unit, why, reason)
}
