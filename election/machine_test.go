package election

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/clock"
)

// bench drives pure Machines by hand: exchange delivers every unit's
// candidate to every other unit it is connected to, then ticks them all.
type bench struct {
	t    *testing.T
	now  time.Time
	ms   []*Machine
	cut  map[[2]uint16]bool
	outs map[uint16][]Output
}

func newBench(t *testing.T, cfgs ...Config) *bench {
	t.Helper()
	b := &bench{t: t, now: clock.Epoch, cut: map[[2]uint16]bool{}, outs: map[uint16][]Output{}}
	for _, cfg := range cfgs {
		b.add(cfg)
	}
	return b
}

func (b *bench) add(cfg Config) *Machine {
	m, err := New(b.now, &cfg)
	require.NoError(b.t, err)
	m.Local(b.now, Status{Monitored: 2, InSync: true})
	b.ms = append(b.ms, m)
	return m
}

func (b *bench) m(unit uint16) *Machine {
	for _, m := range b.ms {
		if m.cfg.Unit == unit {
			return m
		}
	}
	b.t.Fatalf("no unit %d", unit)
	return nil
}

func (b *bench) tickAll() {
	for _, m := range b.ms {
		b.outs[m.cfg.Unit] = append(b.outs[m.cfg.Unit], m.Tick(b.now))
	}
}

func (b *bench) exchange() {
	for _, from := range b.ms {
		enc := from.AppendCandidate(nil, b.now)
		for _, to := range b.ms {
			if to != from && !b.cut[[2]uint16{from.cfg.Unit, to.cfg.Unit}] {
				require.NoError(b.t, to.ObserveBinary(b.now, enc))
			}
		}
	}
	b.tickAll()
}

// step advances time by d in heartbeat intervals, exchanging at each.
func (b *bench) step(d time.Duration) {
	for end := b.now.Add(d); b.now.Before(end); {
		b.now = b.now.Add(100 * time.Millisecond)
		b.exchange()
	}
}

func (b *bench) roles() map[uint16]hakit.Role {
	out := map[uint16]hakit.Role{}
	for _, m := range b.ms {
		out[m.cfg.Unit] = m.Role()
	}
	return out
}

// crash removes unit from the bench: the others lose it.
func (b *bench) crash(unit uint16) {
	for i, m := range b.ms {
		if m.cfg.Unit == unit {
			b.ms = append(b.ms[:i], b.ms[i+1:]...)
			break
		}
	}
	for _, m := range b.ms {
		m.PeerLost(b.now, unit)
	}
}

func (b *bench) lose(a, c uint16) {
	b.cut[[2]uint16{a, c}], b.cut[[2]uint16{c, a}] = true, true
	b.m(a).PeerLost(b.now, c)
	b.m(c).PeerLost(b.now, a)
}

func TestConfigValidate(t *testing.T) {
	ok := *unitConfig(1)
	require.NoError(t, ok.Validate())
	require.NoError(t, (&Config{Unit: 1}).Validate(), "zero fields take the defaults")
	require.ErrorIs(t, (*Config)(nil).Validate(), hakit.ErrConfig, "no unit ID")
	_, err := New(clock.Epoch, nil)
	require.ErrorIs(t, err, hakit.ErrConfig, "no unit ID")
	m, err := New(clock.Epoch, &Config{Unit: 1, AgeMargin: time.Second})
	require.NoError(t, err, "the split-brain margin follows a short age margin")
	require.Equal(t, time.Second, m.cfg.SplitAgeMargin)
	require.Equal(t, 800*time.Millisecond, m.cfg.InitialWait)
	m, err = New(clock.Epoch, &Config{Unit: 1, DetectTime: 3 * time.Second})
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, m.cfg.InitialWait, "the initial wait follows the detection time")
	tests := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"unit 0", func(c *Config) { c.Unit = 0 }, "unit ID 0"},
		{"negative age margin", func(c *Config) { c.AgeMargin = -1 }, "negative age margin"},
		{"split margin above age margin", func(c *Config) { c.SplitAgeMargin = time.Hour }, "split-brain age margin"},
		{"negative interval", func(c *Config) { c.Interval = -1 }, "heartbeat interval -1ns"},
		{"detection faster than heartbeats", func(c *Config) { c.DetectTime = 50 * time.Millisecond }, "detection time 50ms shorter than the heartbeat interval"},
		{"initial wait too short", func(c *Config) { c.InitialWait = 10 * time.Millisecond }, "initial wait"},
		{"handover timeout too short", func(c *Config) { c.HandoverTimeout = 150 * time.Millisecond }, "handover timeout"},
		{"negative hold-down", func(c *Config) { c.HoldDown = -1 }, "negative hold-down"},
		{"negative sync timeout", func(c *Config) { c.SyncTimeout = -1 }, "sync timeout -1ns"},
		{"preemption faster than detection", func(c *Config) { c.Preempt = true; c.PreemptDelay = 500 * time.Millisecond },
			"preemption delay 500ms shorter than the detection time 800ms"},
		{"sync timeout below preemption delay", func(c *Config) { c.Preempt = true; c.SyncTimeout = time.Second },
			"sync timeout 1s shorter than the preemption delay 10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *unitConfig(1)
			tt.mod(&c)
			err := c.Validate()
			require.ErrorIs(t, err, hakit.ErrConfig)
			require.Contains(t, err.Error(), "election: "+tt.want)
			_, err = New(clock.Epoch, &c)
			require.ErrorIs(t, err, hakit.ErrConfig)
		})
	}
}

