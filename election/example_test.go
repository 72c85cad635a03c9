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

// heartbeat is a peer's heartbeat as the caller's heartbeat layer hands it
// over: its arrival time and its payload, the peer's candidate.
type heartbeat struct {
	Time    time.Time
	Payload []byte
}

// The caller's loop around a Machine: inputs arrive on channels (here fed
// one at a time by a simulated peer, unit 2, which dies at 2 s), the Machine
// ticks after each and every interval, and the caller acts on the Output and
// puts the candidate in its own heartbeats.
func ExampleMachine() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	heartbeats, lost := make(chan heartbeat, 1), make(chan uint16, 1)
	verdicts, status := make(chan election.Verdict, 1), make(chan election.Status, 1)
	witness := make(chan bool, 1)
	peer, _ := election.New(start, &election.Config{Unit: 2, Priority: 200})
	peer.Local(start, election.Status{Monitored: 2, InSync: true})
	var payload []byte
	sendNow := func([]byte) {}
	network := func(now time.Time) { // one input at a time: this unit's status, then unit 2's heartbeats
		switch {
		case now.Equal(start):
			status <- election.Status{Monitored: 2, InSync: true}
		case now.Before(start.Add(2 * time.Second)):
			_ = peer.ObserveBinary(now, payload)
			peer.Tick(now)
			heartbeats <- heartbeat{now, peer.AppendCandidate(nil, now)}
		case now.Equal(start.Add(2800 * time.Millisecond)): // 0.8 s of silence
			lost <- 2
		}
	}

	m, err := election.New(start, &election.Config{Unit: 1})
	if err != nil {
		panic(err)
	}
	for now := start; now.Before(start.Add(4 * time.Second)); now = now.Add(100 * time.Millisecond) {
		network(now)
		select {
		case hb := <-heartbeats: // a peer's newest candidate (heartbeat.Heard)
			_ = m.ObserveBinary(hb.Time, hb.Payload)
		case u := <-lost: // the heartbeat layer declared a peer lost
			m.PeerLost(now, u)
		case v := <-verdicts: // EIFD verdicts
			_ = m.Verdict(now, v)
		case s := <-status: // monitored interfaces up, session table in sync
			m.Local(now, s)
		case ok := <-witness: // the outside witness's answer, if there is one
			m.Witness(now, ok)
		default: // the interval's tick
		}
		out := m.Tick(now)
		if out.Changed && out.Role == hakit.Primary {
			fmt.Printf("%v: take over (%s)\n", now.Sub(start), out.Reason) // commit, addresses, announce
		}
		if out.Changed && out.Role != hakit.Primary {
			fmt.Printf("%v: %v (%s)\n", now.Sub(start), out.Role, out.Reason) // release them
		}
		if out.ReAnnounce {
			fmt.Println("announce the addresses again")
		}
		payload = m.AppendCandidate(payload[:0], now) // in every heartbeat
		if out.Send {
			sendNow(payload) // a heartbeat now, not at the next interval
		}
	}
	// Output:
	// 800ms: secondary (unit 2 is primary)
	// 2.8s: take over (primary unit 2 lost: unit 1 selected: only candidate)
}
