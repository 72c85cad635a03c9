package member_test

import (
	"bytes"

	"fmt"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newGuard(t *testing.T, unit uint16, priority uint8) *member.LoopGuard {
	t.Helper()
	g, err := member.NewLoopGuard(&member.LoopGuardConfig{ClusterID: 7, UnitID: unit, Priority: priority})
	require.NoError(t, err)
	return g
}

// link carries the guards' probes between two simulated units that are
// both on the same two segments: what one sends out of a side, the other
// hears on that side; if a unit's bridge forwards, it also carries the
// other's probe to the other side, where the sender hears it back.
type link struct {
	g    [2]*member.LoopGuard
	fwd  [2]bool
	now  time.Time
	seen [2]int // ticks at which both forwarded
}

func (l *link) step(t *testing.T) {
	t.Helper()
	var probes [2]*member.LoopProbe
	for i, g := range l.g {
		d := g.Tick(l.now)
		l.fwd[i] = d.Forward
		probes[i] = d.Probe
	}
	if l.fwd[0] && l.fwd[1] {
		l.seen[0]++
	}
	for i, p := range probes {
		if p == nil {
			continue
		}
		o := 1 - i
		for side := range 2 {
			q := *p
			q.Side = uint8(side)
			l.g[o].Heard(l.now, side, &q)
			if l.fwd[o] { // o's bridge carries it to i's other side
				l.g[i].Heard(l.now, 1-side, &q)
			}
		}
	}
	l.now = l.now.Add(5 * time.Millisecond)
}

func (l *link) run(t *testing.T, d time.Duration) {
	for end := l.now.Add(d); l.now.Before(end); {
		l.step(t)
	}
}

func TestLoopGuardSplitBrain(t *testing.T) {
	l := &link{g: [2]*member.LoopGuard{newGuard(t, 1, 200), newGuard(t, 2, 100)}, now: t0}
	l.g[1].SetWant(l.now, true) // the lower-ranked unit is primary first
	l.run(t, 100*time.Millisecond)
	require.Equal(t, [2]bool{false, true}, l.fwd)
	// A split brain: the other becomes primary too. The incumbent keeps
	// the traffic whatever the ranks.
	l.g[0].SetWant(l.now, true)
	l.run(t, time.Second)
	require.Equal(t, [2]bool{false, true}, l.fwd)
	require.Zero(t, l.seen[0], "both forwarded")
	// The heal: the incumbent is demoted; its last probe says so, and the
	// other forwards after listening again (Listen), not after Quiet.
	l.g[1].SetWant(l.now, false)
	start := l.now
	for !l.fwd[0] {
		l.step(t)
	}
	require.LessOrEqual(t, l.now.Sub(start), 30*time.Millisecond)
	require.Zero(t, l.seen[0], "both forwarded")
}

func TestLoopGuardSimultaneous(t *testing.T) {
	l := &link{g: [2]*member.LoopGuard{newGuard(t, 1, 100), newGuard(t, 2, 200)}, now: t0}
	l.g[0].SetWant(l.now, true)
	l.g[1].SetWant(l.now, true)
	l.run(t, time.Second)
	require.Equal(t, [2]bool{false, true}, l.fwd, "the higher-ranked unit forwards")
	require.Zero(t, l.seen[0], "both forwarded")
}

func TestLoopGuardPeerGone(t *testing.T) {
	l := &link{g: [2]*member.LoopGuard{newGuard(t, 1, 200), newGuard(t, 2, 100)}, now: t0}
	l.g[0].SetWant(l.now, true)
	l.g[1].SetWant(l.now, true)
	l.run(t, 200*time.Millisecond)
	require.Equal(t, [2]bool{true, false}, l.fwd)
	// Unit 1 loses power: no last probe; unit 2 forwards after Quiet.
	dead := newGuard(t, 1, 200)
	l.g[0] = dead
	start := l.now
	for !l.fwd[1] {
		l.step(t)
	}
	require.GreaterOrEqual(t, l.now.Sub(start), 40*time.Millisecond, "Quiet since its last probe")
	require.Less(t, l.now.Sub(start), 70*time.Millisecond)
}

// A probe of its own on the other side, with nobody to blame: another
// bridge (hung, or not ours) forwards. The guard does not start, and a
// forwarding guard stops.
func TestLoopGuardCrossing(t *testing.T) {
	g := newGuard(t, 1, 200)
	now := t0
	g.SetWant(now, true)
	var last member.LoopDecision
	for range 100 {
		last = g.Tick(now)
		if p := last.Probe; p != nil {
			q := *p
			q.Side = 0
			g.Heard(now, 1, &q) // sent on side 0, heard on side 1
		}
		now = now.Add(5 * time.Millisecond)
	}
	require.False(t, last.Forward)
	require.True(t, last.Held)
	require.NotZero(t, g.Stats().Crossed)

	// This unit stalls for longer than Quiet: it sent no probes, so
	// hearing none come back proves nothing. It listens again first.
	now = now.Add(100 * time.Millisecond)
	require.False(t, g.Tick(now).Forward, "forwarded on the silence of its own stall")

	// Once the other bridge stops, the guard forwards after Quiet.
	for range 20 {
		last = g.Tick(now)
		now = now.Add(5 * time.Millisecond)
	}
	require.True(t, last.Forward)
	// It comes back: stop at once.
	g.Heard(now, 1, &member.LoopProbe{ClusterID: 7, UnitID: 1, Side: 0})
	last = g.Tick(now)
	require.False(t, last.Forward)
	require.True(t, last.Changed)
	require.Contains(t, last.Reason, "came back")
}

func TestLoopGuardYieldsToHigher(t *testing.T) {
	g := newGuard(t, 2, 100)
	now := t0
	g.SetWant(now, true)
	for range 10 {
		g.Tick(now)
		now = now.Add(5 * time.Millisecond)
	}
	require.True(t, g.Tick(now).Forward)
	g.Heard(now, 0, &member.LoopProbe{ClusterID: 7, UnitID: 1, Priority: 200, Want: true, Forwarding: true})
	d := g.Tick(now)
	require.False(t, d.Forward)
	require.Contains(t, d.Reason, "unit 1")
	require.NotNil(t, d.Probe, "tells the others at once")
	require.False(t, d.Probe.Forwarding)
	require.Equal(t, uint64(1), g.Stats().Yielded)
	// A lower-ranked forwarder does not make it yield.
	h := newGuard(t, 3, 250)
	h.SetWant(now, true)
	for range 10 {
		h.Tick(now)
		now = now.Add(5 * time.Millisecond)
	}
	h.Heard(now, 0, &member.LoopProbe{ClusterID: 7, UnitID: 1, Priority: 200, Want: true, Forwarding: true})
	require.True(t, h.Tick(now).Forward)
}

func TestLoopGuardLearn(t *testing.T) {
	g, err := member.NewLoopGuard(&member.LoopGuardConfig{UnitID: 1, ClusterID: 7, MaxLearn: 2, LearnTTL: time.Minute})
	require.NoError(t, err)
	m := func(b byte) [6]byte { return [6]byte{2, 0, 0, 0, 0, b} }
	g.Heard(t0, 0, &member.LoopProbe{ClusterID: 7, UnitID: 2, Learn: [][6]byte{m(3), m(1), m(2)}})
	g.Heard(t0, 1, &member.LoopProbe{ClusterID: 8, UnitID: 2, Learn: [][6]byte{m(9)}}) // another cluster's
	m1, m3 := m(1), m(3)
	require.Equal(t, []net.HardwareAddr{m1[:], m3[:]}, g.Learn(t0, 0))
	require.Empty(t, g.Learn(t0, 1))
	require.Equal(t, uint64(1), g.Stats().LearnDropped)
	require.Empty(t, g.Learn(t0.Add(time.Minute), 0), "forgotten after LearnTTL")
}

func TestLoopGuardConfig(t *testing.T) {
	for _, c := range []*member.LoopGuardConfig{nil, {UnitID: 1, Interval: -1}, {UnitID: 1, Interval: 10 * time.Millisecond, Quiet: 15 * time.Millisecond}} {
		_, err := member.NewLoopGuard(c)
		require.ErrorIs(t, err, hakit.ErrConfig, "%+v", c)
	}
}

func TestLoopProbeWire(t *testing.T) {
	p := member.LoopProbe{Want: true, Forwarding: true, ClusterID: 7, UnitID: 2, Priority: 200, Side: 1, Seq: 9, Learn: [][6]byte{{2, 1, 2, 3, 4, 5}}}
	b, err := p.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, []byte{1, 3, 0, 7, 0, 2, 200, 1, 0, 0, 0, 9, 0, 1, 2, 1, 2, 3, 4, 5}, b)
	var q member.LoopProbe
	require.NoError(t, q.UnmarshalBinary(b))
	require.Equal(t, p, q)
	for i := range b {
		require.Error(t, q.UnmarshalBinary(b[:i]))
	}
	require.ErrorIs(t, q.UnmarshalBinary(b[:5]), io.ErrUnexpectedEOF)
	require.Equal(t, p, q, "unchanged on error")
	_, err = member.LoopProbe{Learn: make([][6]byte, member.MaxProbeLearn+1)}.MarshalBinary()
	require.Error(t, err)
	bad := bytes.Clone(b)
	bad[0] = 2
	require.Error(t, q.UnmarshalBinary(bad))
	allocs := testing.AllocsPerRun(100, func() { _ = q.UnmarshalBinary(b) })
	require.Zero(t, allocs)
}