func TestStartAloneAndJoin(t *testing.T) {
	b := newBench(t, *unitConfig(2))
	b.step(700 * time.Millisecond)
	require.Equal(t, hakit.Initial, b.m(2).Role(), "listens for InitialWait first")
	b.step(100 * time.Millisecond)
	require.Equal(t, hakit.Primary, b.m(2).Role())
	// Unit 1 (a lower ID, otherwise equal) joins: no preemption, it is
	// secondary at its first tick that hears the primary.
	b.add(*unitConfig(1))
	b.step(100 * time.Millisecond)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary}, b.roles())
	b.step(time.Minute)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary}, b.roles())
}

func settled(t *testing.T, cfgs ...Config) *bench {
	t.Helper()
	b := newBench(t, cfgs...)
	b.step(time.Second)
	require.Equal(t, hakit.Primary, b.ms[0].Role())
	return b
}

// TestBadInputNeverChangesRole feeds both units of a settled pair garbage,
// collisions and invalid verdicts: each is an error and a counted drop, and
// no role changes.
func TestBadInputNeverChangesRole(t *testing.T) {
	b := settled(t, *unitConfig(1), *unitConfig(2))
	want := b.roles()
	r := rand.New(rand.NewPCG(5, 6))
	good := b.m(1).AppendCandidate(nil, b.now)
	for _, m := range b.ms {
		before := m.Counters()
		invalid := 0
		for range 2000 {
			junk := bytes.Clone(good)
			for range 1 + r.IntN(4) {
				junk[r.IntN(len(junk))] = byte(r.Uint32())
			}
			junk = junk[:r.IntN(len(junk)+1)]
			var c Candidate
			if c.UnmarshalBinary(junk) == nil {
				continue // a valid candidate is not bad input
			}
			invalid++
			require.Error(t, m.ObserveBinary(b.now, junk))
		}
		self := m.Candidate(b.now)
		self.Role = hakit.Primary
		require.ErrorIs(t, m.Observe(b.now, self), ErrUnitCollision)
		require.ErrorIs(t, m.Verdict(b.now, Verdict{Kind: 0}), ErrInvalid)
		require.ErrorIs(t, m.Verdict(b.now, Verdict{Kind: PeerMalfunction, Unit: m.cfg.Unit}), ErrInvalid)
		require.ErrorIs(t, m.Verdict(b.now, Verdict{Kind: PeerMalfunction}), ErrInvalid)
		out := m.Tick(b.now)
		require.False(t, out.Changed)
		after := m.Counters()
		require.Equal(t, before.DroppedInvalid+uint64(invalid), after.DroppedInvalid)
		require.Equal(t, before.DroppedCollision+1, after.DroppedCollision)
		require.Equal(t, before.VerdictsIgnored+3, after.VerdictsIgnored)
		var dropped int
		for _, e := range out.Events {
			if e.Kind == EventDropped {
				dropped++
			}
		}
		require.Equal(t, invalid+1, dropped, "each drop is reported")
	}
	b.step(time.Second)
	require.Equal(t, want, b.roles())
}

