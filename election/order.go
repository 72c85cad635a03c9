package election

import (
	"fmt"
	"time"
)

// Rule is one criterion of the order, named in every selection's reason.
type Rule uint8

// The rules, in the default order. With Override, RulePriority comes before
// RuleAge.
const (
	// RuleNone: there was only one candidate.
	RuleNone Rule = iota
	// RuleHealthy: a unit that is not Degraded (no local interface
	// malfunction, witness reachable, not deposed by a peer) wins.
	RuleHealthy
	// RuleAvailable: a unit that is not in Maintenance wins.
	RuleAvailable
	// RuleMonitored: more monitored interfaces up (or a higher weight sum)
	// wins.
	RuleMonitored
	// RuleInSync: a unit whose session table is in sync wins.
	RuleInSync
	// RuleAge: an older unit wins, if it is older by more than the margin.
	RuleAge
	// RuleTenure: among primaries settling a split brain, the one that has
	// held the role longer wins, if longer by more than the margin.
	RuleTenure
	// RulePriority: a higher priority wins.
	RulePriority
	// RuleUnit: the lower unit ID wins (the last tie-break).
	RuleUnit
	// RuleRunning: among primaries settling a split brain, one that kept
	// running wins over one that has just resumed from a stall (Resumed).
	RuleRunning
)

// String returns the rule in words, as used in reasons.
func (r Rule) String() string {
	switch r {
	case RuleNone:
		return "only candidate"
	case RuleHealthy:
		return "no interface malfunction"
	case RuleAvailable:
		return "not in maintenance"
	case RuleMonitored:
		return "more monitored interfaces up"
	case RuleInSync:
		return "session table in sync"
	case RuleAge:
		return "older"
	case RuleTenure:
		return "primary for longer"
	case RulePriority:
		return "higher priority"
	case RuleUnit:
		return "lower unit ID"
	case RuleRunning:
		return "kept running"
	}
	return fmt.Sprintf("Rule(%d)", uint8(r))
}

// Order is the deterministic order over candidates that every unit applies
// to the same set and so reaches the same answer.
//
// It is applied as a sequence of filters over the candidate set, FortiGate
// style. Each filter keeps the candidates that are best on one criterion:
//
//  1. healthy: not Degraded
//  2. available: not in Maintenance
//  3. the most monitored interfaces up (Monitored)
//  4. in sync (InSync)
//  5. the oldest, and every candidate no more than AgeMargin younger than it
//  6. the highest Priority
//  7. the lowest Unit ID
//
// With Override, filter 6 (priority) runs before filter 5 (age), so a
// higher-priority unit wins over an older one.
//
// For two candidates the age filter means "ages within the margin count as
// equal". Because that relation is not transitive, the order of a set is
// defined by the filters, not by comparing pairs: Rank selects the winner of
// the set, then the winner of the rest, and so on. Every unit that sees the
// same candidates gets the same ranking. Compare(a, b) is Rank of {a, b}.
type Order struct {
	// Override puts priority before age (FortiGate's "override").
	Override bool
	// AgeMargin is the age difference below which two units count as
	// equally old. Zero means only the oldest survives the age filter.
	AgeMargin time.Duration
	// SplitBrain selects the order that settles a split brain among units
	// claiming primary: after the health filters (1-4), a unit that kept
	// running before one that has just resumed from a stall, then age,
	// then Tenure (both with AgeMargin), then priority and unit ID;
	// Override does not apply. A link failure or a restart resets a unit's age, and a unit
	// that went active only during a partition has the shorter tenure, so
	// the unit that had the trouble stands down, and a unit whose heartbeat
	// link flaps cannot take the role at every flap.
	SplitBrain bool
	// IgnoreAge skips the age and tenure filters. Both are estimated from
	// heartbeat arrival times, so two units may disagree about a difference
	// within a transit time of the margin, while every other criterion reads
	// the same on every unit; the negotiation falls back to it when a
	// decision does not settle.
	IgnoreAge bool
}

