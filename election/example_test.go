package election_test

import (
	"fmt"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
)

// Choosing a primary among three candidates, with the reason in words.
func ExampleOrder_Select() {
	o := election.Order{AgeMargin: 5 * time.Minute}
	s := o.Select([]election.Candidate{
		{Unit: 1, Role: hakit.Secondary, Priority: 200, Monitored: 2, InSync: true, Age: time.Hour},
		{Unit: 2, Role: hakit.Secondary, Priority: 100, Monitored: 3, InSync: true, Age: time.Hour},
		{Unit: 3, Role: hakit.Secondary, Priority: 100, Monitored: 3, InSync: true, Age: 2 * time.Hour},
	})
	fmt.Println(s.Reason())
	fmt.Println(units(o.Rank([]election.Candidate{s.Winner, s.RunnerUp})))
	// Output:
	// unit 3 selected: older by more than the 5m0s margin, 2h0m0s > 1h0m0s
	// [3 2]
}

func units(cs []election.Candidate) []uint16 {
	var u []uint16
	for _, c := range cs {
		u = append(u, c.Unit)
	}
	return u
}

// A two-unit election driven by hand: the caller carries each unit's
// candidate to the other (in real life, in the heartbeat payload) and ticks
// both machines every heartbeat interval.
func Example_twoUnits() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, _ := election.New(start, &election.Config{Unit: 1}) // zero fields: the defaults
	b, _ := election.New(start, &election.Config{Unit: 2})
	for _, m := range []*election.Machine{a, b} {
		m.Local(start, election.Status{Monitored: 2, InSync: true})
	}
	exchange := func(now time.Time) {
		ca, _ := a.Candidate(now).MarshalBinary()
		cb, _ := b.Candidate(now).MarshalBinary()
		_ = b.ObserveBinary(now, ca)
		_ = a.ObserveBinary(now, cb)
		for _, m := range []*election.Machine{a, b} {
			if out := m.Tick(now); out.Changed {
				fmt.Printf("%v unit %d: %v (%s)\n", now.Sub(start), m.Candidate(now).Unit, out.Role, out.Reason)
			}
		}
	}
	now := start
	for range 10 { // one second of heartbeats every 100 ms
		now = now.Add(100 * time.Millisecond)
		exchange(now)
	}

	// Unit 1 loses a monitored interface: it steps down at once and unit 2
	// takes over when it hears that, at the next heartbeat.
	a.Local(now, election.Status{Monitored: 1, InSync: true})
	exchange(now)
	now = now.Add(100 * time.Millisecond)
	exchange(now)
	now = now.Add(100 * time.Millisecond)
	exchange(now)

	// Then unit 2 stops sending: the heartbeat layer declares it lost.
	now = now.Add(800 * time.Millisecond)
	a.PeerLost(now, 2)
	out := a.Tick(now)
	fmt.Printf("%v unit 1: %v (%s)\n", now.Sub(start), out.Role, out.Reason)
	// Output:
	// 800ms unit 1: primary (no primary: unit 1 selected: lower unit ID, 1 < 2, all else equal)
	// 800ms unit 2: secondary (no primary: unit 1 selected: lower unit ID, 1 < 2, all else equal)
	// 1s unit 1: secondary (failover: unit 2 selected: more monitored interfaces up, 2 > 1)
	// 1.1s unit 2: primary (no primary: unit 2 selected: more monitored interfaces up, 2 > 1)
	// 2s unit 1: primary (primary unit 2 lost: unit 1 selected: only candidate)
}
