package member

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/hakit/hakit"
)

// LoopGuardConfig configures a LoopGuard. A nil *LoopGuardConfig means
// the defaults, but a guard needs at least its UnitID.
type LoopGuardConfig struct {
	// ClusterID, UnitID and Priority identify this unit in its probes; with
	// the unit ID, the priority is its rank when two units forward at once.
	ClusterID, UnitID uint16
	Priority          uint8
	// Interval is the time between two probes out of each port while the
	// unit wants to forward; zero means 10 ms: a takeover waits two of
	// them (see Listen), and a loop that starts anyway lasts about one.
	Interval time.Duration
	// Listen is how long a unit that wants to forward probes before it
	// does: its own probes must have had the time to come back through
	// another bridge; zero means two Intervals.
	Listen time.Duration
	// Quiet is how long a probe heard counts: a unit whose probes have
	// not been heard for Quiet no longer forwards, or is gone; zero means
	// five Intervals, so that four probes lost in a row are not taken for
	// a silence.
	Quiet time.Duration
	// LearnTTL is how long a MAC heard in a probe is announced at a
	// takeover; zero means 10 minutes (twice the usual switch ageing time).
	LearnTTL time.Duration
	// MaxLearn caps the MACs kept for each side (a counted drop beyond);
	// zero means 4096.
	MaxLearn int
}

func (c *LoopGuardConfig) withDefaults() LoopGuardConfig {
	var r LoopGuardConfig
	if c != nil {
		r = *c
	}
	r.Interval = cmp.Or(r.Interval, 10*time.Millisecond)
	r.Listen = cmp.Or(r.Listen, 2*r.Interval)
	r.Quiet = cmp.Or(r.Quiet, 5*r.Interval)
	r.LearnTTL = cmp.Or(r.LearnTTL, 10*time.Minute)
	r.MaxLearn = cmp.Or(r.MaxLearn, 4096)
	return r
}

// Validate reports the first invalid field, wrapping hakit.ErrConfig.
func (c *LoopGuardConfig) Validate() error {
	r := c.withDefaults()
	switch {
	case r.UnitID == 0:
		return fmt.Errorf("member: loop guard: unit ID 0: %w", hakit.ErrConfig)
	case r.Interval < 0 || r.Listen < 0 || r.Quiet < 0 || r.LearnTTL < 0 || r.MaxLearn < 0:
		return fmt.Errorf("member: loop guard: negative setting: %w", hakit.ErrConfig)
	case r.Quiet < 2*r.Interval:
		return fmt.Errorf("member: loop guard: quiet %v shorter than two intervals (%v): %w", r.Quiet, r.Interval, hakit.ErrConfig)
	}
	return nil
}

// LoopGuard is the pure core that decides whether a transparent unit's
// bridge may forward: the promise that at no moment two bridges forward
// between the same two segments, whatever the election says (in a split
// brain both units are primary). It reads no clock and sends nothing:
// the caller feeds it the probes heard on the ports with their time, and
// asks Tick what to do.
//
// The rules, for a unit that wants to forward (its bridge step is up):
//
//   - It probes out of both ports every Interval (LoopProbe), saying
//     whether it wants to forward and whether it does.
//   - It starts forwarding only after it has probed for Listen with none
//     of its own probes coming back on its other port (that would be
//     another bridge forwarding, of this cluster or not, even one whose
//     daemon has hung), no probe heard within Quiet from another unit that
//     forwards (the incumbent keeps the traffic), and none from a
//     higher-ranked unit that wants to (two takeovers at once: the
//     lower-ranked unit yields).
//   - While forwarding, it stops at once on hearing a higher-ranked unit
//     that forwards, or its own probe come back with no lower-ranked
//     forwarding unit heard that will yield.
//
// Rank is (Priority, UnitID, ClusterID), higher first.
type LoopGuard struct {
	cfg        LoopGuardConfig
	want       bool
	forwarding bool
	wantSince  time.Time
	lastCross  time.Time
	seq        uint32
	nextProbe  time.Time
	peers      map[peerKey]peerProbe
	learn      [2]map[[6]byte]time.Time
	reason     string
	bye        bool // a last probe is due: this unit stopped wanting to forward
	lastTick   time.Time
	stats      LoopGuardStats
}

