package statesync

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testSession returns a deterministic session number i: IPv4 or IPv6, some
// with NAT.
func testSession(i int) Session {
	var src, dst netip.Addr
	if i%3 == 2 {
		src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i)})
		dst = netip.MustParseAddr("2001:db8::80")
	} else {
		src = netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)})
		dst = netip.AddrFrom4([4]byte{198, 19, byte(i), 1})
	}
	s := Session{
		Key: Key{
			Zone:  uint16(i % 4),
			Proto: 6,
			Src:   netip.AddrPortFrom(src, uint16(1024+i%60000)),
			Dst:   netip.AddrPortFrom(dst, 443),
		},
		State:   TCPStateEstablished,
		Status:  0x1ce,
		Expires: 2_000_000_000,
		Packets: uint64(i),
		Bytes:   uint64(i) * 100,
		Mark:    uint32(i),
	}
	if i%5 == 0 && src.Is4() {
		s.ReplySrc = s.Key.Dst
		s.ReplyDst = netip.AddrPortFrom(netip.MustParseAddr("198.18.255.1"), uint16(i))
	}
	if i%50 == 7 {
		s.Helper = "ftp"
		if i%100 == 7 {
			s.SeqAdj[0] = SeqAdj{CorrectionPos: uint32(i), After: 4}
		}
	}
	return s
}

func TestTableMatchesMap(t *testing.T) {
	tab := NewTable(0)
	oracle := map[Key]Session{}
	r := rand.New(rand.NewPCG(1, 2))
	const keys = 5000
	for op := 0; op < 60000; op++ {
		i := r.IntN(keys)
		s := testSession(i)
		switch r.IntN(3) {
		case 0, 1:
			s.Packets = uint64(op)
			prev := oracle[s.Key]
			got := tab.Upsert(s)
			s.Version = prev.Version + 1
			require.Equal(t, s, got)
			oracle[s.Key] = s
		case 2:
			old, ok := tab.Delete(s.Key)
			want, wok := oracle[s.Key]
			require.Equal(t, wok, ok)
			require.Equal(t, want, old)
			delete(oracle, s.Key)
		}
	}
	require.Equal(t, len(oracle), tab.Len())
	for k, want := range oracle {
		got, ok := tab.Get(k)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
	seen := 0
	tab.Range(func(s Session) bool {
		require.Equal(t, oracle[s.Key], s)
		seen++
		return true
	})
	require.Equal(t, len(oracle), seen)
}

func TestTableNormalises(t *testing.T) {
	tab := NewTable(0)
	s := testSession(1)
	s.ReplySrc, s.ReplyDst = s.Key.Dst, s.Key.Src // explicitly reversed: no NAT
	got := tab.Upsert(s)
	require.False(t, got.NAT())
	g, _ := tab.Get(s.Key)
	require.Equal(t, got, g)

	z := testSession(2) // IPv6
	z.Key.Src = netip.AddrPortFrom(z.Key.Src.Addr().WithZone("eth0"), 5)
	got = tab.Upsert(z)
	require.Empty(t, got.Key.Src.Addr().Zone())
	_, ok := tab.Get(got.Key)
	require.True(t, ok)

	var zero Session // invalid addresses are kept as invalid
	tab.Store(zero)
	g, ok = tab.Get(Key{})
	require.True(t, ok)
	require.Equal(t, zero, g)
}

func TestTableExpire(t *testing.T) {
	tab := NewTable(0)
	now := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		s := testSession(i)
		switch i % 3 {
		case 0:
			s.Expires = Deadline(now.Add(-time.Second))
		case 1:
			s.Expires = Deadline(now.Add(time.Minute))
		case 2:
			s.Expires = 0
		}
		tab.Upsert(s)
	}
	var gone []Session
	n := tab.Expire(now, func(s Session) { gone = append(gone, s) })
	require.Equal(t, 334, n)
	require.Len(t, gone, 334)
	require.Equal(t, 666, tab.Len())
	for _, s := range gone {
		_, ok := tab.Get(s.Key)
		require.False(t, ok)
	}
	require.Zero(t, tab.Expire(now, nil))
	require.Equal(t, 333, tab.Expire(now.Add(time.Hour), nil))
}

func TestTableConcurrentWriters(t *testing.T) {
	tab := NewTable(0)
	var wg sync.WaitGroup
	const per = 2000
	for w := range 8 {
		wg.Go(func() {
			for i := range per {
				s := testSession(w*per + i)
				tab.Upsert(s)
				tab.Get(s.Key)
				if i%4 == 0 {
					tab.Delete(s.Key)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 8*per*3/4, tab.Len())
}

func TestDeadline(t *testing.T) {
	require.Zero(t, Deadline(time.Time{}))
	require.Equal(t, uint32(10), Deadline(time.Unix(10, 0)))
	require.Equal(t, uint32(11), Deadline(time.Unix(10, 1)))
	require.Equal(t, uint32(1), Deadline(time.Unix(-5, 0)))
	s := Session{Expires: 10}
	require.Equal(t, time.Unix(10, 0), s.ExpiresAt())
}

// heapBytesPerSession builds an n-entry table and returns the heap it holds
// per session, measured as the HeapAlloc delta after GC.
func heapBytesPerSession(n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := NewTable(0)
	for i := range n {
		s := Session{
			Key: Key{Proto: 6,
				Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)}), uint16(i)),
				Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, 1}), 443)},
			State: TCPStateEstablished, Expires: 2_000_000_000, Packets: uint64(i),
		}
		tab.Upsert(s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tab)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestTableMemory reports the resident bytes per session of a table of
// STATESYNC_MEM_ENTRIES entries (default 100,000; set 1000000 for the
// 1M-entry figure) and fails above 128.
func TestTableMemory(t *testing.T) {
	n := 100_000
	if v := os.Getenv("STATESYNC_MEM_ENTRIES"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	per := heapBytesPerSession(n)
	t.Logf("%d entries: %.1f bytes/session", n, per)
	require.LessOrEqual(t, per, 128.0, fmt.Sprintf("%d entries", n))
}

// BenchmarkTableMemory builds a 1,000,000-entry table per iteration and
// reports bytes/session.
func BenchmarkTableMemory(b *testing.B) {
	var per float64
	for b.Loop() {
		per = heapBytesPerSession(1_000_000)
	}
	b.ReportMetric(per, "bytes/session")
}

func BenchmarkTableUpsert(b *testing.B) {
	tab := NewTable(1 << 20)
	ss := make([]Session, 1<<16)
	for i := range ss {
		ss[i] = testSession(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tab.Upsert(ss[i&(1<<16-1)])
		i++
	}
}

func BenchmarkTableGet(b *testing.B) {
	tab := NewTable(1 << 20)
	ss := make([]Session, 1<<16)
	for i := range ss {
		ss[i] = testSession(i)
		tab.Upsert(ss[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tab.Get(ss[i&(1<<16-1)].Key)
		i++
	}
}