func TestLocalMalfunction(t *testing.T) {
	b := settled(t, *unitConfig(1), *unitConfig(2))
	// On the secondary: nobody's role changes.
	require.NoError(t, b.m(2).Verdict(b.now, Verdict{Kind: LocalMalfunction, Interface: "eth1"}))
	b.step(time.Second)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary}, b.roles())
	require.NoError(t, b.m(2).Verdict(b.now, Verdict{Kind: LocalRecovered, Interface: "eth1"}))
	b.step(100 * time.Millisecond)
	// On the primary: it is demoted at once, the secondary takes over at the
	// next heartbeat.
	require.NoError(t, b.m(1).Verdict(b.now, Verdict{Kind: LocalMalfunction, Interface: "eth1"}))
	out := b.m(1).Tick(b.now)
	require.True(t, out.Changed)
	require.Equal(t, hakit.Secondary, out.Role)
	require.Equal(t, "failover: unit 2 selected: no interface malfunction, unit 1 is degraded", out.Reason)
	require.Equal(t, CauseLocalFault, out.Cause)
	require.True(t, out.Send)
	b.step(100 * time.Millisecond)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary}, b.roles())
	// Recovered: it stays secondary (no preemption).
	require.NoError(t, b.m(1).Verdict(b.now, Verdict{Kind: LocalRecovered, Interface: "eth1"}))
	b.step(time.Minute)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary}, b.roles())
}

func TestPeerMalfunction(t *testing.T) {
	cfgs := []Config{*unitConfig(1), *unitConfig(2), *unitConfig(3)}
	b := settled(t, cfgs...)
	// About a secondary: ignored.
	require.NoError(t, b.m(3).Verdict(b.now, Verdict{Kind: PeerMalfunction, Unit: 2, Interface: "eth1"}))
	// Reported by the primary: ignored (the active unit has no malfunction).
	require.NoError(t, b.m(1).Verdict(b.now, Verdict{Kind: PeerMalfunction, Unit: 2, Interface: "eth1"}))
	b.step(time.Second)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary, 3: hakit.Secondary}, b.roles())
	require.Equal(t, uint64(1), b.m(3).Counters().VerdictsIgnored)
	require.Equal(t, uint64(1), b.m(1).Counters().VerdictsIgnored)

	// About the primary, from unit 3: unit 1 is deposed. The best other
	// unit, 2, takes over; 1 stands down when it hears unit 3.
	require.NoError(t, b.m(3).Verdict(b.now, Verdict{Kind: PeerMalfunction, Unit: 1, Interface: "eth1"}))
	require.Equal(t, uint64(1), b.m(3).Counters().Depositions)
	b.step(100 * time.Millisecond)
	b.step(100 * time.Millisecond)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary, 3: hakit.Secondary}, b.roles())
	require.Contains(t, b.outs[1][len(b.outs[1])-2].Reason+b.outs[1][len(b.outs[1])-1].Reason,
		"unit 3 reports an interface malfunction on this unit")
	b.step(time.Minute)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary, 3: hakit.Secondary}, b.roles())
	require.Zero(t, b.m(3).Candidate(b.now).Deposes, "the verdict is done once unit 1 stood down")
}

func TestPrimaryLostAndSubordinateLost(t *testing.T) {
	b := settled(t, *unitConfig(1), *unitConfig(2), *unitConfig(3))
	// A subordinate fails: nobody's role changes.
	b.lose(3, 1)
	b.lose(3, 2)
	b.step(time.Second)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary, 3: hakit.Primary}, b.roles(), "3 is alone, so on its own it is active")
	b.ms = b.ms[:2]
	// The primary fails: the best remaining unit takes over at once.
	b.lose(1, 2)
	out := b.m(2).Tick(b.now)
	require.True(t, out.Changed)
	require.Equal(t, hakit.Primary, out.Role)
	require.Equal(t, "primary unit 1 lost: unit 2 selected: only candidate", out.Reason)
	require.Equal(t, CausePeerLost, out.Cause)
}

func preemptConfig(unit uint16, prio uint8) Config {
	c := *unitConfig(unit)
	c.Preempt, c.Override, c.Priority = true, true, prio
	c.PreemptDelay, c.HoldDown, c.SyncTimeout = 5*time.Second, 20*time.Second, 60*time.Second
	return c
}

