package member

import (
	"time"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// Status is what a unit knows of itself and its peers at one moment.
type Status struct {
	// Unit is this unit's ID and Priority its configured priority.
	Unit     uint16
	Priority uint8
	// Role is the current role, Reason why it was taken and Since when.
	Role   election.Role
	Reason string
	Since  time.Time
	// LinksUp is the number of monitored interfaces up.
	LinksUp uint16
	// InSync reports that the session table is the primary's (always true
	// on the primary and without session sync).
	InSync bool
	// Peers are the peers known, by unit ID.
	Peers []PeerStatus
	// Held names the steps that are up, in order; Running the step being
	// run ("addresses up"), if any; Retry when a failed takeover is tried
	// again (zero if none is pending).
	Held    []string
	Running string
	Retry   time.Time
	// LastTakeover holds the phases of the last takeover completed.
	LastTakeover *Takeover
	// Counters are the running totals of the Machine, Heartbeat the
	// heartbeat driver's (filled by Driver.Status).
	Counters  Counters
	Heartbeat heartbeat.Counters
}

// PeerStatus is one peer as this unit sees it.
type PeerStatus struct {
	Unit uint16
	// Candidate is what the peer last advertised, its age taken at the
	// status's time.
	Candidate election.Candidate
	// Reachable reports that the peer is heard on some heartbeat interface
	// and not lost.
	Reachable bool
	// Links is the peer's state on each heartbeat interface: state, last
	// heard, loss (filled by Driver.Status).
	Links []heartbeat.LinkStatus
}