var (
	rulesDefault    = []Rule{RuleHealthy, RuleAvailable, RuleMonitored, RuleInSync, RuleAge, RulePriority, RuleUnit}
	rulesOverride   = []Rule{RuleHealthy, RuleAvailable, RuleMonitored, RuleInSync, RulePriority, RuleAge, RuleUnit}
	rulesSplit      = []Rule{RuleHealthy, RuleAvailable, RuleMonitored, RuleInSync, RuleRunning, RuleAge, RuleTenure, RulePriority, RuleUnit}
	rulesNoAge      = []Rule{RuleHealthy, RuleAvailable, RuleMonitored, RuleInSync, RulePriority, RuleUnit}
	rulesSplitNoAge = []Rule{RuleHealthy, RuleAvailable, RuleMonitored, RuleInSync, RuleRunning, RulePriority, RuleUnit}
)

func (o Order) rules() []Rule {
	switch {
	case o.IgnoreAge && o.SplitBrain:
		return rulesSplitNoAge
	case o.IgnoreAge:
		return rulesNoAge
	case o.SplitBrain:
		return rulesSplit
	case o.Override:
		return rulesOverride
	}
	return rulesDefault
}

// Selection is the outcome of choosing the best of a set of candidates, with
// the runner-up and the rule that separated them.
type Selection struct {
	// Winner is the best candidate. Its Unit is 0 if the set was empty.
	Winner Candidate
	// RunnerUp is the second best, valid only when Rule is not RuleNone.
	RunnerUp Candidate
	// Rule is the criterion on which the runner-up lost to the winner;
	// RuleNone if the set had one candidate.
	Rule Rule
	// AgeMargin is the margin that applied, for the reason text.
	AgeMargin time.Duration
}

// Reason returns the selection in words, for example
// "unit 2 selected: more monitored interfaces up, 3 > 2".
func (s Selection) Reason() string {
	w, r := s.Winner, s.RunnerUp
	if w.Unit == 0 {
		return "no candidate"
	}
	head := fmt.Sprintf("unit %d selected: %s", w.Unit, s.Rule)
	switch s.Rule {
	case RuleHealthy:
		return fmt.Sprintf("%s, unit %d is degraded", head, r.Unit)
	case RuleAvailable:
		return fmt.Sprintf("%s, unit %d is", head, r.Unit)
	case RuleMonitored:
		return fmt.Sprintf("%s, %d > %d", head, w.Monitored, r.Monitored)
	case RuleInSync:
		return fmt.Sprintf("%s, unit %d's is not", head, r.Unit)
	case RuleRunning:
		return fmt.Sprintf("%s, unit %d has just resumed from a stall", head, r.Unit)
	case RuleAge:
		return fmt.Sprintf("%s by more than the %v margin, %v > %v", head, s.AgeMargin,
			w.Age.Truncate(time.Second), r.Age.Truncate(time.Second))
	case RuleTenure:
		return fmt.Sprintf("%s by more than the %v margin, %v > %v", head, s.AgeMargin,
			w.Tenure.Truncate(time.Second), r.Tenure.Truncate(time.Second))
	case RulePriority:
		return fmt.Sprintf("%s, %d > %d", head, w.Priority, r.Priority)
	case RuleUnit:
		return fmt.Sprintf("%s, %d < %d, all else equal", head, w.Unit, r.Unit)
	}
	return head
}

// Select returns the best of cands, the runner-up and the rule that
// separated them. It does not modify cands and does not allocate for up to
// 16 candidates.
func (o Order) Select(cands []Candidate) Selection {
	s := Selection{AgeMargin: o.AgeMargin}
	switch len(cands) {
	case 0:
		return s
	case 1:
		s.Winner = cands[0]
		return s
	}
	var buf [16]int
	idx := buf[:0]
	for i := range cands {
		idx = append(idx, i)
	}
	w := o.best(cands, idx, nil)
	rest := idx[:0]
	for i := range cands {
		if i != w {
			rest = append(rest, i)
		}
	}
	r := o.best(cands, rest, nil)
	var rbuf [16]int
	all := rbuf[:0]
	for i := range cands {
		all = append(all, i)
	}
	var rule Rule
	o.best(cands, all, func(i int, at Rule) {
		if i == r {
			rule = at
		}
	})
	s.Winner, s.RunnerUp, s.Rule = cands[w], cands[r], rule
	return s
}

