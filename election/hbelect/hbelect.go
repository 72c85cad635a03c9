// Package hbelect turns heartbeat reports into election inputs: the one
// piece of wiring every unit needs between package heartbeat, which says
// how each peer looks on each interface, and package election, which
// decides who is primary. Neither package imports the other; this one
// imports both and holds no goroutine, lock or clock.
//
// The mapping, per report:
//
//   - LocalFault on an interface that demotes (see Config.Demotes):
//     election.LocalMalfunction; Alive after it: LocalRecovered.
//   - PeerFault: PeerMalfunction about that peer; Alive after it:
//     PeerRecovered.
//   - PeerDown (a verdict about the whole peer: silent everywhere) makes
//     the peer lost, and so does a verdict (LocalFault, PeerFault or
//     PeerDown) on every heartbeat interface: the peer is dead, or out of
//     reach (every heartbeat path cut: both sides go active, and the
//     election settles the split brain when they hear each other again).
//     Any Alive report makes it reachable again.
package hbelect

import (
	"fmt"
	"slices"

	"github.com/hakit/hakit"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// Config configures a Tracker. It has no defaults: Interfaces is required.
type Config struct {
	// Interfaces are the heartbeat interfaces, all of those given to the
	// heartbeat Driver or Machine. At least one is required.
	Interfaces []string
	// Demotes reports whether a LocalFault on the interface makes the unit
	// degraded. Nil means every interface does. A daemon typically answers
	// true for interfaces that carry traffic and false for a link only the
	// cluster uses (a dedicated heartbeat or sync link): there the peer is
	// the only neighbour, a cut looks the same from both units, and moving
	// the role would not mend it.
	Demotes func(iface string) bool
}

// Inputs are what one report asks of the election.
type Inputs struct {
	// Verdicts go to election Verdict, in order.
	Verdicts []election.Verdict
	// Lost asks for election PeerLost(Peer): the peer has just become
	// unreachable on every heartbeat interface.
	Lost bool
	// Peer is the report's peer.
	Peer uint16
}

// Tracker remembers each peer's state per interface and maps reports to
// election inputs. It is not safe for concurrent use.
type Tracker struct {
	cfg    Config
	states map[link]heartbeat.State
	lost   map[uint16]bool
}

type link struct {
	peer  uint16
	iface string
}

// Validate reports a Config without interfaces (a nil one has none), as an
// error wrapping hakit.ErrConfig.
func (c *Config) Validate() error {
	if c == nil || len(c.Interfaces) == 0 {
		return fmt.Errorf("hbelect: no heartbeat interfaces: %w", hakit.ErrConfig)
	}
	return nil
}

// New returns a Tracker for cfg (see Validate).
func New(cfg *Config) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := *cfg
	c.Interfaces = slices.Clone(c.Interfaces)
	return &Tracker{cfg: c, states: map[link]heartbeat.State{}, lost: map[uint16]bool{}}, nil
}

// State returns the last state reported for peer on iface (zero if none).
func (t *Tracker) State(peer uint16, iface string) heartbeat.State {
	return t.states[link{peer, iface}]
}

// Lost reports whether peer is currently lost.
func (t *Tracker) Lost(peer uint16) bool { return t.lost[peer] }

// Report records r and returns the election inputs it calls for. A report
// about an interface not in Config.Interfaces changes the peer's state but
// does not count toward losing it (a PeerDown there still does).
func (t *Tracker) Report(r heartbeat.Report) Inputs {
	in := Inputs{Peer: r.Peer}
	k := link{r.Peer, r.Interface}
	prev := t.states[k]
	t.states[k] = r.State
	demotes := t.cfg.Demotes == nil || t.cfg.Demotes(r.Interface)
	switch r.State {
	case heartbeat.LocalFault:
		if demotes && prev != heartbeat.LocalFault {
			in.Verdicts = append(in.Verdicts, election.Verdict{Kind: election.LocalMalfunction, Interface: r.Interface})
		}
	case heartbeat.PeerFault:
		if prev != heartbeat.PeerFault {
			in.Verdicts = append(in.Verdicts, election.Verdict{Kind: election.PeerMalfunction, Unit: r.Peer, Interface: r.Interface})
		}
	case heartbeat.Alive:
		t.lost[r.Peer] = false
		switch {
		case prev == heartbeat.LocalFault && demotes:
			in.Verdicts = append(in.Verdicts, election.Verdict{Kind: election.LocalRecovered, Interface: r.Interface})
		case prev == heartbeat.PeerFault:
			in.Verdicts = append(in.Verdicts, election.Verdict{Kind: election.PeerRecovered, Unit: r.Peer, Interface: r.Interface})
		}
	}
	if t.lost[r.Peer] {
		return in
	}
	if r.State != heartbeat.PeerDown {
		for _, name := range t.cfg.Interfaces {
			if !t.states[link{r.Peer, name}].Verdict() {
				return in
			}
		}
	}
	t.lost[r.Peer] = true
	in.Lost = true
	return in
}
