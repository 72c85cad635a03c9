package hakit

import "fmt"

// Role is a unit's role in the cluster, as the election decides it and as
// heartbeats advertise it. The zero value is invalid.
//
// The numbers are part of the heartbeat wire format (the role byte of a
// heartbeat frame) and of the heartbeat source MAC (see
// heartbeat.SourceMAC): they never change.
type Role uint8

// The roles. A unit starts Initial, listens for its peers, then settles as
// Primary or Secondary.
const (
	// Initial is the role of a unit that has just started and is still
	// listening for its peers; it carries no traffic.
	Initial Role = 1
	// Primary is the active unit: it owns the virtual addresses and
	// carries the traffic.
	Primary Role = 2
	// Secondary is a standby unit: it carries no traffic and stores the
	// primary's session updates.
	Secondary Role = 3
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool { return r >= Initial && r <= Secondary }

// String returns the role's name: "initial", "primary" or "secondary".
func (r Role) String() string {
	switch r {
	case Initial:
		return "initial"
	case Primary:
		return "primary"
	case Secondary:
		return "secondary"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}