// Compare returns the selection between a and b: Select of {a, b}.
func (o Order) Compare(a, b Candidate) Selection {
	return o.Select([]Candidate{a, b})
}

// Rank returns cands from best to worst: the winner of the set, then the
// winner of the rest, and so on.
func (o Order) Rank(cands []Candidate) []Candidate {
	out := make([]Candidate, 0, len(cands))
	idx := make([]int, len(cands))
	for i := range idx {
		idx[i] = i
	}
	for len(idx) > 0 {
		w := o.best(cands, append([]int(nil), idx...), nil)
		out = append(out, cands[w])
		for j, i := range idx {
			if i == w {
				idx = append(idx[:j], idx[j+1:]...)
				break
			}
		}
	}
	return out
}

// best runs the filters over cands[idx...] (idx is reused as scratch) and
// returns the index of the winner; drop, when not nil, is told the rule at
// which each other candidate was filtered out.
func (o Order) best(cands []Candidate, idx []int, drop func(i int, at Rule)) int {
	keep := func(rule Rule, ok func(c Candidate) bool) {
		n := 0
		for _, i := range idx {
			if ok(cands[i]) {
				idx[n] = i
				n++
			} else if drop != nil {
				drop(i, rule)
			}
		}
		idx = idx[:n]
	}
	for _, rule := range o.rules() {
		if len(idx) == 1 {
			break
		}
		switch rule {
		case RuleHealthy:
			if anyOf(cands, idx, func(c Candidate) bool { return !c.Degraded }) {
				keep(rule, func(c Candidate) bool { return !c.Degraded })
			}
		case RuleAvailable:
			if anyOf(cands, idx, func(c Candidate) bool { return !c.Maintenance }) {
				keep(rule, func(c Candidate) bool { return !c.Maintenance })
			}
		case RuleMonitored:
			m := cands[idx[0]].Monitored
			for _, i := range idx {
				m = max(m, cands[i].Monitored)
			}
			keep(rule, func(c Candidate) bool { return c.Monitored == m })
		case RuleInSync:
			if anyOf(cands, idx, func(c Candidate) bool { return c.InSync }) {
				keep(rule, func(c Candidate) bool { return c.InSync })
			}
		case RuleRunning:
			if anyOf(cands, idx, func(c Candidate) bool { return !c.Resumed }) {
				keep(rule, func(c Candidate) bool { return !c.Resumed })
			}
		case RuleAge:
			a := cands[idx[0]].Age
			for _, i := range idx {
				a = max(a, cands[i].Age)
			}
			keep(rule, func(c Candidate) bool { return c.Age >= a-o.AgeMargin })
		case RuleTenure:
			a := cands[idx[0]].Tenure
			for _, i := range idx {
				a = max(a, cands[i].Tenure)
			}
			keep(rule, func(c Candidate) bool { return c.Tenure >= a-o.AgeMargin })
		case RulePriority:
			p := cands[idx[0]].Priority
			for _, i := range idx {
				p = max(p, cands[i].Priority)
			}
			keep(rule, func(c Candidate) bool { return c.Priority == p })
		case RuleUnit:
			u := cands[idx[0]].Unit
			for _, i := range idx {
				u = min(u, cands[i].Unit)
			}
			first := true
			keep(rule, func(c Candidate) bool {
				// Unit IDs are unique in a cluster; if two collide anyway the
				// first keeps the answer deterministic.
				ok := c.Unit == u && first
				if ok {
					first = false
				}
				return ok
			})
		}
	}
	return idx[0]
}

func anyOf(cands []Candidate, idx []int, f func(Candidate) bool) bool {
	for _, i := range idx {
		if f(cands[i]) {
			return true
		}
	}
	return false
}
