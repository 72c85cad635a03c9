package statesync_test

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/statesync"
)

// driverMethods calls the Driver's methods, as an OnEvent callback may.
func driverMethods(d *statesync.Driver) {
	d.Upsert(session(9999))
	d.Delete(session(9999).Key)
	d.Replicate(session(1))
	d.Expire()
	d.Flush()
	_ = d.InSync()
	_ = d.Acked()
	_ = d.SenderStats()
	_ = d.ReceiverStats()
	_ = d.Stats()
	_, _, _ = d.Progress()
	_, _, _ = d.ReceiveProgress()
	_, _ = d.Sending(), d.Receiving()
	_ = d.SetSending(d.Sending()) // no change
	_ = d.SetReceiving(d.Receiving())
}

// wait returns the Driver once NewDriver has returned it.
func wait(p *atomic.Pointer[statesync.Driver]) *statesync.Driver {
	for {
		if d := p.Load(); d != nil {
			return d
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOnEventMayCallEveryMethod: the cores return their events and the
// Driver hands them to OnEvent with no lock held, so a callback may call any
// method of the Driver, Commit and Close included. Real clock and UDP, so
// that a deadlock fails the test instead of hanging it.
func TestOnEventMayCallEveryMethod(t *testing.T) {
	ua, err := statesync.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("127.0.0.1:9"))
	require.NoError(t, err)
	ub, err := statesync.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), ua.LocalAddr())
	require.NoError(t, err)
	ua.Close()
	ua, err = statesync.ListenUDP(ua.LocalAddr(), ub.LocalAddr())
	require.NoError(t, err)

	// The Drivers as their callbacks see them: a callback may run before
	// NewDriver returns (the first bulk sync starts at once).
	var da, db atomic.Pointer[statesync.Driver]
	var sent, got atomic.Int64
	closedB := make(chan statesync.CommitResult, 1)
	a, err := statesync.NewDriver(&statesync.DriverConfig{Transport: ua, Table: statesync.NewTable(0),
		Send: true, OnEvent: func(e statesync.Event) {
			require.Equal(t, statesync.SideSender, e.Side)
			driverMethods(wait(&da))
			sent.Add(1)
		}})
	require.NoError(t, err)
	da.Store(a)
	t.Cleanup(func() { a.Close() })
	b, err := statesync.NewDriver(&statesync.DriverConfig{Transport: ub, Table: statesync.NewTable(0),
		Receive: true, OnEvent: func(e statesync.Event) {
			require.Equal(t, statesync.SideReceiver, e.Side)
			d := wait(&db)
			driverMethods(d)
			got.Add(1)
			if e.Kind == statesync.EventInSync {
				res := d.Commit()
				require.NoError(t, d.Close())
				closedB <- res
			}
		}})
	require.NoError(t, err)
	db.Store(b)
	t.Cleanup(func() { b.Close() })
	for i := range 100 {
		a.Upsert(session(i))
	}
	select {
	case res := <-closedB:
		require.True(t, res.InSync)
	case <-time.After(10 * time.Second):
		t.Fatalf("no in-sync event handled: the Driver is stuck (%d sender, %d receiver events)", sent.Load(), got.Load())
	}
	require.NotZero(t, got.Load())
	// The sender's events go to its own callback, as soon as it gets to them.
	for deadline := time.Now().Add(10 * time.Second); sent.Load() == 0; time.Sleep(time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the sender's callback is stuck")
	}
}
