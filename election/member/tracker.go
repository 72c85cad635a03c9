package member

import (
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// tracker remembers each peer's heartbeat state per interface and turns
// reports into election inputs:
//
//   - LocalFault on an interface that demotes (not ClusterOnly):
//     election.LocalMalfunction; Alive after it: LocalRecovered.
//   - PeerFault: PeerMalfunction about that peer; Alive after it:
//     PeerRecovered.
//   - PeerDown (a verdict about the whole peer: silent everywhere) makes
//     the peer lost, and so does a verdict (LocalFault, PeerFault or
//     PeerDown) on every heartbeat interface: the peer is dead, or out of
//     reach (every heartbeat path cut: both sides go active, and the
//     election settles the split brain when they hear each other again).
//     Any Alive report makes it reachable again.
type tracker struct {
	ifaces  []string
	demotes map[string]bool
	states  map[link]heartbeat.State
	lost    map[uint16]bool
}

type link struct {
	peer  uint16
	iface string
}

// inputs are what one report asks of the election.
type inputs struct {
	verdicts []election.Verdict // for election Verdict, in order
	lost     bool               // election PeerLost(peer)
	peer     uint16
}

func newTracker(ifaces []Link) *tracker {
	t := &tracker{demotes: map[string]bool{}, states: map[link]heartbeat.State{}, lost: map[uint16]bool{}}
	for _, l := range ifaces {
		t.ifaces = append(t.ifaces, l.Name)
		t.demotes[l.Name] = !l.ClusterOnly
	}
	return t
}

// state returns the last state reported for peer on iface (zero if none).
func (t *tracker) state(peer uint16, iface string) heartbeat.State {
	return t.states[link{peer, iface}]
}

// reachable reports whether peer has been heard and is not lost.
func (t *tracker) reachable(peer uint16) bool {
	if t.lost[peer] {
		return false
	}
	for _, name := range t.ifaces {
		if t.states[link{peer, name}] == heartbeat.Alive {
			return true
		}
	}
	return false
}

// report records r and returns the election inputs it calls for. A report
// about an interface that is not a heartbeat interface changes the peer's
// state but does not count toward losing it (a PeerDown there still does).
func (t *tracker) report(r heartbeat.Report) inputs {
	in := inputs{peer: r.Peer}
	k := link{r.Peer, r.Interface}
	prev := t.states[k]
	t.states[k] = r.State
	demotes, known := t.demotes[r.Interface]
	demotes = demotes || !known
	switch r.State {
	case heartbeat.LocalFault:
		if demotes && prev != heartbeat.LocalFault {
			in.verdicts = append(in.verdicts, election.Verdict{Kind: election.LocalMalfunction, Interface: r.Interface})
		}
	case heartbeat.PeerFault:
		if prev != heartbeat.PeerFault {
			in.verdicts = append(in.verdicts, election.Verdict{Kind: election.PeerMalfunction, Unit: r.Peer, Interface: r.Interface})
		}
	case heartbeat.Alive:
		t.lost[r.Peer] = false
		switch {
		case prev == heartbeat.LocalFault && demotes:
			in.verdicts = append(in.verdicts, election.Verdict{Kind: election.LocalRecovered, Interface: r.Interface})
		case prev == heartbeat.PeerFault:
			in.verdicts = append(in.verdicts, election.Verdict{Kind: election.PeerRecovered, Unit: r.Peer, Interface: r.Interface})
		}
	}
	if t.lost[r.Peer] {
		return in
	}
	if r.State != heartbeat.PeerDown {
		for _, name := range t.ifaces {
			if !t.states[link{r.Peer, name}].Verdict() {
				return in
			}
		}
	}
	t.lost[r.Peer] = true
	in.lost = true
	return in
}