func TestPreemption(t *testing.T) {
	b := newBench(t, preemptConfig(1, 100))
	b.step(30 * time.Second)
	require.Equal(t, hakit.Primary, b.m(1).Role())
	joined := b.now
	b.add(preemptConfig(2, 200))
	b.step(100 * time.Millisecond)
	require.Equal(t, hakit.Secondary, b.m(2).Role())
	var handover time.Time
	for b.now.Sub(joined) < 10*time.Second {
		b.step(100 * time.Millisecond)
		if b.m(2).Role() == hakit.Primary && handover.IsZero() {
			handover = b.now
		}
		require.False(t, b.m(1).Role() == hakit.Primary && b.m(2).Role() == hakit.Primary, "never two primaries")
	}
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary}, b.roles())
	took := handover.Sub(joined)
	require.GreaterOrEqual(t, took, 5*time.Second, "not before the preemption delay")
	require.LessOrEqual(t, took, 5*time.Second+400*time.Millisecond, "yield, ready, step down, take over")
	require.Contains(t, b.outs[1][len(b.outs[1])-1].Reason+strings.Join(reasons(b.outs[1]), "|"),
		"preempted: unit 2 selected: higher priority, 200 > 100")
	var causes []Cause
	for _, o := range b.outs[1] {
		if o.Changed {
			causes = append(causes, o.Cause)
		}
	}
	require.Equal(t, []Cause{CauseElection, CausePreempt}, causes)
}

func reasons(outs []Output) []string {
	var r []string
	for _, o := range outs {
		if o.Changed {
			r = append(r, o.Reason)
		}
	}
	return r
}

// TestPreemptionHoldDownAndFlapping: a better unit that keeps coming and
// going never stays long enough to preempt, and a primary keeps the role for
// HoldDown after it took it, however good the other unit is.
func TestPreemptionHoldDownAndFlapping(t *testing.T) {
	b := newBench(t, preemptConfig(1, 100))
	b.step(2 * time.Second)
	for range 10 { // a unit that restarts every 5 s: never the 5 s delay
		b.add(preemptConfig(2, 200))
		b.step(4 * time.Second)
		b.crash(2)
		b.step(time.Second)
	}
	require.Equal(t, hakit.Primary, b.m(1).Role())
	require.Zero(t, b.m(1).Counters().Handovers)
	// Present for good: unit 1 has been primary far longer than the
	// hold-down, so after the delay it yields.
	b.add(preemptConfig(2, 200))
	b.step(6 * time.Second)
	require.Equal(t, hakit.Primary, b.m(2).Role())
	// Unit 2 now fails and restarts at once: unit 1 took the role at the
	// failure, so unit 2 may preempt again only after the hold-down.
	b.crash(2)
	b.step(100 * time.Millisecond)
	require.Equal(t, hakit.Primary, b.m(1).Role())
	failedOver := b.now
	b.add(preemptConfig(2, 200))
	for b.m(2).Role() != hakit.Primary {
		b.step(100 * time.Millisecond)
		require.Less(t, b.now.Sub(failedOver), time.Minute)
	}
	require.GreaterOrEqual(t, b.now.Sub(failedOver), 20*time.Second, "hold-down")
}

func TestPreemptionWaitsForSync(t *testing.T) {
	b := newBench(t, preemptConfig(1, 100))
	b.step(2 * time.Second)
	joined := b.now
	m2 := b.add(preemptConfig(2, 200))
	m2.Local(b.now, Status{Monitored: 2, InSync: false})
	for b.m(2).Role() != hakit.Primary {
		b.step(100 * time.Millisecond)
		require.Less(t, b.now.Sub(joined), 2*time.Minute)
	}
	took := b.now.Sub(joined)
	// It counts as in sync after the sync timeout, and as better from then:
	// the preemption delay runs from there.
	require.GreaterOrEqual(t, took, 65*time.Second, "a unit not in sync waits for the sync timeout")
	require.LessOrEqual(t, took, 66*time.Second)
}

func TestPreemptionOffKeepsPrimary(t *testing.T) {
	cfg1, cfg2 := *unitConfig(1), *unitConfig(2)
	cfg1.Priority, cfg2.Priority, cfg2.Override, cfg1.Override = 1, 255, true, true
	b := newBench(t, cfg1)
	b.step(2 * time.Second)
	b.add(cfg2)
	b.step(10 * time.Minute)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary}, b.roles())
}

func TestHandoverTimeout(t *testing.T) {
	b := settled(t, *unitConfig(1), *unitConfig(2))
	b.m(1).Handover(b.now)
	b.cut[[2]uint16{1, 2}] = true // unit 2 no longer hears unit 1's yield
	b.step(1500 * time.Millisecond)
	require.Equal(t, hakit.Primary, b.m(1).Role(), "no successor ready: keeps the role")
	require.NotZero(t, b.m(1).Counters().HandoverTimeouts)
	delete(b.cut, [2]uint16{1, 2})
	b.step(300 * time.Millisecond)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary, 2: hakit.Primary}, b.roles())
}

