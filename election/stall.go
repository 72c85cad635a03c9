package election

import (
	"fmt"
	"time"
)

// noticeStall checks the gap since the previous Tick. A unit whose loop
// stalled (its process stopped, its VM paused) sent no heartbeats for the
// whole gap: its peers may have declared it lost and elected another
// primary, which has run the cluster since. On resuming, the stalled unit
// must not displace that primary on the age or tenure it accrued while it
// was not running. So it treats the stall as the loss of contact it was
// for its peers: its age and tenure start again now, as after a link
// failure, and for the resume window (DetectTime: the split brain, if
// any, shows within an interval or two) it advertises Resumed, unless it
// becomes primary meanwhile (then it is the unit that runs the cluster). A split brain that follows is settled by
// RuleRunning before age and priority: the stalled unit ranks after the
// unit that kept running, on every unit's view since the flag travels in
// its own heartbeats, so both agree on the winner and the stalled unit
// stands down.
//
// A stall of a unit whose peers did not notice changes no role: the flag,
// age and tenure only settle split brains and, with preemption, who is
// better.
func (m *Machine) noticeStall(now time.Time) {
	gap, first := now.Sub(m.lastTick), m.lastTick.IsZero()
	m.lastTick = now
	if first || gap <= m.cfg.StallTime {
		return
	}
	m.counters.Stalls++
	m.start, m.roleSince, m.resumedAt = now, now, now
	m.event(now, Event{Kind: EventStalled,
		Reason: fmt.Sprintf("this unit's loop stalled for %v (more than %v): its age and tenure start again, as after losing contact", gap.Round(time.Millisecond), m.cfg.StallTime)})
}

// resumed reports whether the unit is in the resume window of a stall at
// now.
func (m *Machine) resumed(now time.Time) bool {
	return !m.resumedAt.IsZero() && now.Sub(m.resumedAt) < m.cfg.DetectTime
}

// settled reports whether this primary may stand down for unit, the winner
// of a split brain: once unit's claim has been heard in two heartbeat
// rounds. The first candidate a stalled unit sends when it resumes may
// have been made before it noticed its stall (its heartbeats and its Ticks
// run on timers of their own), so it lacks Resumed and carries the tenure
// of the stall; the next one, sent at once when the candidate changes,
// does not. Waiting for it costs one round and keeps both units agreeing.
func (m *Machine) settled(unit uint16) bool {
	p := m.peer(unit)
	return p == nil || p.claims >= 2
}
