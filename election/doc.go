// Package election decides which unit of a cluster is primary: a
// deterministic order over candidates, negotiation among any number of
// units, failover on unit and link failure, preemption with a delay and a
// hold-down, split-brain detection and resolution, and planned handover.
//
// It does not import the heartbeat package. The caller carries each unit's
// Candidate (CandidateLen bytes) in the payload of its heartbeats and feeds
// the Machine plain values derived from the heartbeat layer's reports:
//
//	m, err := election.New(now, cfg)
//	for {
//		select {
//		case hb := <-heartbeats: // a peer's heartbeat, in order
//			m.ObserveBinary(hb.Time, hb.Payload)
//		case u := <-lost: // the heartbeat layer declared a peer lost
//			m.PeerLost(now, u)
//		case v := <-verdicts: // EIFD verdicts
//			m.Verdict(now, v)
//		case s := <-status: // monitored interfaces up, bulk sync done
//			m.Local(now, s)
//		case <-ticker.C: // every cfg.Interval
//		}
//		out := m.Tick(now)
//		if out.Changed { ... take over or release ... }
//		if out.ReAnnounce { ... send gratuitous ARP again ... }
//		if out.Send { ... send a heartbeat now ... }
//		payload = m.AppendCandidate(payload[:0], now)
//	}
//
// The Machine is pure: time is an argument, and it reads no clock, starts
// no goroutine and sends nothing. Driver runs one on a Clock.
package election
