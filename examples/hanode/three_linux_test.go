package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestE2EThreeUnitsPowerLoss needs root: three units, A the primary, B and
// C its in-sync standbys. B restarts (a new start with an empty neighbour
// cache: nothing to probe on its interfaces but its peers and the hosts of
// the replicated sessions), then, a few seconds later, A loses power. Heartbeats from C prove B's own interfaces work, so B reaches
// the early verdict as a pair's standby does, rather than waiting out
// the 0.8 s window: the gap is the pair's (TestE2EKillPrimary).
func TestE2EThreeUnitsPowerLoss(t *testing.T) {
	p := newPair(t)
	c, st := p.threeUnits()
	us := p.startUDP(time.Millisecond)
	inSync := func(s Status) bool {
		return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync && s.Sync.Sessions >= 1
	}
	p.waitStatus(p.b, "in-sync secondary", inSync)
	p.waitStatus(c, "in-sync secondary", inSync)

	require.NoError(t, p.b.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, waitExit(t, p.b, 10*time.Second))
	_, err := p.b.h.Run("ip", "neigh", "flush", "all")
	require.NoError(t, err)
	p.start(p.b, 150)
	p.waitStatus(p.b, "in-sync secondary again", inSync)
	// Long enough for B's links to have a history: a unit that started
	// a moment ago cannot tell loss from a dead peer early, and waits up
	// to the window's extensions.
	time.Sleep(3 * time.Second)

	st.resetGap()
	us.resetGap()
	p.crash(p.a)
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	p.report(st, "three units, A loses power")
	ug, _ := us.gap()
	t.Logf("three units, A loses power: the UDP stream (1 ms) saw a gap of %v", ug.Round(time.Millisecond))
	sb, err := statusOf(p.b)
	require.NoError(t, err)
	require.NotNil(t, sb.LastTakeover)
	t.Logf("B's takeover: %+v", *sb.LastTakeover)
	// The figures are noisy on a loaded machine; the verdict is not: the
	// early one, as with two units, not the end of the 0.8 s window.
	require.NotZero(t, sb.Counters.Heartbeat.EarlyVerdicts, "B's verdict on A is the early one")
	sc, err := statusOf(c)
	require.NoError(t, err)
	require.Equal(t, "secondary", sc.Role)
}
