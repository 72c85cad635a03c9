package statesync_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/statesync"
)

// merges records what a Driver merged and whether it handed its table back.
type merges struct {
	mu       sync.Mutex
	merged   map[statesync.Key]uint16 // session → the peer it came from
	calls    int
	handedTo []uint16
}

func (m *merges) opt(c *statesync.DriverConfig) {
	m.merged = map[statesync.Key]uint16{}
	c.OnMerge = func(peer uint16, ss []statesync.Session) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.calls++
		for _, s := range ss {
			m.merged[s.Key] = peer
		}
	}
	c.OnEvent = func(e statesync.Event) {
		if e.Kind == statesync.EventHandedBack {
			m.mu.Lock()
			m.handedTo = append(m.handedTo, e.Peer)
			m.mu.Unlock()
		}
	}
}

func (m *merges) handed() []uint16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint16(nil), m.handedTo...)
}

// TestSimSplitBrainMerge: two units are primary at once, cut off from each
// other, and each creates sessions of its own (and changes one they share).
// When the cut heals, the loser hands its table to the winner before it
// stands down: the winner ends up with every session of both sides, keeps
// its own state of the shared one, and the loser, mirroring the winner
// again, holds the same.
func TestSimSplitBrainMerge(t *testing.T) {
	g := newGroup(t)
	var ma, mb merges
	a := g.start(7, 1, []uint16{2}, true, false, ma.opt)
	b := g.start(7, 2, []uint16{1}, true, false, mb.opt)
	const shared = 50
	for i := range shared { // replicated before the partition: both hold them
		a.tab.Upsert(session(i))
		b.tab.Upsert(session(i))
	}
	a.port.SetLoss(1)
	b.port.SetLoss(1)
	for i := range 100 {
		a.d.Upsert(session(100 + i))
		b.d.Upsert(session(200 + i))
	}
	s0 := session(0)
	s0.Packets = 1
	a.d.Upsert(s0)
	s0.Packets = 2
	b.d.Upsert(s0)
	g.sim.RunFor(2 * time.Second)
	require.Zero(t, b.d.Stats().Merged, "nothing crosses the partition")

	a.port.SetLoss(0.02)
	b.port.SetLoss(0.02)
	require.NoError(t, a.d.HandBack(2))
	g.until(5*time.Second, "handed back", func() bool { return len(ma.handed()) > 0 })
	require.Equal(t, []uint16{2}, ma.handed())
	for i := range 100 {
		_, ok := b.tab.Get(session(100 + i).Key)
		require.True(t, ok, "the winner holds the loser's session %d", 100+i)
		mb.mu.Lock()
		from, merged := mb.merged[session(100+i).Key]
		mb.mu.Unlock()
		require.True(t, merged && from == 1, "OnMerge got the loser's session %d", 100+i)
	}
	got, ok := b.tab.Get(s0.Key)
	require.True(t, ok)
	require.Equal(t, uint64(2), got.Packets, "the winner's own state of a shared session wins")
	mb.mu.Lock()
	_, merged := mb.merged[session(1).Key]
	mb.mu.Unlock()
	require.False(t, merged, "a session the winner held is not merged")
	require.Equal(t, shared+200, b.tab.Len())
	require.GreaterOrEqual(t, b.d.Stats().Merged, uint64(100))

	// Until it stands down, the loser's word on a session it handed over
	// is the newer one (its traffic went through the loser); on one the
	// winner held, it is not.
	s100 := session(100)
	s100.State = statesync.TCPStateFinWait
	a.d.Upsert(s100)
	s0.Packets = 7
	a.d.Upsert(s0)
	g.until(time.Second, "the loser's change taken", func() bool { got, _ := b.tab.Get(s100.Key); return got.State == s100.State })
	got, _ = b.tab.Get(s0.Key)
	require.Equal(t, uint64(2), got.Packets)

	// The loser stands down: it mirrors the winner's table, the union.
	require.NoError(t, a.d.SetSending(false))
	require.NoError(t, a.d.SetReceiving(true))
	g.until(5*time.Second, "the loser in sync", a.d.InSync)
	require.Equal(t, b.tab.Len(), a.tab.Len())
	got, _ = a.tab.Get(s0.Key)
	require.Equal(t, uint64(2), got.Packets)

	// Back to normal: a secondary's acknowledgements merge nothing, and a
	// new session on the winner reaches the loser.
	n := b.d.Stats().Merged
	b.d.Upsert(session(400))
	g.until(time.Second, "replicated", func() bool { _, ok := a.tab.Get(session(400).Key); return ok })
	g.sim.RunFor(time.Second)
	require.Equal(t, n, b.d.Stats().Merged)
}

// TestSimHandBackErrors: HandBack needs a sending half and a peer.
func TestSimHandBackErrors(t *testing.T) {
	g := newGroup(t)
	a := g.start(7, 1, []uint16{2}, false, true)
	require.Error(t, a.d.HandBack(2), "not sending")
	require.NoError(t, a.d.SetSending(true))
	require.Error(t, a.d.HandBack(3), "not a peer")
	require.NoError(t, a.d.HandBack(2))
	require.NoError(t, a.d.Close())
	require.ErrorIs(t, a.d.HandBack(2), statesync.ErrClosed)
}
