package member

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/heartbeat"
)

func TestRosterShares(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRoster(now, 2, []uint16{1, 2, 3}, 64, 800*time.Millisecond)
	s, ok := r.tick(now)
	require.True(t, ok)
	require.Empty(t, s.Units, "nobody carries traffic before the peers are heard or waited for")
	require.Equal(t, make([]uint16, 64), s.Owners)
	_, ok = r.tick(now.Add(100 * time.Millisecond))
	require.False(t, ok)

	r.report(heartbeat.Report{Peer: 1, Interface: "eth0", State: heartbeat.Alive})
	r.report(heartbeat.Report{Peer: 3, Interface: "eth0", State: heartbeat.Alive})
	s, ok = r.tick(now.Add(200 * time.Millisecond))
	require.True(t, ok)
	require.Equal(t, []uint16{1, 2, 3}, s.Units)
	three := s.Owners
	require.Contains(t, s.Reason, "joined: unit 1, 2, 3")

	// Suspect keeps the buckets; the verdict moves them.
	r.report(heartbeat.Report{Peer: 3, Interface: "eth0", State: heartbeat.Suspect})
	_, ok = r.tick(now.Add(300 * time.Millisecond))
	require.False(t, ok)
	r.report(heartbeat.Report{Peer: 3, Interface: "eth0", State: heartbeat.PeerDown})
	s, ok = r.tick(now.Add(900 * time.Millisecond))
	require.True(t, ok)
	require.Equal(t, []uint16{1, 2}, s.Units)
	require.Contains(t, s.Reason, "left: unit 3")
	for b := range three {
		if three[b] != 3 {
			require.Equal(t, three[b], s.Owners[b], "bucket %d moved, but its unit stayed", b)
		} else {
			require.NotEqual(t, uint16(3), s.Owners[b])
		}
	}
}

func TestRosterLocalFault(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRoster(now, 2, nil, 8, 800*time.Millisecond)
	r.report(heartbeat.Report{Peer: 1, Interface: "eth0", State: heartbeat.Alive})
	r.report(heartbeat.Report{Peer: 1, Interface: "eth1", State: heartbeat.Alive})
	s, _ := r.tick(now)
	require.Equal(t, []uint16{1, 2}, s.Units)
	r.report(heartbeat.Report{Peer: 1, Interface: "eth0", State: heartbeat.LocalFault})
	s, ok := r.tick(now.Add(time.Second))
	require.True(t, ok)
	require.Equal(t, []uint16{1}, s.Units, "a unit whose own link failed carries nothing")
	require.Contains(t, s.Reason, "left: unit 2")
	r.report(heartbeat.Report{Peer: 1, Interface: "eth0", State: heartbeat.Alive})
	s, ok = r.tick(now.Add(2 * time.Second))
	require.True(t, ok)
	require.Equal(t, []uint16{1, 2}, s.Units)
}

func TestRosterAloneAfterWait(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRoster(now, 2, nil, 8, 800*time.Millisecond)
	r.tick(now)
	s, ok := r.tick(now.Add(800 * time.Millisecond))
	require.True(t, ok)
	require.Equal(t, []uint16{2}, s.Units)
	require.Equal(t, []uint16{2, 2, 2, 2, 2, 2, 2, 2}, s.Owners)
}
