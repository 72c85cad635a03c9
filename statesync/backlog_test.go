package statesync_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/statesync"
)

// TestBacklog: while one standby does not acknowledge, the stream to it
// has a backlog whose lag grows with the time since its oldest update
// went out, and the other standby's stays empty; once it is back the
// backlog drains to nothing.
func TestBacklog(t *testing.T) {
	g := newGroup(t)
	a := g.start(7, 1, []uint16{2, 3}, true, false)
	b := g.start(7, 2, []uint16{1, 3}, false, true)
	c := g.start(7, 3, []uint16{1, 2}, false, true)
	for i := range 100 {
		a.d.Upsert(session(i))
	}
	g.until(10*time.Second, "acknowledged", func() bool { return allAcked(a) })
	for _, p := range a.d.Peers() {
		require.Zero(t, p.Backlog, "unit %d", p.Unit)
	}

	c.port.Cut()
	for i := range 50 {
		a.d.Upsert(session(1000 + i))
	}
	a.d.Flush()
	g.sim.RunFor(100 * time.Millisecond)
	ps := a.d.Peers()
	require.Zero(t, ps[0].Backlog, "unit 2 acknowledges")
	first := ps[1].Backlog
	require.EqualValues(t, 50, first.Records, "every update to unit 3")
	require.NotZero(t, first.Datagrams)
	require.Greater(t, first.Bytes, 50*uint64(50), "54 bytes an update at least, headers and tags too")
	require.GreaterOrEqual(t, first.Lag, 100*time.Millisecond)
	g.sim.RunFor(400 * time.Millisecond)
	later := a.d.Peers()[1].Backlog
	require.Equal(t, first.Records, later.Records, "nothing new sent")
	require.Equal(t, first.Lag+400*time.Millisecond, later.Lag, "the lag grows while no acknowledgement comes")

	c.port.Heal()
	g.until(10*time.Second, "unit 3 acknowledged", func() bool { return a.d.Peers()[1].Acked })
	require.Zero(t, a.d.Peers()[1].Backlog, "drained")
	require.True(t, b.d.InSync() && c.d.InSync())
}

// TestSenderBacklog: the core's backlog counts what each acknowledgement
// has not covered yet, and is empty when everything is.
func TestSenderBacklog(t *testing.T) {
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	src, dst := statesync.NewTable(0), statesync.NewTable(0)
	s, err := statesync.NewSender(t0, &statesync.SenderConfig{Table: src})
	require.NoError(t, err)
	r, err := statesync.NewReceiver(t0, &statesync.ReceiverConfig{Table: dst})
	require.NoError(t, err)
	now := t0
	s.Tick(now) // the empty bulk sync: begin and end
	bulk := s.Output(nil)
	require.NotZero(t, s.Backlog(now).Records)
	for i := range 30 {
		s.Upsert(now, src.Upsert(session(i)))
	}
	s.Flush(now)
	data := s.Output(nil)
	now = now.Add(30 * time.Millisecond)
	bl := s.Backlog(now)
	require.EqualValues(t, 30+2, bl.Records, "30 upserts, bulk begin and end")
	require.Equal(t, 30*time.Millisecond, bl.Lag)

	// The bulk sync's datagram arrives and is acknowledged: the upserts
	// are left, first sent at the same time.
	for _, b := range bulk {
		r.Step(now, b)
	}
	r.Tick(now)
	for _, b := range r.Output(nil) {
		require.NoError(t, s.Step(now, b))
	}
	bl = s.Backlog(now)
	require.EqualValues(t, 30, bl.Records)
	require.Equal(t, uint64(len(data)), bl.Datagrams)
	var n uint64
	for _, b := range data {
		n += uint64(len(b))
	}
	require.Equal(t, n, bl.Bytes)

	for _, b := range data {
		r.Step(now, b)
	}
	now = now.Add(2 * time.Millisecond) // the receiver's AckDelay
	r.Tick(now)
	for _, b := range r.Output(nil) {
		require.NoError(t, s.Step(now, b))
	}
	require.Zero(t, s.Backlog(now))
}

// A sender's backlog: what the receiver has not acknowledged, and how long
// ago the oldest of it went out.
func ExampleSender_Backlog() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	primary, standby := statesync.NewTable(0), statesync.NewTable(0)
	for port := range uint16(3) {
		primary.Upsert(statesync.Session{
			Key: statesync.Key{Proto: 6,
				Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.0.10"), 40000+port),
				Dst: netip.MustParseAddrPort("198.19.0.80:443")},
			State:   statesync.TCPStateEstablished,
			Expires: statesync.Deadline(now.Add(time.Hour)),
		})
	}
	s, _ := statesync.NewSender(now, &statesync.SenderConfig{Table: primary})
	r, _ := statesync.NewReceiver(now, &statesync.ReceiverConfig{Table: standby})
	s.Tick(now) // the bulk sync goes out: its begin, the three sessions, its end
	out := s.Output(nil)

	now = now.Add(250 * time.Millisecond) // the receiver is silent
	b := s.Backlog(now)
	fmt.Println("records:", b.Records, "datagrams:", b.Datagrams, "lag:", b.Lag)

	for _, d := range out {
		r.Step(now, d)
	}
	now = now.Add(2 * time.Millisecond)
	r.Tick(now)
	for _, d := range r.Output(nil) {
		s.Step(now, d)
	}
	fmt.Printf("after the acknowledgement: %+v\n", s.Backlog(now))
	// Output:
	// records: 5 datagrams: 2 lag: 250ms
	// after the acknowledgement: {Records:0 Datagrams:0 Bytes:0 Lag:0s}
}