// LoopGuardStats counts what a LoopGuard saw and did.
type LoopGuardStats struct {
	// ProbesSent counts the probes Tick asked for (each goes out of both
	// ports); ProbesHeard the probes of other units heard.
	ProbesSent, ProbesHeard uint64
	// Crossed counts this unit's own probes heard back on its other port:
	// evidence of another bridge between the segments.
	Crossed uint64
	// Yielded counts the times the guard stopped this unit forwarding, or
	// kept it from starting, because another bridge forwards.
	Yielded uint64
	// LearnDropped counts the MACs not kept because MaxLearn was reached.
	LearnDropped uint64
}

type peerKey struct{ cluster, unit uint16 }

type peerProbe struct {
	at               time.Time
	seq              uint32
	want, forwarding bool
	rank             uint64
}

// NewLoopGuard returns a guard that does not want to forward.
func NewLoopGuard(c *LoopGuardConfig) (*LoopGuard, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	g := &LoopGuard{cfg: c.withDefaults(), peers: map[peerKey]peerProbe{}}
	g.learn = [2]map[[6]byte]time.Time{{}, {}}
	return g, nil
}

func rankOf(priority uint8, unit, cluster uint16) uint64 {
	return uint64(priority)<<32 | uint64(unit)<<16 | uint64(cluster)
}

func (g *LoopGuard) rank() uint64 { return rankOf(g.cfg.Priority, g.cfg.UnitID, g.cfg.ClusterID) }

// SetWant says whether the unit wants to forward: true when its bridge
// step comes up, false when it goes down (Tick then says to stop at once,
// and sends one last probe, so that a unit waiting to take over need not
// wait for Quiet).
func (g *LoopGuard) SetWant(now time.Time, want bool) {
	if want && !g.want {
		g.wantSince, g.nextProbe = now, now
	}
	if !want && g.want {
		g.bye = true
	}
	g.want = want
}

// Heard feeds a probe heard on the port with index side (0 or 1) at now.
// Probes of other clusters count as other bridges; only this cluster's
// probes teach MACs.
func (g *LoopGuard) Heard(now time.Time, side int, p *LoopProbe) {
	if side < 0 || side > 1 {
		return
	}
	if p.ClusterID == g.cfg.ClusterID && p.UnitID == g.cfg.UnitID {
		if int(p.Side) != side {
			g.lastCross = now
			g.stats.Crossed++
		}
		return
	}
	g.stats.ProbesHeard++
	k := peerKey{p.ClusterID, p.UnitID}
	if _, ok := g.peers[k]; !ok && len(g.peers) >= 64 {
		g.expire(now)
		if len(g.peers) >= 64 {
			return // a flood of made-up units: the oldest still count
		}
	}
	old, ok := g.peers[k]
	if ok && int32(p.Seq-old.seq) < 0 {
		// An older probe, heard late on the other port: the newer one
		// stands. (A restarted unit counts from 0 again: its first probes
		// wait until the old record expires, after Quiet.)
		return
	}
	if ok && old.forwarding && !p.Forwarding && !g.lastCross.IsZero() {
		// The probes that came back went through its bridge, which has
		// stopped: listen again (Listen) rather than wait for Quiet.
		g.lastCross = time.Time{}
		if g.wantSince.Before(now) {
			g.wantSince = now
		}
	}
	g.peers[k] = peerProbe{at: now, seq: p.Seq, want: p.Want, forwarding: p.Forwarding, rank: rankOf(p.Priority, p.UnitID, p.ClusterID)}
	if p.ClusterID != g.cfg.ClusterID {
		return
	}
	l := g.learn[side]
	for _, m := range p.Learn {
		if _, ok := l[m]; !ok && len(l) >= g.cfg.MaxLearn {
			g.stats.LearnDropped++
			continue
		}
		l[m] = now
	}
}

// expire forgets the peers not heard within Quiet and the MACs older than
// LearnTTL.
func (g *LoopGuard) expire(now time.Time) {
	maps.DeleteFunc(g.peers, func(_ peerKey, p peerProbe) bool { return now.Sub(p.at) >= g.cfg.Quiet })
}

// LoopDecision is Tick's answer.
type LoopDecision struct {
	// Forward says whether the bridge must forward now.
	Forward bool
	// Changed is set when Forward differs from the last Tick's.
	Changed bool
	// Reason says why, in words, when Changed (or when the guard holds a
	// unit that wants to forward).
	Reason string
	// Probe, when not nil, is the probe to send now out of both ports
	// (with Side and Learn filled in for each).
	Probe *LoopProbe
	// Held is set while the unit wants to forward and the guard keeps it
	// from doing so.
	Held bool
}

