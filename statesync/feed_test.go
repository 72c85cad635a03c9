package statesync

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mirror is a Feed's consumer for tests: it applies the changes to a map.
type mirror map[Key]Session

func (m mirror) apply(cs []Change) {
	for _, c := range cs {
		if c.Deleted {
			delete(m, c.Session.Key)
		} else {
			m[c.Session.Key] = c.Session
		}
	}
}

// drainAll calls Next until it returns fewer than max, applying each batch.
func (m mirror) drainAll(f *Feed, max int) int {
	var buf []Change
	n := 0
	for {
		buf = f.Next(buf[:0], max)
		m.apply(buf)
		n += len(buf)
		if len(buf) < max {
			return n
		}
	}
}

func requireMirrors(t *testing.T, tab *Table, m mirror) {
	t.Helper()
	require.Equal(t, tab.Len(), len(m))
	tab.Range(func(s Session) bool {
		require.Equal(t, s, m[s.Key])
		return true
	})
}

// TestFeedMirrorsTable checks the feed against its contract with random
// upserts, deletes, expiries and re-insertions, the consumer draining a few
// changes at a time in between: after a full drain the consumer holds
// exactly the table.
func TestFeedMirrorsTable(t *testing.T) {
	tab := NewTable(0)
	r := rand.New(rand.NewPCG(3, 4))
	const keys = 3000
	for i := range 500 { // sessions older than the feed
		tab.Upsert(testSession(i))
	}
	f, err := tab.Feed()
	require.NoError(t, err)
	_, err = tab.Feed()
	require.Error(t, err, "one feed per table")
	select {
	case <-f.Ready():
	default:
		t.Fatal("a table with sessions signals at once")
	}
	m := mirror{}
	var buf []Change
	now := time.Unix(1_700_000_000, 0)
	for op := range 100_000 {
		s := testSession(r.IntN(keys))
		switch r.IntN(10) {
		case 0, 1, 2, 3, 4:
			s.Packets = uint64(op)
			tab.Upsert(s)
		case 5:
			s.Version = uint64(op)
			tab.Store(s)
		case 6, 7:
			tab.Delete(s.Key)
		case 8:
			if op%100 == 0 {
				s.Expires = Deadline(now)
				tab.Upsert(s)
				tab.Expire(now, nil)
			}
		case 9:
			buf = f.Next(buf[:0], 1+r.IntN(50))
			m.apply(buf)
		}
	}
	m.drainAll(f, 64)
	requireMirrors(t, tab, m)
	require.Zero(t, f.Len())
	require.Empty(t, f.Next(nil, 10), "nothing left")

	f.Close()
	f.Close()
	tab.Upsert(testSession(1))
	f2, err := tab.Feed()
	require.NoError(t, err, "a new feed after Close")
	m2 := mirror{}
	require.Equal(t, tab.Len(), m2.drainAll(f2, 100), "a new feed starts with the whole table")
	requireMirrors(t, tab, m2)
}

// TestFeedCoalesces: a session changed many times between two calls of
// Next is returned once, as it is now; one inserted and removed before the
// consumer looked is not returned at all.
func TestFeedCoalesces(t *testing.T) {
	tab := NewTable(0)
	f, err := tab.Feed()
	require.NoError(t, err)
	s := testSession(1)
	for i := range 100 {
		s.Packets = uint64(i)
		tab.Upsert(s)
	}
	brief := testSession(2)
	tab.Upsert(brief)
	tab.Delete(brief.Key)
	got := f.Next(nil, 10)
	require.Len(t, got, 1)
	require.False(t, got[0].Deleted)
	require.Equal(t, uint64(99), got[0].Session.Packets)
	require.Equal(t, uint64(100), got[0].Session.Version)

	// Removed after the consumer saw it: a deletion; then inserted again:
	// the deletion first, then the session.
	tab.Delete(s.Key)
	tab.Upsert(s)
	got = f.Next(nil, 10)
	require.Len(t, got, 2)
	require.True(t, got[0].Deleted)
	require.Equal(t, s.Key, got[0].Session.Key)
	require.False(t, got[1].Deleted)
}

// TestFeedConcurrent runs writers against a draining consumer (for the
// race detector) and checks the mirror after they stop.
// TestFeedSkipsUnchanged: a replica told again what it already holds (the
// bulk sync after a resync: the same versions) gives the consumer nothing
// to do; a change in the same version, or a new version, does.
func TestFeedSkipsUnchanged(t *testing.T) {
	tab := NewTable(0)
	for i := range 100 {
		s := testSession(i)
		s.Version = 5
		tab.Store(s)
	}
	f, err := tab.Feed()
	require.NoError(t, err)
	defer f.Close()
	m := mirror{}
	require.Equal(t, 100, m.drainAll(f, 64))
	for i := range 100 {
		s := testSession(i)
		s.Version = 5
		tab.Store(s)
	}
	require.Zero(t, m.drainAll(f, 64), "all as the consumer has them")
	s := testSession(3)
	s.Version, s.Packets = 5, 99 // the same version, other counters
	tab.Store(s)
	s = testSession(4)
	s.Version = 6
	tab.Store(s)
	require.Equal(t, 2, m.drainAll(f, 64))
	requireMirrors(t, tab, m)
}

