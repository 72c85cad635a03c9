package member

import (
	"fmt"
	"time"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// A unit whose own loop stalled (its process starved on a loaded machine,
// its VM paused, SIGSTOP) runs, when it resumes, the heartbeat timers that
// fired late before it reads the heartbeats that waited in its sockets
// meanwhile: it may declare a live peer down, or its own interface broken,
// at once, and a standby would take over from a primary that never
// stopped (a split brain of its own making, and role changes on both
// units). So the verdicts and peer losses reported while the unit has just
// resumed (election.Candidate.Resumed, or a Report a stall after the last
// Tick) wait until that window ends; each is applied then only if the
// heartbeats still show it: a peer still silent is lost, a fault still
// reported is one. A peer that really died during the stall is lost at
// most the resume window (the detection time) later.
type held struct {
	since    time.Time
	verdicts []heldVerdict
	lost     map[uint16]bool
}

type heldVerdict struct {
	v     election.Verdict
	peer  uint16
	state heartbeat.State // the report's state, which must still hold
}

// holdAfterStall keeps what report r asks of the election (in) for later
// when the unit has just resumed from a stall; it reports whether it did.
func (m *Machine) holdAfterStall(now time.Time, r heartbeat.Report, in inputs) bool {
	if len(in.verdicts) == 0 && !in.lost {
		return false
	}
	if m.held == nil && now.Sub(m.lastTick) <= m.cfg.stall && !m.el.Candidate(now).Resumed {
		return false
	}
	if m.held == nil {
		m.held = &held{since: now, lost: map[uint16]bool{}}
	}
	for _, v := range in.verdicts {
		m.held.verdicts = append(m.held.verdicts, heldVerdict{v: v, peer: r.Peer, state: r.State})
	}
	if in.lost {
		m.held.lost[in.peer] = true
	}
	return true
}

// releaseAfterStall applies, once the resume window has ended, the held
// verdicts and losses that the heartbeats still show.
func (m *Machine) releaseAfterStall(now time.Time) {
	h := m.held
	if h == nil || now.Sub(m.lastTick) > m.cfg.stall || m.el.Candidate(now).Resumed {
		return
	}
	m.held = nil
	applied, dropped := 0, 0
	for _, hv := range h.verdicts {
		if m.tr.state(hv.peer, hv.v.Interface) != hv.state {
			dropped++
			continue
		}
		_ = m.el.Verdict(now, hv.v) // refusals are counted by the election
		applied++
		m.faultAt = now
	}
	for peer := range h.lost {
		if m.tr.reachable(peer) {
			dropped++
			continue
		}
		m.el.PeerLost(now, peer)
		applied++
		m.faultAt = now
	}
	m.log.Info(fmt.Sprintf("member: after this unit's own stall, %d heartbeat verdicts held for %v: %d still shown by the heartbeats and applied, %d disproved",
		applied+dropped, now.Sub(h.since).Round(time.Millisecond), applied, dropped))
}
