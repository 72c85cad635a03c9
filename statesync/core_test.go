package statesync

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// pipe is an in-memory lossy, reordering, delaying link between a sender
// and a receiver, driven by virtual time in steps of 1 ms.
type pipe struct {
	t        *testing.T
	now      time.Time
	rng      *rand.Rand
	loss     float64 // share of datagrams dropped, each direction
	reorder  float64 // share of datagrams delayed by an extra 1-5 ms
	src      *Table
	dst      *Table
	s        *Sender
	r        *Receiver
	inflight []flight
	buf      [][]byte
	events   []Event
}

type flight struct {
	at    time.Time
	toRcv bool
	b     []byte
	order int
}

func newPipe(t *testing.T, loss, reorder float64) *pipe {
	t.Helper()
	p := &pipe{t: t, now: t0, rng: rand.New(rand.NewPCG(7, 9)), loss: loss, reorder: reorder,
		src: NewTable(0), dst: NewTable(0)}
	var err error
	p.s, err = NewSender(p.now, &SenderConfig{Table: p.src, Keys: testKeys(t, []byte("k3y")), Window: 512})
	require.NoError(t, err)
	p.newReceiver()
	introduce(p.s, p.r)
	return p
}

func (p *pipe) newReceiver() {
	var err error
	p.r, err = NewReceiver(p.now, &ReceiverConfig{Table: p.dst, Keys: testKeys(p.t, []byte("k3y")), Window: 512})
	require.NoError(p.t, err)
}

var order int

func (p *pipe) send(toRcv bool, bufs [][]byte) {
	for _, b := range bufs {
		if p.rng.Float64() < p.loss {
			continue
		}
		d := time.Millisecond
		if p.rng.Float64() < p.reorder {
			d += time.Duration(1+p.rng.IntN(5)) * time.Millisecond
		}
		order++
		p.inflight = append(p.inflight, flight{at: p.now.Add(d), toRcv: toRcv, b: append([]byte(nil), b...), order: order})
	}
}

// step advances virtual time by 1 ms: delivers due datagrams, ticks both.
func (p *pipe) step() {
	p.now = p.now.Add(time.Millisecond)
	sort.SliceStable(p.inflight, func(i, j int) bool { return p.inflight[i].at.Before(p.inflight[j].at) })
	var keep []flight
	for _, f := range p.inflight {
		if f.at.After(p.now) {
			keep = append(keep, f)
			continue
		}
		if f.toRcv {
			if p.r != nil {
				// A new receiver drops the datagrams of a stream that
				// does not echo its nonce, until the sender starts one.
				// In flight, the datagrams of a stream it replaced.
				if err := p.r.Step(p.now, f.b); !errors.Is(err, ErrStaleNonce) && !errors.Is(err, ErrReplay) {
					require.NoError(p.t, err)
				}
			}
		} else {
			_ = p.s.Step(p.now, f.b) // stale acks of an old stream are fine
		}
	}
	p.inflight = keep
	p.s.Tick(p.now)
	p.send(true, p.s.Output(p.buf[:0]))
	if p.r != nil {
		p.r.Tick(p.now)
		p.send(false, p.r.Output(p.buf[:0]))
	}
	p.takeEvents()
}

// takeEvents collects the cores' events.
func (p *pipe) takeEvents() {
	p.events = p.s.Events(p.events)
	if p.r != nil {
		p.events = p.r.Events(p.events)
	}
}

func (p *pipe) upsert(s Session) {
	s = p.src.Upsert(s)
	p.s.Upsert(p.now, s)
	p.send(true, p.s.Output(p.buf[:0]))
	p.takeEvents()
}

func (p *pipe) delete(k Key) {
	if _, ok := p.src.Delete(k); ok {
		p.s.Delete(p.now, k)
		p.send(true, p.s.Output(p.buf[:0]))
	}
}

// settle runs until the receiver is in sync and the sender acked, or fails.
func (p *pipe) settle(limit time.Duration) {
	p.t.Helper()
	end := p.now.Add(limit)
	for p.now.Before(end) {
		p.step()
		if p.r.InSync() && p.s.Acked() && len(p.inflight) == 0 {
			return
		}
	}
	sent, total, run := p.s.Progress()
	p.t.Fatalf("not settled after %v: inSync=%v acked=%v bulk=%d/%d running=%v sender=%+v receiver=%+v",
		limit, p.r.InSync(), p.s.Acked(), sent, total, run, p.s.Stats(), p.r.Stats())
}

