package election

import "fmt"

// Cause says why a unit's role changed, as a value for programs (metrics,
// hooks, tests); the role change's Reason says the same in words for
// people, with the detail (which unit, which rule). The zero value is no
// cause.
type Cause uint8

// The causes of a role change.
const (
	// CauseElection: no primary was heard and the order chose, or a unit
	// starting up found nobody better (the cluster's first election), or
	// a role source ran its own (VRRP's Master election, election/member).
	CauseElection Cause = iota + 1
	// CausePeerLost: the primary was lost (its heartbeats stopped) and
	// the order chose its successor.
	CausePeerLost
	// CauseInterfaceFault: an interface malfunction verdict against the
	// primary (this unit's, or a peer's against it) moved the role.
	CauseInterfaceFault
	// CauseLocalFault: this primary became worse than a peer (degraded,
	// fewer monitored interfaces up) and failed over.
	CauseLocalFault
	// CauseSplitBrain: two primaries met and one stood down.
	CauseSplitBrain
	// CausePeerPrimary: another unit already holds the role.
	CausePeerPrimary
	// CauseHandover: a planned handover, or a unit reclaiming the role.
	CauseHandover
	// CausePreempt: a better unit took the role back (preemption).
	CausePreempt
	// CauseWitness: the witness kept this unit from the role, or its lease
	// lapsed (see StandDown).
	CauseWitness
	// CauseStandDown: the caller told the primary to stand down
	// (StandDown) for a reason of its own.
	CauseStandDown
	// CauseCheck: a health check made the unit worse (set by the
	// composition that runs the checks, package election/member, where
	// the election saw a failover or a preemption).
	CauseCheck
)

// String returns the cause's name in snake case ("peer_lost"), as a
// metric label; "other" for the zero value.
func (c Cause) String() string {
	switch c {
	case 0:
		return "other"
	case CauseElection:
		return "election"
	case CausePeerLost:
		return "peer_lost"
	case CauseInterfaceFault:
		return "interface_fault"
	case CauseLocalFault:
		return "local_fault"
	case CauseSplitBrain:
		return "split_brain"
	case CausePeerPrimary:
		return "peer_primary"
	case CauseHandover:
		return "handover"
	case CausePreempt:
		return "preempt"
	case CauseWitness:
		return "witness"
	case CauseStandDown:
		return "stand_down"
	case CauseCheck:
		return "check"
	}
	return fmt.Sprintf("Cause(%d)", uint8(c))
}