// Tick decides at now. It expects to be called every Interval or more
// often, with every probe heard before fed in: after a pause longer than
// half of Quiet (this unit stalled: it sent no probes, so the absence of
// its probes coming back proves nothing) a guard that does not forward
// yet listens again for Listen.
func (g *LoopGuard) Tick(now time.Time) LoopDecision {
	if !g.lastTick.IsZero() && now.Sub(g.lastTick) > g.cfg.Quiet/2 && g.wantSince.Before(now) && !g.forwarding {
		g.wantSince = now
	}
	if now.After(g.lastTick) {
		g.lastTick = now
	}
	g.expire(now)
	fwd, why := g.decide(now)
	d := LoopDecision{Forward: fwd, Changed: fwd != g.forwarding, Held: g.want && !fwd}
	if d.Held && why != g.reason && (g.forwarding || why != "") {
		g.stats.Yielded++
	}
	if d.Changed || why != g.reason {
		d.Reason = why
	}
	g.forwarding, g.reason = fwd, why
	if d.Changed {
		g.nextProbe = now // tell the others at once
	}
	if (g.want && !now.Before(g.nextProbe)) || g.bye {
		g.seq++
		g.stats.ProbesSent++
		// On schedule, but never two at once after a late tick.
		g.nextProbe = g.nextProbe.Add(g.cfg.Interval)
		if early := now.Add(g.cfg.Interval / 2); g.nextProbe.Before(early) {
			g.nextProbe = early
		}
		d.Probe = &LoopProbe{Want: g.want, Forwarding: fwd, ClusterID: g.cfg.ClusterID, UnitID: g.cfg.UnitID, Priority: g.cfg.Priority, Seq: g.seq}
		g.bye = false
	}
	return d
}

// decide returns whether to forward and, when not, why.
func (g *LoopGuard) decide(now time.Time) (bool, string) {
	if !g.want {
		return false, "not primary"
	}
	me := g.rank()
	var higherFwd, lowerFwd, higherWant, anyFwd *peerKey
	for k, p := range g.peers {
		switch {
		case p.forwarding && p.rank > me:
			higherFwd = &k
		case p.forwarding:
			lowerFwd = &k
		case p.want && p.rank > me:
			higherWant = &k
		}
		if p.forwarding {
			anyFwd = &k
		}
	}
	crossed := !g.lastCross.IsZero() && now.Sub(g.lastCross) < g.cfg.Quiet
	if g.forwarding {
		switch {
		case higherFwd != nil:
			return false, fmt.Sprintf("unit %d (cluster %d), ranked higher, forwards too: yielding", higherFwd.unit, higherFwd.cluster)
		case crossed && lowerFwd == nil:
			return false, "this unit's probe came back through another bridge: it forwards between the segments"
		}
		return true, ""
	}
	switch {
	case anyFwd != nil:
		return false, fmt.Sprintf("unit %d (cluster %d) forwards between the segments", anyFwd.unit, anyFwd.cluster)
	case crossed:
		return false, "this unit's probe came back through another bridge: it forwards between the segments"
	case higherWant != nil:
		return false, fmt.Sprintf("unit %d (cluster %d), ranked higher, takes over too", higherWant.unit, higherWant.cluster)
	case now.Sub(g.wantSince) < g.cfg.Listen:
		return false, ""
	}
	return true, ""
}

// Learn returns the MACs to announce on the port with index side: those
// heard in the probes of this cluster's units on that side within
// LearnTTL, in byte order. Older ones are forgotten.
func (g *LoopGuard) Learn(now time.Time, side int) []net.HardwareAddr {
	if side < 0 || side > 1 {
		return nil
	}
	l := g.learn[side]
	maps.DeleteFunc(l, func(_ [6]byte, at time.Time) bool { return now.Sub(at) >= g.cfg.LearnTTL })
	keys := slices.SortedFunc(maps.Keys(l), func(a, b [6]byte) int { return slices.Compare(a[:], b[:]) })
	out := make([]net.HardwareAddr, len(keys))
	for i, k := range keys {
		out[i] = net.HardwareAddr(k[:])
	}
	return out
}

// Next returns when Tick must be called next, if nothing is heard before.
func (g *LoopGuard) Next() time.Time {
	if !g.want {
		return time.Time{}
	}
	return g.nextProbe
}

// Stats returns the guard's counters.
func (g *LoopGuard) Stats() LoopGuardStats { return g.stats }