func TestEventsAndLogging(t *testing.T) {
	var buf bytes.Buffer
	cfg := *unitConfig(1)
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	b := newBench(t, cfg)
	b.step(time.Second)
	var ev []Event
	for _, o := range b.outs[1] {
		ev = append(ev, o.Events...)
	}
	require.Len(t, ev, 1)
	require.Equal(t, Event{Time: clock.Epoch.Add(800 * time.Millisecond), Kind: EventRoleChange, From: hakit.Initial, To: hakit.Primary,
		Cause: CauseElection, Reason: "no primary: unit 1 selected: only candidate"}, ev[0])
	require.Contains(t, buf.String(), `msg="election: role change" unit=1 event="role change"`)
	require.Contains(t, buf.String(), `from=initial to=primary reason="no primary: unit 1 selected: only candidate"`)
	require.Equal(t, uint64(1), b.m(1).Counters().RoleChanges)
}

// TestSplitBrainLoserSeenOnlyAsStoodDown: the winner of a split brain may
// never hear the loser claim the role (the loser heard it first and stood
// down at once). The loser advertises whom it stood down for, and the winner
// re-announces all the same, once.
func TestSplitBrainLoserSeenOnlyAsStoodDown(t *testing.T) {
	b := settled(t, *unitConfig(1), *unitConfig(2))
	b.lose(1, 2)
	b.step(5 * time.Second)
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Primary}, b.roles())
	// Unit 2 hears unit 1 first, for two rounds (the first could be a
	// candidate made before a stall).
	delete(b.cut, [2]uint16{1, 2})
	b.now = b.now.Add(100 * time.Millisecond)
	b.exchange()
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Primary}, b.roles())
	b.now = b.now.Add(100 * time.Millisecond)
	b.exchange()
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary}, b.roles())
	c2 := b.m(2).Candidate(b.now)
	require.True(t, c2.Yield)
	require.Equal(t, uint16(1), c2.Peer)
	// Then unit 1 hears unit 2, already standing down.
	delete(b.cut, [2]uint16{2, 1})
	b.now = b.now.Add(100 * time.Millisecond)
	b.exchange()
	out := b.outs[1][len(b.outs[1])-1]
	require.True(t, out.ReAnnounce)
	require.Equal(t, uint64(1), b.m(1).Counters().SplitBrains)
	b.step(2 * time.Second)
	require.Equal(t, uint64(1), b.m(1).Counters().ReAnnounces, "once")
	require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary, 2: hakit.Secondary}, b.roles())
}

// FuzzMachine feeds a settled unit a sequence of arbitrary peer candidates,
// losses and verdicts: it never panics, its own candidate stays valid, and
// input that does not parse never changes its role.
func FuzzMachine(f *testing.F) {
	seed, _ := Candidate{Unit: 2, Role: hakit.Primary, InSync: true, Monitored: 2}.MarshalBinary()
	f.Add(append([]byte{0}, seed...))
	f.Add(append([]byte{1, 2}, seed...))
	f.Fuzz(func(t *testing.T, data []byte) {
		now := clock.Epoch
		m, err := New(now, unitConfig(1))
		require.NoError(t, err)
		m.Local(now, Status{Monitored: 2, InSync: true})
		now = now.Add(time.Second)
		m.Tick(now)
		require.Equal(t, hakit.Primary, m.Role())
		for len(data) > 0 {
			op := data[0]
			data = data[1:]
			now = now.Add(time.Duration(op) * time.Millisecond)
			before := m.Tick(now).Role // what time alone does
			switch op % 4 {
			case 0, 1: // a candidate, valid or not
				n := min(len(data), CandidateLen)
				if op%4 == 1 {
					n = min(len(data), int(op/4)%(CandidateLen+2))
				}
				err := m.ObserveBinary(now, data[:n])
				data = data[n:]
				if err != nil {
					require.Equal(t, before, m.Tick(now).Role, "a bad candidate changed the role")
				}
			case 2:
				if len(data) > 0 {
					m.PeerLost(now, uint16(data[0]%4))
					data = data[1:]
				}
			case 3:
				if len(data) > 1 {
					_ = m.Verdict(now, Verdict{Kind: VerdictKind(data[0] % 6), Unit: uint16(data[1] % 4), Interface: "eth0"})
					data = data[2:]
				}
			}
			m.Tick(now)
			require.NoError(t, m.Candidate(now).Validate())
		}
	})
}

// unitConfig returns DefaultConfig() for unit u.
func unitConfig(u uint16) *Config {
	c := DefaultConfig()
	c.Unit = u
	return c
}