func FuzzLoopProbe(f *testing.F) {
	p := member.LoopProbe{Want: true, ClusterID: 7, UnitID: 2, Priority: 9, Side: 1, Seq: 3, Learn: [][6]byte{{2, 0, 0, 0, 0, 1}}}
	b, _ := p.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p member.LoopProbe
		if err := p.UnmarshalBinary(b); err != nil {
			if !reflect.DeepEqual(p, member.LoopProbe{}) {
				t.Fatalf("changed on error: %+v", p)
			}
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var q member.LoopProbe
		if err := q.UnmarshalBinary(out); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("%+v != %+v", p, q)
		}
		again, _ := q.MarshalBinary()
		if !bytes.Equal(out, again) {
			t.Fatal("not stable")
		}
	})
}

func BenchmarkLoopProbeUnmarshal(b *testing.B) {
	p := member.LoopProbe{ClusterID: 7, UnitID: 2, Learn: make([][6]byte, member.MaxProbeLearn)}
	buf, _ := p.MarshalBinary()
	var q member.LoopProbe
	b.ReportAllocs()
	for b.Loop() {
		if err := q.UnmarshalBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// A primary's guard waits for Listen, then forwards; a higher-ranked
// unit's forwarding probe makes it yield at once.
func ExampleLoopGuard() {
	g, err := member.NewLoopGuard(&member.LoopGuardConfig{ClusterID: 7, UnitID: 2, Priority: 100})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g.SetWant(now, true) // the bridge step is up
	for range 5 {
		d := g.Tick(now)
		fmt.Println(now.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), "forward:", d.Forward, "probe:", d.Probe != nil)
		now = now.Add(5 * time.Millisecond)
	}
	g.Heard(now, 0, &member.LoopProbe{ClusterID: 7, UnitID: 1, Priority: 200, Want: true, Forwarding: true})
	d := g.Tick(now)
	fmt.Println("forward:", d.Forward, "-", d.Reason)
	// Output:
	// 0s forward: false probe: true
	// 5ms forward: false probe: false
	// 10ms forward: false probe: true
	// 15ms forward: false probe: false
	// 20ms forward: true probe: true
	// forward: false - unit 1 (cluster 7), ranked higher, forwards too: yielding
}
