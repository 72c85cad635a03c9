package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/hbelect"
	"github.com/hakit/hakit/heartbeat"
)

// TestReportLosesPeerOnlyWhenSilentEverywhere: the daemon declares a peer
// lost to the election only when every heartbeat interface has a verdict
// about it, and a heartbeat that comes back makes it losable again.
func TestReportLosesPeerOnlyWhenSilentEverywhere(t *testing.T) {
	d := &daemon{cfg: &config{Ifaces: []string{"eth1", "eth2"}}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var err error
	d.tracker, err = hbelect.New(hbelect.Config{Interfaces: d.cfg.Ifaces})
	require.NoError(t, err)
	d.elect, err = election.NewDriver(election.DefaultConfig(1), nil, func(election.Output) {})
	require.NoError(t, err)
	t.Cleanup(d.elect.Close)
	peer, err := election.New(time.Now(), election.DefaultConfig(2))
	require.NoError(t, err)
	observe := func() {
		b, err := peer.Candidate(time.Now()).MarshalBinary()
		require.NoError(t, err)
		require.NoError(t, d.elect.ObserveBinary(b))
	}
	lost := func() uint64 { return d.elect.Counters().PeersLost }
	observe()

	steps := []struct {
		iface string
		state heartbeat.State
		lost  uint64
	}{
		{"eth1", heartbeat.Suspect, 0},
		{"eth1", heartbeat.PeerFault, 0}, // still heard on eth2
		{"eth2", heartbeat.Suspect, 0},
		{"eth2", heartbeat.LocalFault, 1}, // a verdict everywhere: lost
		{"eth2", heartbeat.LocalFault, 1}, // once
		{"eth1", heartbeat.Alive, 1},
		{"eth1", heartbeat.PeerDown, 2}, // lost again (after it was heard): down is about the whole peer
	}
	for i, s := range steps {
		if s.state == heartbeat.Alive {
			observe()
		}
		d.report(heartbeat.Report{Peer: 2, Interface: s.iface, State: s.state})
		require.Equal(t, s.lost, lost(), "step %d: %s %v", i, s.iface, s.state)
	}
}
