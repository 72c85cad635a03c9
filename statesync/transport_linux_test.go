package statesync_test

import (
	"net"
	"net/netip"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// bedPair is two hosts on a bridge that drops 5% of the frames it forwards.
func bedPair(t *testing.T) (*testbed.Host, *testbed.Host, *testbed.Link, *testbed.Link) {
	t.Helper()
	bed := testbed.New(t) // skips unless root (fails under CI=true)
	br := bed.Bridge("sync")
	a, b := bed.Host("a"), bed.Host("b")
	la, lb := bed.Link(a, br, "eth0"), bed.Link(b, br, "eth0")
	a.AddAddr("eth0", netip.MustParsePrefix("198.18.0.1/24"))
	b.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/24"))
	t.Cleanup(br.Loss(0.05))
	return a, b, la, lb
}

// replicate runs a sender over ta and a receiver over tb, changes n
// sessions, and waits (polling, bounded) until the replica equals the
// source.
func replicate(t *testing.T, ta, tb statesync.Transport, n int) {
	t.Helper()
	src, dst := statesync.NewTable(0), statesync.NewTable(0)
	for i := range n / 2 {
		src.Upsert(session(i))
	}
	key := []byte("sync key")
	a, err := statesync.NewDriver(&statesync.DriverConfig{Transport: ta, Table: src,
		Send: true, Sender: &statesync.SenderConfig{MTU: 1400}, Keys: testKeys(t, string(key))})
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	b, err := statesync.NewDriver(&statesync.DriverConfig{Transport: tb, Table: dst,
		Receive: true, Keys: testKeys(t, string(key))})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	for i := range n {
		s := session(i)
		s.Packets = uint64(i)
		a.Upsert(s)
		if i%3 == 0 {
			a.Delete(session(i / 2).Key)
		}
	}
	ok := assertEventually(func() bool { return b.InSync() && a.Acked() }, 20*time.Second)
	if !ok {
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	}
	require.True(t, ok, "sender %+v receiver %+v; drivers %+v %+v", a.SenderStats(), b.ReceiverStats(), a.Stats(), b.Stats())
	requireSame(t, src, dst)
	t.Logf("sender %+v", a.SenderStats())
	res := b.Commit()
	require.True(t, res.InSync)
}

func TestUDPTransportOnBed(t *testing.T) {
	ha, hb, _, _ := bedPair(t)
	pa := netip.MustParseAddrPort("198.18.0.1:7946")
	pb := netip.MustParseAddrPort("198.18.0.2:7946")
	var ta, tb *statesync.UDPTransport
	require.NoError(t, ha.Do(func() (err error) { ta, err = statesync.ListenUDP(pa, pb); return }))
	require.NoError(t, hb.Do(func() (err error) { tb, err = statesync.ListenUDP(pb, pa); return }))
	replicate(t, ta, tb, 20000)
}

func TestEthernetTransportOnBed(t *testing.T) {
	ha, hb, la, lb := bedPair(t)
	var ca, cb net.PacketConn
	require.NoError(t, ha.Do(func() (err error) {
		ca, err = packet.Listen(ha.Interface("eth0"), packet.Raw, statesync.EtherType, nil)
		return
	}))
	require.NoError(t, hb.Do(func() (err error) {
		cb, err = packet.Listen(hb.Interface("eth0"), packet.Raw, statesync.EtherType, nil)
		return
	}))
	ta := statesync.NewEthernetTransport(ca, la.MAC(), lb.MAC(), 0)
	tb := statesync.NewEthernetTransport(cb, lb.MAC(), la.MAC(), 0)
	replicate(t, ta, tb, 20000)
}

func assertEventually(f func() bool, limit time.Duration) bool {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		if f() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
