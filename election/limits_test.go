package election

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

// TestPhantomCandidateExpires: a candidate heard once and never again (a
// forgery, or a unit heard of only inside another's frame) is forgotten
// after PeerTimeout even though nobody calls PeerLost, so it cannot leave
// the cluster without a primary for good.
func TestPhantomCandidateExpires(t *testing.T) {
	b := settled(t, *unitConfig(1), *unitConfig(2))
	a := b.m(2)
	// A phantom primary, older than everyone: unit 2 takes it for the primary.
	require.NoError(t, a.Observe(b.now, Candidate{Unit: 9, Role: hakit.Primary, Priority: 255, Monitored: 2, InSync: true, Age: time.Hour, Tenure: time.Hour}))
	b.tickAll()
	require.Len(t, a.Peers(b.now), 2)
	b.step(a.cfg.PeerTimeout - 100*time.Millisecond)
	require.Len(t, a.Peers(b.now), 2, "kept for PeerTimeout")
	b.step(200 * time.Millisecond)
	require.Len(t, a.Peers(b.now), 1, "expired")
	require.Equal(t, uint16(1), a.Peers(b.now)[0].Unit)
	require.Equal(t, uint64(1), a.Counters().PeersExpired)
	require.Zero(t, a.Counters().PeersLost)
	var expired bool
	for _, o := range b.outs[2] {
		for _, e := range o.Events {
			expired = expired || (e.Kind == EventPeerLost && e.Unit == 9)
		}
	}
	require.True(t, expired, "an EventPeerLost for the expired peer")
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary}, b.roles())
}

// TestPrimaryExpiresWithoutPeerLost: a primary that falls silent is
// replaced once it expires even if the heartbeat layer never reports.
func TestPrimaryExpiresWithoutPeerLost(t *testing.T) {
	b := settled(t, *unitConfig(1), *unitConfig(2))
	b.cut[[2]uint16{1, 2}] = true
	b.step(b.m(2).cfg.PeerTimeout + time.Second)
	require.Equal(t, hakit.Primary, b.m(2).Role())
}

// TestMaxPeers: candidates of new units beyond MaxPeers are dropped and
// counted, reported once, and change nothing; known peers are still heard;
// expiry makes room again.
func TestMaxPeers(t *testing.T) {
	cfg := *unitConfig(1)
	cfg.MaxPeers = 3
	b := settled(t, cfg, *unitConfig(2))
	m := b.m(1)
	for u := uint16(100); u < 1100; u++ {
		err := m.Observe(b.now, Candidate{Unit: u, Role: hakit.Secondary, Priority: 1})
		if u < 102 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, ErrInvalid)
		}
	}
	out := m.Tick(b.now)
	require.Len(t, m.Peers(b.now), 3)
	require.Equal(t, uint64(998), m.Counters().DroppedPeerLimit)
	var dropped int
	for _, e := range out.Events {
		if e.Kind == EventDropped {
			dropped++
		}
	}
	require.Equal(t, 1, dropped, "one event, not one per frame")
	b.step(time.Second) // unit 2, known, is still heard
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary}, b.roles())
	b.step(m.cfg.PeerTimeout)
	require.Len(t, m.Peers(b.now), 1, "the silent ones expired")
	require.NoError(t, m.Observe(b.now, Candidate{Unit: 2000, Role: hakit.Secondary, Priority: 1}))
}

func TestConfigPeerLimits(t *testing.T) {
	c := unitConfig(1)
	c.MaxPeers = -1
	require.ErrorIs(t, c.Validate(), hakit.ErrConfig)
	c = unitConfig(1)
	c.PeerTimeout = c.DetectTime / 2
	require.ErrorIs(t, c.Validate(), hakit.ErrConfig)
	r := unitConfig(1).withDefaults()
	require.Equal(t, 10*r.DetectTime, r.PeerTimeout)
	require.Equal(t, 16, r.MaxPeers)
}
