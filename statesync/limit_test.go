package statesync

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func limitSession(i int) Session {
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 40000)
	return Session{Key: Key{Proto: 6, Src: src, Dst: netip.MustParseAddrPort("198.19.0.1:80")}, State: TCPStateEstablished}
}

// TestTableLimit: at its limit a table stores no new key, counts each, and
// still updates and deletes what it holds.
func TestTableLimit(t *testing.T) {
	tb := NewTable(0)
	require.Equal(t, DefaultMaxSessions, tb.Limit())
	tb.SetLimit(10)
	for i := range 25 {
		tb.Upsert(limitSession(i))
	}
	require.Equal(t, 10, tb.Len())
	require.Equal(t, uint64(15), tb.Refused())
	_, ok := tb.Get(limitSession(20).Key)
	require.False(t, ok)
	s := limitSession(3)
	s.State = TCPStateFinWait
	tb.Store(s)
	got, _ := tb.Get(s.Key)
	require.Equal(t, TCPStateFinWait, got.State, "held sessions still change")
	tb.Delete(s.Key)
	tb.Store(limitSession(20))
	require.Equal(t, 10, tb.Len(), "a delete makes room")
	tb.SetLimit(-1)
	require.Equal(t, -1, tb.Limit())
	for i := range 30 {
		tb.Upsert(limitSession(100 + i))
	}
	require.Equal(t, 40, tb.Len())
}

// TestReceiverTableFull: a sender with more sessions than the replica may
// hold: the receiver counts every refused session, says it is out of sync
// (an event with the reason) and stays so until a bulk sync fits.
func TestReceiverTableFull(t *testing.T) {
	p := newPipe(t, 0, 0)
	p.dst.SetLimit(100)
	for i := range 100 {
		p.upsert(limitSession(i))
	}
	p.settle(5 * time.Second)
	require.True(t, p.r.InSync())
	p.events = nil
	for i := 100; i < 150; i++ {
		p.upsert(limitSession(i))
	}
	for range 100 {
		p.step()
	}
	require.False(t, p.r.InSync(), "a replica missing sessions is not in sync")
	require.Equal(t, uint64(50), p.r.Stats().DropTableFull)
	require.Equal(t, 100, p.dst.Len())
	var reason string
	for _, e := range p.events {
		if e.Kind == EventOutOfSync {
			reason = e.Reason
		}
	}
	require.True(t, strings.Contains(reason, "table full"), "out-of-sync event, reason %q", reason)

	// Still out of sync after a full bulk sync that does not fit …
	p.r.requestResync(p.now, "test")
	for range 500 {
		p.step()
	}
	require.False(t, p.r.InSync())
	// … in sync once the table may hold them all and a bulk sync ran.
	p.dst.SetLimit(0)
	p.r.requestResync(p.now, "test")
	p.settle(5 * time.Second)
	requireEqualTables(t, p.src, p.dst)
}

// TestReceiverBufferCap: datagrams held beyond a gap take at most
// MaxBufferedBytes, however large they are; slots are reused.
func TestReceiverBufferCap(t *testing.T) {
	p := newPipe(t, 0, 0)
	r := p.r
	big := make([]byte, 65000)
	held := 0
	for i := range r.ring {
		if !r.hold(&r.ring[i], big) {
			break
		}
		held++
	}
	require.Equal(t, MaxBufferedBytes/65000, held)
	require.LessOrEqual(t, r.held, MaxBufferedBytes)
	require.True(t, r.hold(&r.ring[0], big[:100]), "a smaller datagram reuses the slot")
	require.False(t, r.hold(&r.ring[len(r.ring)-1], big), "full: dropped")
}
