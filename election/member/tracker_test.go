package member

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

func rep(peer uint16, iface string, s heartbeat.State) heartbeat.Report {
	return heartbeat.Report{Peer: peer, Interface: iface, State: s}
}

func TestTrackerReport(t *testing.T) {
	tr := newTracker([]Link{{Name: "eth0"}, {Name: "sync", ClusterOnly: true}})
	steps := []struct {
		r        heartbeat.Report
		verdicts []election.Verdict
		lost     bool
	}{
		{rep(2, "eth0", heartbeat.Alive), nil, false},
		{rep(2, "sync", heartbeat.Alive), nil, false},
		{rep(2, "eth0", heartbeat.Suspect), nil, false},
		// A local fault on a traffic interface demotes; on the sync link
		// it does not.
		{rep(2, "eth0", heartbeat.LocalFault), []election.Verdict{{Kind: election.LocalMalfunction, Interface: "eth0"}}, false},
		{rep(2, "sync", heartbeat.LocalFault), nil, true},  // every interface has a verdict: lost
		{rep(2, "sync", heartbeat.LocalFault), nil, false}, // lost once
		{rep(2, "sync", heartbeat.Alive), nil, false},
		{rep(2, "eth0", heartbeat.Alive), []election.Verdict{{Kind: election.LocalRecovered, Interface: "eth0"}}, false},
		{rep(2, "eth0", heartbeat.PeerFault), []election.Verdict{{Kind: election.PeerMalfunction, Unit: 2, Interface: "eth0"}}, false},
		{rep(2, "eth0", heartbeat.Alive), []election.Verdict{{Kind: election.PeerRecovered, Unit: 2, Interface: "eth0"}}, false},
		// PeerDown is about the whole peer: lost at the first one.
		{rep(2, "eth0", heartbeat.PeerDown), nil, true},
		{rep(2, "sync", heartbeat.PeerDown), nil, false},
		// Another peer is tracked on its own.
		{rep(3, "eth0", heartbeat.Alive), nil, false},
		{rep(3, "sync", heartbeat.Alive), nil, false},
		{rep(3, "eth0", heartbeat.PeerFault), []election.Verdict{{Kind: election.PeerMalfunction, Unit: 3, Interface: "eth0"}}, false},
	}
	for i, s := range steps {
		in := tr.report(s.r)
		require.Equal(t, s.verdicts, in.verdicts, "step %d: %v", i, s.r)
		require.Equal(t, s.lost, in.lost, "step %d: %v", i, s.r)
		require.Equal(t, s.r.Peer, in.peer)
	}
	require.False(t, tr.reachable(2))
	require.True(t, tr.reachable(3))
	require.Equal(t, heartbeat.PeerFault, tr.state(3, "eth0"))
}

// TestTrackerLosesPeerOnlyWhenSilentEverywhere: a peer is lost only when
// every heartbeat interface has a verdict about it, and a heartbeat that
// comes back makes it losable again.
func TestTrackerLosesPeerOnlyWhenSilentEverywhere(t *testing.T) {
	tr := newTracker([]Link{{Name: "eth1"}, {Name: "eth2"}})
	lost := 0
	steps := []struct {
		iface string
		state heartbeat.State
		lost  int
	}{
		{"eth1", heartbeat.Suspect, 0},
		{"eth1", heartbeat.PeerFault, 0}, // still heard on eth2
		{"eth2", heartbeat.Suspect, 0},
		{"eth2", heartbeat.LocalFault, 1}, // a verdict everywhere: lost
		{"eth2", heartbeat.LocalFault, 1}, // once
		{"eth1", heartbeat.Alive, 1},
		{"eth1", heartbeat.PeerDown, 2}, // lost again: down is about the whole peer
	}
	for i, s := range steps {
		if tr.report(rep(2, s.iface, s.state)).lost {
			lost++
		}
		require.Equal(t, s.lost, lost, "step %d: %s %v", i, s.iface, s.state)
	}
}
