package election

import "time"

// SetPriority changes this unit's priority at now, as a health check's
// weight or a reloaded configuration does: the candidate advertises it
// from the next heartbeat on, and the order uses it from the next Tick. A
// lower priority moves the role only where priority decides (ages within
// the margin, or Override) and, from a healthy primary, only with
// preemption: the better unit takes the role after PreemptDelay and
// HoldDown, as for any preemption. Zero means the default priority.
func (m *Machine) SetPriority(now time.Time, p uint8) {
	if p == 0 {
		p = DefaultConfig().Priority
	}
	m.cfg.Priority = p
}

// Priority returns the priority this unit advertises.
func (m *Machine) Priority() uint8 { return m.cfg.Priority }