// requireEqualTables checks 0 missing, 0 extra, 0 differing.
func requireEqualTables(t *testing.T, src, dst *Table) {
	t.Helper()
	missing, differing, extra := 0, 0, 0
	src.Range(func(s Session) bool {
		got, ok := dst.Get(s.Key)
		switch {
		case !ok:
			missing++
		case got != s:
			differing++
		}
		return true
	})
	dst.Range(func(s Session) bool {
		if _, ok := src.Get(s.Key); !ok {
			extra++
		}
		return true
	})
	require.Zero(t, missing, "missing")
	require.Zero(t, extra, "extra")
	require.Zero(t, differing, "differing")
	require.Equal(t, src.Len(), dst.Len())
}

// churn applies n random changes over keys sessions, stepping time.
func (p *pipe) churn(n, keys int, rng *rand.Rand) {
	for i := range n {
		k := rng.IntN(keys)
		s := testSession(k)
		if rng.IntN(4) == 0 {
			p.delete(s.Key)
		} else {
			s.Packets = uint64(i)
			p.upsert(s)
		}
		if i%50 == 0 {
			p.step()
		}
	}
}

func TestReplicationLossless(t *testing.T) {
	p := newPipe(t, 0, 0)
	p.churn(5000, 2000, rand.New(rand.NewPCG(1, 1)))
	p.settle(5 * time.Second)
	requireEqualTables(t, p.src, p.dst)
	require.Zero(t, p.s.Stats().Resyncs)
}

func TestReplicationLossReorder(t *testing.T) {
	for _, tc := range []struct {
		name          string
		loss, reorder float64
	}{
		{"loss5", 0.05, 0},
		{"loss5-reorder10", 0.05, 0.10},
		{"loss20-reorder20", 0.20, 0.20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipe(t, tc.loss, tc.reorder)
			for i := range 3000 { // present before the receiver joins
				p.src.Upsert(testSession(i))
			}
			p.s, _ = NewSender(p.now, &SenderConfig{Table: p.src, Keys: testKeys(t, []byte("k3y")), Window: 512})
			introduce(p.s, p.r)
			introduce(p.s, p.r)
			p.churn(20000, 6000, rand.New(rand.NewPCG(2, 2)))
			p.settle(20 * time.Second)
			requireEqualTables(t, p.src, p.dst)
		})
	}
}

func TestReplicationReceiverRestartMidBulk(t *testing.T) {
	p := newPipe(t, 0.05, 0.1)
	for i := range 20000 {
		p.src.Upsert(testSession(i))
	}
	// Stale entries on the replica that the source does not have.
	for i := 30000; i < 30100; i++ {
		p.dst.Store(testSession(i))
	}
	p.s, _ = NewSender(p.now, &SenderConfig{Table: p.src, Keys: testKeys(t, []byte("k3y")), Window: 512})
	introduce(p.s, p.r)
	for range 5 {
		p.step()
	}
	got, total, running := p.r.Progress()
	require.True(t, running)
	require.Less(t, got, total)
	// The receiver restarts (keeping its table, as the conntrack mirror
	// would), while updates keep coming.
	p.newReceiver()
	p.churn(3000, 25000, rand.New(rand.NewPCG(3, 3)))
	p.settle(20 * time.Second)
	requireEqualTables(t, p.src, p.dst)
	require.NotZero(t, p.s.Stats().Resyncs)
}

func TestReplicationWindowOverflowResyncs(t *testing.T) {
	p := newPipe(t, 0, 0)
	p.settle(time.Second)
	r := p.r
	p.r = nil // receiver unreachable
	p.churn(50000, 4000, rand.New(rand.NewPCG(4, 4)))
	for range 100 {
		p.step()
	}
	require.NotZero(t, p.s.Stats().Resyncs)
	require.NotZero(t, p.s.Stats().Suppressed)
	var sawResync bool
	for _, e := range p.events {
		sawResync = sawResync || e.Kind == EventResync
	}
	require.True(t, sawResync)
	p.r = r
	p.inflight = nil
	p.settle(10 * time.Second)
	requireEqualTables(t, p.src, p.dst)
}

func TestCommitAppliesBufferedBeyondGap(t *testing.T) {
	p := newPipe(t, 0, 0)
	p.settle(time.Second)
	// Lose one datagram, deliver later ones; the sender then dies.
	for i := range 200 {
		p.s.Upsert(p.now, p.src.Upsert(testSession(i)))
	}
	p.s.Flush(p.now)
	out := p.s.Output(nil)
	require.Greater(t, len(out), 3)
	for i, b := range out {
		if i == 1 {
			continue
		}
		require.NoError(t, p.r.Step(p.now, b))
	}
	require.Equal(t, uint64(len(out)-2), p.r.Stats().Buffered)
	res := p.r.Commit(p.now)
	require.Equal(t, len(out)-2, res.Applied)
	require.Equal(t, uint64(1), res.Lost)
	require.Error(t, p.r.Step(p.now, out[1]))
}

