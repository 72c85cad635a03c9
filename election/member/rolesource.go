package member

import (
	"errors"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// ErrRoleSource is returned by Driver.Handover when a RoleSource decides
// the role: the source has its own way to give the role up (Close: VRRP's
// priority 0).
var ErrRoleSource = errors.New("member: the role comes from a role source")

// RoleSource decides the unit's role in place of the heartbeats and the
// election: another protocol's election, such as a VRRP virtual router
// (VRRP) shared with keepalived or a router. With Config.Roles set, the
// Driver runs no heartbeats; everything else is the same: the role the
// source sets runs the same ordered takeover (sessions, the user's steps,
// replication) and its reverse, with the same rollback and retries, and
// session sync to hakit peers works as without it. What belongs to the
// election does not apply: Handover returns ErrRoleSource, Yield, Resume
// and Witness change nothing, and the sync state does not weigh in the
// role.
type RoleSource interface {
	// Start starts deciding. The source calls set with every role it
	// decides (Primary: take over; anything else: release), in order,
	// with a reason in words, with no lock of the Driver's held; set may
	// be called before Start returns and returns at once.
	Start(set func(role hakit.Role, reason string)) error
	// Close stops deciding and gives the role up at once if this unit
	// holds it, so that a peer takes over without waiting for it to fall
	// silent (VRRP: an advertisement of priority 0). The Driver takes its
	// steps down after Close returns; roles set after that are ignored.
	Close() error
}

// assigned is the role a RoleSource set, for the Machine to take at its
// next Tick.
type assigned struct {
	role   hakit.Role
	reason string
}

// Assign records at now the role a RoleSource decided, with its reason.
// It is for a Machine configured with MachineConfig.Assigned; the
// election's Machine decides nothing then, and the role changes at the
// next Tick, which runs the takeover (or its reverse) as the election's
// decision would.
func (m *Machine) Assign(now time.Time, role hakit.Role, reason string) {
	if m.assigned == nil {
		return
	}
	m.assigned.role, m.assigned.reason = role, reason
}

// decide returns what decided the role in this tick: the election, or
// the role assigned.
func (m *Machine) decide(now time.Time) election.Output {
	a := m.assigned
	if a == nil {
		return m.el.Tick(now)
	}
	o := election.Output{Role: m.role}
	if a.role != m.role && a.role != 0 {
		// The source ran an election of its own (VRRP's Master election).
		o.Role, o.Changed, o.Cause, o.Reason = a.role, true, election.CauseElection, a.reason
		o.Events = append(o.Events, election.Event{Kind: election.EventRoleChange, Time: now, From: m.role, To: a.role,
			Unit: m.cfg.Election.Unit, Cause: o.Cause, Reason: a.reason})
	}
	return o
}

// beats is what the Driver needs of its heartbeats: a heartbeat.Driver,
// or, with a RoleSource, a stand-in that starts and stops the source.
type beats interface {
	Start() error
	Close() error
	SetRole(hakit.Role) error
	SetPayload([]byte) error
	SendNow() error
	Counters() heartbeat.Counters
	Peers() []heartbeat.PeerStatus
}

// sourced stands in for the heartbeats when a RoleSource decides: it has
// nothing to send and no peers to report.
type sourced struct {
	src RoleSource
	d   *Driver
}

func (s sourced) Start() error {
	return s.src.Start(func(role hakit.Role, reason string) {
		s.d.input(func(m *Machine, now time.Time) { m.Assign(now, role, reason) })
	})
}

func (s sourced) Close() error                { return s.src.Close() }
func (sourced) SetRole(hakit.Role) error      { return nil }
func (sourced) SetPayload([]byte) error       { return nil }
func (sourced) SendNow() error                { return nil }
func (sourced) Counters() heartbeat.Counters  { return heartbeat.Counters{} }
func (sourced) Peers() []heartbeat.PeerStatus { return nil }

var (
	_ beats = (*heartbeat.Driver)(nil)
	_ beats = sourced{}
)
