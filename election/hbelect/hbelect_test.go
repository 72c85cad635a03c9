package hbelect_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/hbelect"
	"github.com/hakit/hakit/heartbeat"
)

func rep(peer uint16, iface string, s heartbeat.State) heartbeat.Report {
	return heartbeat.Report{Peer: peer, Interface: iface, State: s}
}

func TestReport(t *testing.T) {
	tr, err := hbelect.New(&hbelect.Config{
		Interfaces: []string{"eth0", "sync"},
		Demotes:    func(iface string) bool { return iface != "sync" },
	})
	require.NoError(t, err)
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
		in := tr.Report(s.r)
		require.Equal(t, s.verdicts, in.Verdicts, "step %d: %v", i, s.r)
		require.Equal(t, s.lost, in.Lost, "step %d: %v", i, s.r)
		require.Equal(t, s.r.Peer, in.Peer)
	}
	require.True(t, tr.Lost(2))
	require.False(t, tr.Lost(3))
	require.Equal(t, heartbeat.PeerFault, tr.State(3, "eth0"))
}

func TestNewRejectsNoInterfaces(t *testing.T) {
	_, err := hbelect.New(&hbelect.Config{})
	require.Error(t, err)
}