// TestFeedChanges: a consumer that holds the table already gets only what
// changes afterwards, removals included.
func TestFeedChanges(t *testing.T) {
	tab := NewTable(0)
	m := mirror{}
	for i := range 100 {
		m[testSession(i).Key] = tab.Upsert(testSession(i))
	}
	f, err := tab.FeedChanges()
	require.NoError(t, err)
	defer f.Close()
	require.Zero(t, m.drainAll(f, 64))
	tab.Delete(testSession(1).Key)
	m[testSession(2).Key] = tab.Upsert(testSession(2))
	m[testSession(200).Key] = tab.Upsert(testSession(200))
	require.Equal(t, 3, m.drainAll(f, 64))
	requireMirrors(t, tab, m)
	_, err = tab.Feed()
	require.Error(t, err, "one feed at a time")
}

func TestFeedConcurrent(t *testing.T) {
	tab := NewTable(0)
	f, err := tab.Feed()
	require.NoError(t, err)
	m := mirror{}
	stop := make(chan struct{})
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		var buf []Change
		for {
			select {
			case <-stop:
				return
			case <-f.Ready():
			}
			for {
				buf = f.Next(buf[:0], 256)
				m.apply(buf)
				if len(buf) < 256 {
					break
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 20_000 {
				s := testSession(r.IntN(5000))
				if r.IntN(3) == 0 {
					tab.Delete(s.Key)
				} else {
					s.Packets = uint64(i)
					tab.Upsert(s)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-consumed
	m.drainAll(f, 256)
	requireMirrors(t, tab, m)
}

func TestTableMarkUnmarked(t *testing.T) {
	tab := NewTable(0)
	for i := range 1000 {
		tab.Upsert(testSession(i))
	}
	keys, _, done := tab.Unmarked(nil, 0, 10_000)
	require.True(t, done)
	require.Len(t, keys, 0, "upserted sessions carry the current mark")
	for range 300 { // wraps the 8-bit generation
		tab.Mark()
		for i := range 1000 {
			if i%10 != 0 {
				tab.Upsert(testSession(i))
			}
		}
		keys = keys[:0]
		var c Cursor
		for done := false; !done; {
			keys, c, done = tab.Unmarked(keys, c, 7)
		}
		require.Len(t, keys, 100)
		for _, k := range keys {
			tab.Upsert(Session{Key: k}) // back for the next round
		}
	}
	replica := testSession(5000) // left by a replica before a takeover
	tab.Store(replica)
	other := testSession(5001) // another unit's, active-active
	tab.upsert(&other, false, 3, 1)
	tab.Mark()
	for i := range 1000 {
		tab.Upsert(testSession(i))
	}
	keys, _, _ = tab.Unmarked(nil, 0, 10_000)
	require.Equal(t, []Key{replica.Key}, keys, "stored sessions of origin 0 are reconciled, other origins' are not")
	require.True(t, tab.Local(replica.Key))
	require.True(t, tab.Local(testSession(1).Key))
	require.False(t, tab.Local(other.Key), "another unit's")
	require.False(t, tab.Local(testSession(9999).Key), "absent")
}

func TestTableScanExpiring(t *testing.T) {
	tab := NewTable(0)
	for i := range 1000 {
		s := testSession(i)
		s.Expires = uint32(1000 + i)
		if i%100 == 0 {
			s.Expires = 0
		}
		tab.Upsert(s)
	}
	var got, batch []Session
	var c Cursor
	for done := false; !done; {
		batch, c, done = tab.ScanExpiring(batch[:0], c, 1099, 13)
		require.LessOrEqual(t, len(batch), 13)
		got = append(got, batch...)
	}
	require.Len(t, got, 99) // 1001..1099
	for _, s := range got {
		require.True(t, s.Expires >= 1001 && s.Expires <= 1099)
	}
	n := 0
	for c, done := Cursor(0), false; !done; {
		batch, c, done = tab.Scan(batch[:0], c, 100)
		n += len(batch)
	}
	require.Equal(t, 1000, n)
}

// BenchmarkTableUpsertFeed is BenchmarkTableUpsert with a Feed drained
// every 1024 writes: the cost of following a table's changes on its
// writers' path. 0 allocs.
func BenchmarkTableUpsertFeed(b *testing.B) {
	tab := NewTable(1 << 20)
	ss := make([]Session, 1<<16)
	for i := range ss {
		ss[i] = testSession(i)
	}
	f, err := tab.Feed()
	require.NoError(b, err)
	buf := make([]Change, 0, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tab.Upsert(ss[i&(1<<16-1)])
		i++
		if i%1024 == 0 {
			for len(f.Next(buf[:0], 1024)) == 1024 {
			}
		}
	}
}

// BenchmarkFeedNext: the consumer's cost per change returned.
func BenchmarkFeedNext(b *testing.B) {
	tab := NewTable(1 << 20)
	ss := make([]Session, 1<<16)
	for i := range ss {
		ss[i] = testSession(i)
		tab.Upsert(ss[i])
	}
	f, err := tab.Feed()
	require.NoError(b, err)
	buf := make([]Change, 0, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if len(f.Next(buf[:0], 1)) == 0 {
			b.StopTimer()
			for j := range 1 << 16 {
				tab.Upsert(ss[(i+j)&(1<<16-1)])
			}
			b.StartTimer()
		}
		i++
	}
}

// BenchmarkTableScan: reading a table a batch at a time (0 allocs).
func BenchmarkTableScan(b *testing.B) {
	tab := NewTable(1 << 16)
	for i := range 1 << 16 {
		tab.Upsert(testSession(i))
	}
	buf := make([]Session, 0, 256)
	var c Cursor
	b.ReportAllocs()
	for b.Loop() {
		var done bool
		buf, c, done = tab.Scan(buf[:0], c, 256)
		if done {
			c = 0
		}
	}
}
