package member

import (
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// Status is what a unit knows of itself and its peers at one moment.
type Status struct {
	// Unit is this unit's ID and Priority its configured priority;
	// Effective is the priority it advertises, after the weights of the
	// failing checks.
	Unit      uint16
	Priority  uint8
	Effective uint8
	// Role is the current role, Reason why it was taken (Cause: the same
	// as a value) and Since when.
	Role   hakit.Role
	Reason string
	Cause  election.Cause
	Since  time.Time
	// LinksUp is the number of monitored interfaces up.
	LinksUp uint16
	// InSync reports that the session table is the primary's (always true
	// on the primary and without session sync).
	InSync bool
	// Peers are the peers known to the election or the heartbeats, by unit
	// ID.
	Peers []PeerStatus
	// Held names the steps that are up, in order; Running the step being
	// run ("addresses up"), if any; Retry when a failed takeover is tried
	// again (zero if none is pending).
	Held    []string
	Running string
	Retry   time.Time
	// LastTakeover holds the phases of the last takeover completed.
	LastTakeover *Takeover
	// Checks is the state of every health check, in configuration order.
	Checks []CheckStatus
	// Sync is the session replication's state (Driver.Status, with session
	// sync configured).
	Sync *SyncStatus
	// Witness is what the witness says and what this unit does with it
	// (with a witness configured).
	Witness *WitnessStatus
	// Counters are the running totals of the Machine, Heartbeat the
	// heartbeat driver's (filled by Driver.Status).
	Counters  Counters
	Heartbeat heartbeat.Counters
	// Collisions are the signs that another cluster uses this cluster's
	// ID (see heartbeat.Collision), the oldest first; nil when none were
	// seen (filled by Driver.Status).
	Collisions []heartbeat.Collision
}

// SyncStatus is the state of session replication.
type SyncStatus struct {
	// Sessions is the number of sessions in the table.
	Sessions int
	// Sending and Receiving report which halves are on.
	Sending, Receiving bool
	// InSync reports that the receiving half holds the primary's whole
	// table.
	InSync bool
	// LastCommit is what the last takeover's commit found.
	LastCommit statesync.CommitResult
	// Sent of SendTotal records of the sending half's bulk syncs, SendBulk
	// while one runs; Got of GotTotal for the receiving half's: added up
	// over the peers.
	Sent, SendTotal uint64
	SendBulk        bool
	Got, GotTotal   uint64
	GotBulk         bool
	// The halves' counters, added up over the peers, and the transport's.
	Sender   statesync.SenderStats
	Receiver statesync.ReceiverStats
	Driver   statesync.DriverStats
	// Peers is the replication with each sync peer, in Config order: each
	// acknowledges on its own and has its own bulk sync.
	Peers []statesync.PeerStatus
}

// PeerStatus is one peer as this unit sees it.
type PeerStatus struct {
	Unit uint16
	// Candidate is what the peer last advertised, its age taken at the
	// status's time; zero once the election has declared the peer lost.
	Candidate election.Candidate
	// Reachable reports that the peer is heard on some heartbeat interface
	// and not lost.
	Reachable bool
	// Links is the peer's state on each heartbeat interface: state, last
	// heard, loss (filled by Driver.Status).
	Links []heartbeat.LinkStatus
}
