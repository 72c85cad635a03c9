// Package election decides which unit of a high-availability cluster is
// primary: a deterministic order over candidates, negotiation among any
// number of units, failover on unit and link failure, preemption with a
// delay and a hold-down, split-brain detection and resolution, and planned
// handover (FortiGate FGCP, NetDefendOS and Clavister behaviour).
//
// # Values in, values out
//
// The package does not import heartbeat. Each unit carries its Candidate
// (CandidateLen bytes, versioned) in the payload of every heartbeat, and the
// caller feeds a Machine plain values derived from the heartbeat layer's
// reports: a peer's candidate (Observe, ObserveBinary), a peer declared lost
// (PeerLost), Early Interface Failure Detection verdicts (Verdict), the
// local status (Local: monitored interfaces up, session table in sync) and
// the answer of an optional outside witness (Witness). Tick
// returns an Output: the role, whether it changed and why in words, a
// request to re-announce the addresses, a request to send a heartbeat now,
// and events. The Machine is pure: it takes time as an argument, reads no
// clock, starts no goroutine and sends nothing. Driver runs one on a Clock.
//
// # The caller's loop
//
// ExampleMachine runs this loop, with a simulated peer feeding the channels:
//
//	m, err := election.New(start, &election.Config{Unit: 1})
//	if err != nil {
//		panic(err)
//	}
//	for now := start; now.Before(start.Add(4 * time.Second)); now = now.Add(100 * time.Millisecond) {
//		network(now)
//		select {
//		case hb := <-heartbeats: // a peer's newest candidate (heartbeat.Heard)
//			_ = m.ObserveBinary(hb.Time, hb.Payload)
//		case u := <-lost: // the heartbeat layer declared a peer lost
//			m.PeerLost(now, u)
//		case v := <-verdicts: // EIFD verdicts
//			_ = m.Verdict(now, v)
//		case s := <-status: // monitored interfaces up, session table in sync
//			m.Local(now, s)
//		case ok := <-witness: // the outside witness's answer, if there is one
//			m.Witness(now, ok)
//		default: // the interval's tick
//		}
//		out := m.Tick(now)
//		if out.Changed && out.Role == hakit.Primary {
//			fmt.Printf("%v: take over (%s)\n", now.Sub(start), out.Reason) // commit, addresses, announce
//		}
//		if out.Changed && out.Role != hakit.Primary {
//			fmt.Printf("%v: %v (%s)\n", now.Sub(start), out.Role, out.Reason) // release them
//		}
//		if out.ReAnnounce {
//			fmt.Println("announce the addresses again")
//		}
//		payload = m.AppendCandidate(payload[:0], now) // in every heartbeat
//		if out.Send {
//			sendNow(payload) // a heartbeat now, not at the next interval
//		}
//	}
//
// # The order
//
// Order ranks candidates by filters: healthy (no interface malfunction,
// witness reachable, not deposed), not in maintenance, more monitored
// interfaces up, session table in sync, older (beyond AgeMargin), higher
// priority, lower unit ID. Override puts priority before age. Every
// Selection says why in words: "unit 2 selected: more monitored interfaces
// up, 3 > 2". A link failure (Monitored dropping) resets the unit's age, as
// on FortiGate, so the unit rejoins as a subordinate.
//
// # Negotiation
//
// Every unit applies the same rules to the same candidates, so units that
// hear each other agree. A unit becomes primary only when no unit it hears
// claims the role and it is the best candidate (or the designated successor
// of a handover). A primary steps down at once when another unit is better
// on health (a local interface malfunction, fewer monitored interfaces up):
// the others hear it in the next heartbeat (Output.Send asks for it at once)
// and the best takes over, so there is never a moment with two primaries and
// at most one heartbeat with none. A starting unit listens for InitialWait
// before it may claim the role; a subordinate's failure changes nobody's
// role. When the primary is lost, the best remaining unit takes over at its
// next Tick.
//
// Verdicts follow the Clavister manual: LocalMalfunction makes the unit degraded, which
// demotes it if it is primary; PeerMalfunction about the primary, received
// by a standby, deposes the primary (the standby advertises it, every unit
// treats the deposed unit as degraded, the best other unit takes over and
// the deposed one stands down when it hears that, so for up to one
// heartbeat both claim the role, one of them with a broken interface); about
// a unit that is not primary, it changes nothing.
//
// # Preemption
//
// With Preempt off a healthy primary keeps the role. With it on, a better
// unit takes the role only after it has been present and better for
// PreemptDelay, and only HoldDown after the primary took the role, so a
// flapping unit moves the role at most once per HoldDown. A unit whose bulk
// sync has not finished is not better until it is in sync, or until it has
// been present for SyncTimeout.
//
// # Handover
//
// A primary hands the role over (Handover for planned maintenance, a better
// unit with preemption, or a peer asking with Resume(now, true)) in three
// heartbeats: it advertises Yield to the successor; the successor advertises
// Ready; the primary steps down, still naming the successor (for
// HandoverTimeout); the successor takes over when it hears no primary. No
// unit but the successor claims the role meanwhile. If the successor does not get ready within
// HandoverTimeout, the primary keeps the role and tries again.
//
// # Split brain
//
// When units that stopped hearing each other (a failed sync link) hear each
// other again, a primary that hears another primary settles it at once by
// the split-brain order: health, then age and tenure with SplitAgeMargin
// (the unit that had a link failure or restarted, or that went active only
// during the partition, loses), then priority and unit ID. The loser stands
// down and names the winner for HandoverTimeout; the winner gets
// Output.ReAnnounce once the loser has stood down (even if the loser heard
// the winner first and the winner never heard it claim), so the switches
// learn its ports again. The outcome depends only on the
// candidates, so it is the same every time. An optional witness (for
// example "can I reach the gateway?", fed to Witness) keeps a unit that
// fails it from going active, so a two-unit partition need not mean two
// actives.
//
// # What the election needs from the heartbeat layer
//
// Candidates in order (drop heartbeats older than the last one, by sequence
// number), and a peer declared lost only when it is: under 20% random loss a
// peer silent for two or three intervals is almost always alive, and a lost
// verdict for the primary is a failover. The package's tests model the
// heartbeat layer with probes to the silent peer itself, their number scaled
// by the loss the link has shown, and see no role change in ten minutes at
// 20% loss on every port; plain counting of three misses moves the role
// hundreds of times.
//
// Bad input (candidate bytes that do not parse, a peer claiming this unit's
// ID, an invalid verdict) returns an error, is counted and reported as an
// event, and never changes a role. Contradictory configuration is rejected
// by Config.Validate.
package election
