package member

import (
	"fmt"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// EventKind says what an Event records. The zero value is invalid.
type EventKind uint8

// The events.
const (
	// EventRoleChange: this unit's role changed (From, To, Reason).
	EventRoleChange EventKind = iota + 1
	// EventHeartbeat: the heartbeats showed peer Peer in State on
	// Interface (Reason); a verdict (LocalFault, PeerFault, PeerDown) is
	// among them.
	EventHeartbeat
	// EventSplitBrain: this primary heard another primary, or learnt that
	// one stood down for it (Peer, Reason).
	EventSplitBrain
	// EventElection: another election event (Election says which; Peer,
	// Reason).
	EventElection
	// EventSync: the session table came in sync with the primary's, or
	// fell out of it (InSync).
	EventSync
	// EventStepFailed: Step's Up failed with Err; the steps before it are
	// taken down and the takeover is tried again after Retry.
	EventStepFailed
	// EventRolledBack: after Step failed, every step before it is down
	// again (Reason lists them).
	EventRolledBack
	// EventDownFailed: Step's Down failed with Err; the steps before it go
	// down all the same.
	EventDownFailed
	// EventReannounceFailed: Step's Reannounce failed with Err.
	EventReannounceFailed
	// EventTakeover: every step is up; Takeover holds the phases.
	EventTakeover
	// EventReleased: this unit is no longer primary and every step is
	// down again.
	EventReleased
	// EventDropped: a peer's heartbeat payload was dropped (Peer, Err); it
	// changed nothing.
	EventDropped
	// EventStep: Step's Action (Up, Down, Reannounce) succeeded.
	EventStep
	// EventCheck: health check Check started or stopped Failing (Reason
	// says how often and what it did to the priority or eligibility).
	EventCheck
	// EventPriority: the configured priority changed (Reason).
	EventPriority
	// EventWitness: what this unit does with the witness's status changed
	// (Reason, in words: WitnessStatus.Verdict).
	EventWitness
	// EventHandedBack: after a split brain this unit lost, the winner
	// (Peer) acknowledged this unit's sessions, or Err says why they were
	// not handed; the steps go down next.
	EventHandedBack
)

// String returns the event kind's name.
func (k EventKind) String() string {
	switch k {
	case EventRoleChange:
		return "role change"
	case EventHeartbeat:
		return "heartbeat"
	case EventSplitBrain:
		return "split brain"
	case EventElection:
		return "election"
	case EventSync:
		return "sync"
	case EventStepFailed:
		return "step failed"
	case EventRolledBack:
		return "rolled back"
	case EventDownFailed:
		return "step down failed"
	case EventReannounceFailed:
		return "re-announce failed"
	case EventTakeover:
		return "takeover complete"
	case EventReleased:
		return "released"
	case EventDropped:
		return "dropped"
	case EventStep:
		return "step"
	case EventCheck:
		return "check"
	case EventPriority:
		return "priority"
	case EventWitness:
		return "witness"
	case EventHandedBack:
		return "handed back"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something the unit did or noticed, with its time.
type Event struct {
	Time time.Time
	Kind EventKind
	// Peer is the peer involved, if any.
	Peer uint16
	// From and To are the roles of a role change, Cause why as a value
	// (for metrics and programs: the election's causes, and CauseCheck
	// when a health check moved the role).
	From, To hakit.Role
	Cause    election.Cause
	// Reason says why, in words.
	Reason string
	// Interface and State: a heartbeat report's.
	Interface string
	State     heartbeat.State
	// Election is the election's own kind of an EventElection.
	Election election.EventKind
	// InSync: an EventSync's new state.
	InSync bool
	// Step names the step of a step event, Action what was done with it;
	// Err is its error.
	Step   string
	Action Action
	Err    error
	// Retry is when a failed takeover is tried again.
	Retry time.Time
	// Takeover holds the phases of a completed takeover.
	Takeover *Takeover
	// Check names the check of an EventCheck, Failing its new state.
	Check   string
	Failing bool
}

// String returns the event in words.
func (e Event) String() string {
	s := e.Kind.String()
	switch e.Kind {
	case EventRoleChange:
		s += fmt.Sprintf(": %v -> %v", e.From, e.To)
	case EventHeartbeat:
		s += fmt.Sprintf(": unit %d on %s %v", e.Peer, e.Interface, e.State)
	case EventElection:
		s += ": " + e.Election.String()
	case EventSync:
		if e.InSync {
			s += ": in sync"
		} else {
			s += ": not in sync"
		}
	case EventStepFailed, EventDownFailed, EventReannounceFailed:
		s += fmt.Sprintf(": %s: %v", e.Step, e.Err)
	case EventStep:
		s += fmt.Sprintf(": %s %v", e.Step, e.Action)
	case EventTakeover:
		s += fmt.Sprintf(": %v", e.Takeover)
	case EventDropped:
		s += fmt.Sprintf(": unit %d: %v", e.Peer, e.Err)
	case EventHandedBack:
		s += fmt.Sprintf(": unit %d", e.Peer)
		if e.Err != nil {
			s += fmt.Sprintf(": %v", e.Err)
		}
	}
	if e.Reason != "" && (e.Kind != EventTakeover || e.Takeover == nil) { // a takeover's reason is its phases
		s += " (" + e.Reason + ")"
	}
	return s
}

// Takeover records the phases of one takeover: from the fault that made
// this unit primary to the last step up.
type Takeover struct {
	// Fault is when the heartbeat verdict or the peer loss that led to
	// this takeover was reported: the last one before the election made
	// this unit primary. It is zero when there was none since this unit's
	// previous role change (the cluster's first election, a planned
	// handover).
	Fault time.Time
	// Elected is when the election made this unit primary.
	Elected time.Time
	// Steps holds when each step came up, in order, in the attempt that
	// succeeded.
	Steps []StepTime
	// Announced is when the first step that announces (a Reannouncer) came
	// up: the network is being told. Zero when no step announces.
	Announced time.Time
	// Done is when the last step came up.
	Done time.Time
	// Attempts counts the attempts: 1 when no step failed.
	Attempts int
}

// StepTime is when a step came up.
type StepTime struct {
	Step string
	Done time.Time
}

// Phase is one phase of a takeover and how long it took.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Phases returns the takeover's consecutive phases: "election" (from the
// fault to the role change; absent without a fault), then each step's name
// (from the end of the previous phase to the step being up). Failed
// attempts fall into the first step's phase.
func (t Takeover) Phases() []Phase {
	var ps []Phase
	prev := t.Elected
	if !t.Fault.IsZero() {
		ps = append(ps, Phase{"election", t.Elected.Sub(t.Fault)})
	}
	for _, s := range t.Steps {
		ps = append(ps, Phase{s.Step, s.Done.Sub(prev)})
		prev = s.Done
	}
	return ps
}

// Total returns the time from the fault (or, without one, the election)
// to the last step up.
func (t Takeover) Total() time.Duration {
	if t.Fault.IsZero() {
		return t.Done.Sub(t.Elected)
	}
	return t.Done.Sub(t.Fault)
}

// String returns the phases in words.
func (t Takeover) String() string {
	s := fmt.Sprintf("%v in all", t.Total())
	for _, p := range t.Phases() {
		s += fmt.Sprintf(", %s %v", p.Name, p.Duration)
	}
	if t.Attempts > 1 {
		s += fmt.Sprintf(", %d attempts", t.Attempts)
	}
	return s
}

// Counters are the Machine's running totals.
type Counters struct {
	// Election holds the election's own counters.
	Election election.Counters
	// Takeovers counts takeovers completed (every step up).
	Takeovers uint64
	// StepFailures counts step Ups that failed (each rolled back and
	// retried).
	StepFailures uint64
	// DownFailures counts step Downs that failed.
	DownFailures uint64
	// Reannounces counts re-announcements after a split brain won, and
	// ReannounceFailures those that failed.
	Reannounces, ReannounceFailures uint64
	// Releases counts demotions completed (every step down).
	Releases uint64
	// DroppedPayload counts peers' heartbeat payloads that were not a
	// valid candidate.
	DroppedPayload uint64
	// DroppedWrongUnit counts peers' payloads whose candidate names
	// another unit than the heartbeat frame that carried it.
	DroppedWrongUnit uint64
	// Handbacks counts the hand-backs of this unit's sessions to the
	// winner of a split brain it lost that were acknowledged, and
	// HandbackTimeouts those that were not (the steps went down at the
	// bound, or the sessions could not be sent).
	Handbacks, HandbackTimeouts uint64
}
