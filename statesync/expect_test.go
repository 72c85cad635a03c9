package statesync

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testExpect returns an FTP data connection's expectation (passive mode:
// the client, any port, to the server's announced port) of master key i.
func testExpect(i int) Expectation {
	m := testSession(i).Key
	return Expectation{
		Key: Key{Zone: m.Zone, Proto: 6, Src: netip.AddrPortFrom(m.Src.Addr(), 0),
			Dst: netip.AddrPortFrom(m.Dst.Addr(), uint16(40000+i))},
		Master:  m,
		SrcMask: netip.AddrFrom4([4]byte{255, 255, 255, 255}), Expires: uint32(t0.Unix()) + 300,
		Helper: "ftp", Class: 0, Flags: 0,
	}
}

func natExpect(i int) Expectation {
	e := testExpect(i)
	e.Key = Key{Proto: 17, Src: netip.MustParseAddrPort("[2001:db8::1]:0"), Dst: netip.MustParseAddrPort("[2001:db8::2]:5004")}
	e.Master = Key{Proto: 17, Src: netip.MustParseAddrPort("[2001:db8::2]:5060"), Dst: netip.MustParseAddrPort("[2001:db8::1]:5060")}
	e.SrcMask = netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	e.SrcPortMask, e.Helper, e.Fn, e.Class, e.Flags = 0xffff, "sip", "nat-follow-master", 1, 2
	e.NATDir, e.NATSrc = 1, netip.MustParseAddrPort("[2001:db8::9]:7078")
	return e
}

func TestExpectRecordRoundTrip(t *testing.T) {
	for _, r := range append(expectRecords(), record{recordOp: opExpect, Expect: Expectation{Key: Key{Proto: 6}, Master: Key{Proto: 6}}}) {
		b, err := r.MarshalBinary()
		require.NoError(t, err)
		require.Len(t, b, r.EncodedLen())
		var got record
		require.NoError(t, got.UnmarshalBinary(b))
		require.Equal(t, r, got)
		allocs := testing.AllocsPerRun(100, func() { _ = got.UnmarshalBinary(b) })
		require.Zero(t, allocs, "decoding %v", r.recordOp)
		buf := make([]byte, 0, 256)
		allocs = testing.AllocsPerRun(100, func() { buf, _ = r.AppendBinary(buf[:0]) })
		require.Zero(t, allocs, "encoding %v", r.recordOp)
		for n := range b {
			require.Error(t, got.UnmarshalBinary(b[:n]), "%v cut at %d", r.recordOp, n)
		}
	}
	bad := testExpect(1)
	bad.Master.Zone = 7
	_, err := record{recordOp: opExpect, Expect: bad}.MarshalBinary()
	require.ErrorIs(t, err, ErrMalformed)
	bad = natExpect(1)
	bad.NATDir = 2
	_, err = record{recordOp: opExpect, Expect: bad}.MarshalBinary()
	require.ErrorIs(t, err, ErrMalformed)
}

// expectRecords are the expectation records FuzzRecord starts from.
func expectRecords() []record {
	return []record{
		{recordOp: opExpect, Expect: testExpect(1)},
		{recordOp: opExpect, Expect: natExpect(2)},
		{recordOp: opExpectDelete, Expect: Expectation{Key: testExpect(3).Key}},
	}
}

func TestTableExpectations(t *testing.T) {
	tb := NewTable(0)
	now := t0
	for i := range MaxExpectations {
		e := testExpect(i)
		e.Expires = uint32(now.Unix()) + uint32(1+i%2) // half expire at +1 s
		require.True(t, tb.UpsertExpect(now, e))
	}
	require.Equal(t, MaxExpectations, tb.ExpectLen())
	extra := testExpect(MaxExpectations)
	require.False(t, tb.UpsertExpect(now, extra), "full, nothing expired")
	require.True(t, tb.UpsertExpect(now, testExpect(5)), "a replacement fits")
	require.True(t, tb.UpsertExpect(now.Add(time.Second), extra), "the expired ones make room")
	require.Equal(t, MaxExpectations/2+1, tb.ExpectLen())
	got, ok := tb.DeleteExpect(extra.Key)
	require.True(t, ok)
	require.Equal(t, extra, got)
	require.Equal(t, MaxExpectations/2, tb.ExpireExpects(now.Add(time.Hour), nil))
	require.Zero(t, tb.ExpectLen())
}

func TestExpectationsReplicated(t *testing.T) {
	p := newPipe(t, 0.05, 0.1)
	p.src.Upsert(testSession(1))
	stale := natExpect(9)
	p.dst.UpsertExpect(p.now, stale) // the bulk sync's end removes it
	// One the source received from another unit: not its own to send.
	p.src.storeExpect(p.now, normalExpect(natExpect(8)), 3, 1)
	// One before the first bulk sync ends: the bulk carries it.
	e1 := testExpect(1)
	require.True(t, p.src.UpsertExpect(p.now, e1))
	p.settle(5 * time.Second)
	require.Equal(t, []Expectation{e1}, p.dst.Expectations(nil))

	// Then changes: a new one, and the first one's connection arrives.
	e2 := natExpect(2)
	require.True(t, p.src.UpsertExpect(p.now, e2))
	p.s.UpsertExpect(p.now, e2)
	p.src.DeleteExpect(e1.Key)
	p.s.DeleteExpect(p.now, e1.Key)
	p.settle(5 * time.Second)
	require.Equal(t, []Expectation{e2}, p.dst.Expectations(nil))
	require.Zero(t, p.r.Stats().DropExpect)
}
