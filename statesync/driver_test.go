package statesync

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Expiring many sessions with nobody acknowledging overflows the window
// inside Expire's callback; the resync this starts must not deadlock on the
// table's locks.
func TestDriverExpireOverflowNoDeadlock(t *testing.T) {
	tr := &nopTransport{done: make(chan struct{})}
	tab := NewTable(0)
	d, err := NewDriver(&DriverConfig{Transport: tr, Table: tab, TickInterval: time.Hour,
		Send: true, Sender: &SenderConfig{Window: 4, MTU: 256}})
	require.NoError(t, err)
	defer d.Close()
	for i := range 2000 {
		s := testSession(i)
		s.Expires = 1
		d.Upsert(s)
	}
	// As if the receiver had acknowledged everything: the next overflow
	// happens inside Expire.
	d.mu.Lock()
	s := d.links[0].s
	s.acked, s.stalled, s.dirty = s.next-1, false, false
	resyncs := s.stats.Resyncs
	d.mu.Unlock()
	done := make(chan int)
	go func() { done <- d.Expire() }()
	select {
	case n := <-done:
		require.Equal(t, 2000, n)
	case <-time.After(10 * time.Second):
		t.Fatal("Expire deadlocked")
	}
	require.Zero(t, tab.Len())
	require.Greater(t, d.SenderStats().Resyncs, resyncs)
}

// A receive-only Driver must not write the previous flush's datagrams again:
// each flush starts from an empty output.
func TestDriverReceiveOnlyFlushStartsEmpty(t *testing.T) {
	tr := &nopTransport{done: make(chan struct{})}
	d, err := NewDriver(&DriverConfig{Transport: tr, Table: NewTable(0), TickInterval: time.Hour,
		Receive: true})
	require.NoError(t, err)
	defer d.Close()
	d.mu.Lock()
	// As left by an earlier flush that wrote one acknowledgement.
	d.bufs = append(d.bufs[:0], []byte("stale"))
	before := tr.writes.Load()
	for range 10 {
		d.flushLocked()
	}
	d.mu.Unlock()
	d.Close()
	require.Equal(t, before, tr.writes.Load(), "flushes with nothing to send wrote stale datagrams")
}
