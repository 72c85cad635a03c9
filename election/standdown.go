package election

import (
	"time"

	"github.com/hakit/hakit"
)

// StandDown makes a primary become secondary at the next Tick, with cause
// and reason as the role change's: the caller knows something the
// election does not see, such as a unit cut off from its peers whose
// witness lease has lapsed (package election/witness, CauseWitness). A
// zero cause is CauseStandDown. A unit that is not primary ignores it; one
// that should not become primary again right away also needs
// Witness(now, false).
func (m *Machine) StandDown(now time.Time, cause Cause, reason string) {
	if m.role != hakit.Primary {
		return
	}
	if reason == "" {
		reason = "told to stand down"
	}
	if cause == 0 {
		cause = CauseStandDown
	}
	m.standDown, m.standCause = reason, cause
}