// A bulk sync whose datagrams were partly lost must not sweep at commit: the
// sweep would delete, as stale, every session whose bulk records are in the
// missing datagrams (found by examples/failover under 20% sync loss).
func TestCommitAfterGapDoesNotSweep(t *testing.T) {
	p := newPipe(t, 0, 0)
	for i := range 300 {
		p.upsert(testSession(i))
	}
	p.settle(5 * time.Second)
	require.Equal(t, 300, p.dst.Len())

	// The receiver restarts and a new stream's bulk sync arrives with its
	// second datagram lost; then the sender dies and the standby commits.
	p.now = p.now.Add(time.Second)
	p.newReceiver()
	s2, err := NewSender(p.now, &SenderConfig{Table: p.src, Keys: testKeys(t, []byte("k3y")), Window: 512})
	require.NoError(t, err)
	introduce(s2, p.r)
	var out [][]byte
	for range 100 {
		p.now = p.now.Add(time.Millisecond)
		s2.Tick(p.now)
		for _, b := range s2.Output(nil) {
			out = append(out, append([]byte(nil), b...))
		}
		if sent, total, running := s2.Progress(); !running && sent == total {
			break
		}
	}
	s2.Flush(p.now)
	for _, b := range s2.Output(nil) {
		out = append(out, append([]byte(nil), b...))
	}
	require.Greater(t, len(out), 3, "the bulk needs several datagrams")
	for i, b := range out {
		if i == 1 {
			continue
		}
		require.NoError(t, p.r.Step(p.now, b))
	}
	res := p.r.Commit(p.now)
	require.NotZero(t, res.Lost)
	require.Equal(t, 300, p.dst.Len(), "sessions of the lost bulk datagram were swept")
}

// TestOperatorResync: a resync asked by an operator on either side
// replaces the replica, stale entries included, and is counted.
func TestOperatorResync(t *testing.T) {
	p := newPipe(t, 0, 0)
	for i := range 2000 {
		p.src.Upsert(testSession(i))
	}
	p.settle(2 * time.Second)
	requireEqualTables(t, p.src, p.dst)
	for _, side := range []string{"sender", "receiver"} {
		p.dst.Store(testSession(90_000)) // a stale entry on the replica
		if side == "sender" {
			p.s.Resync(p.now)
		} else {
			p.r.RequestResync(p.now)
		}
		p.settle(2 * time.Second)
		requireEqualTables(t, p.src, p.dst)
	}
	require.Equal(t, uint64(2), p.s.Stats().Resyncs)
	require.Equal(t, uint64(1), p.r.Stats().Resyncs)
}

// TestBulkSyncStreams: a bulk sync reads the table as it goes, paced by
// the window, and allocates nothing per session: what it holds does not
// grow with the table (the joining unit's replica aside).
func TestBulkSyncStreams(t *testing.T) {
	perSession := func(n int) float64 {
		p := newPipe(t, 0, 0)
		for i := range n {
			p.src.Upsert(testSession(i))
		}
		p.s, _ = NewSender(p.now, &SenderConfig{Table: p.src, Window: 256})
		fr := newFramer(nil, identity{})
		var out [][]byte
		var ackBuf []byte
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		// Only the sending half: its datagrams are thrown away.
		for done := false; !done; {
			p.now = p.now.Add(time.Millisecond)
			p.s.Tick(p.now)
			out = p.s.Output(out[:0])
			_, _, running := p.s.Progress()
			// Acknowledge everything so that the window moves on.
			ack := ackPayload{Epoch: p.s.Epoch(), Cum: p.s.next - 1}
			ackBuf = fr.begin(ackBuf[:0], typeAck, uint64(p.now.UnixNano()), p.s.stats.Acks+1, 0)
			ackBuf, _ = ack.AppendBinary(ackBuf)
			ackBuf = fr.seal(ackBuf)
			require.NoError(t, p.s.Step(p.now, ackBuf))
			done = !running && len(out) == 0
		}
		runtime.ReadMemStats(&after)
		sent, total, _ := p.s.Progress()
		require.Equal(t, uint64(n), sent)
		require.Equal(t, uint64(n), total)
		return float64(after.TotalAlloc - before.TotalAlloc)
	}
	small, large := perSession(20_000), perSession(200_000)
	t.Logf("allocated by the bulk sync: %.0f bytes (20,000 sessions), %.0f bytes (200,000)", small, large)
	require.Less(t, (large-small)/180_000, 0.1, "the bulk sync allocates nothing per session")
}
