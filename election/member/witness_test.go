package member_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/witness"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/internal/clock"
)

// These cases run a pair on the simulated segment with an in-memory
// arbiter, in virtual time; package election/witness/etcd runs the same
// cases on a real etcd server.

// shortLease: TTL 2 s, renewed every 250 ms, given up 500 ms before it
// can expire.
func shortLease() *witness.Config {
	return &witness.Config{TTL: 2 * time.Second, Interval: 250 * time.Millisecond, Margin: 500 * time.Millisecond}
}

type fencedUnit struct {
	*simUnit
	w   *witness.Driver
	ann *garp.Recorder
}

var vipMove = garp.Move{Interface: "eth0", Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.100")}}

// fencedUnit starts unit id on s with a witness on arbiter m and an
// announce step that records its calls.
func (s *segment) fencedUnit(m *witness.Memory, id uint16) *fencedUnit {
	w, err := witness.New(m.Store(id), shortLease())
	require.NoError(s.t, err)
	s.t.Cleanup(func() { w.Close() })
	u := &fencedUnit{w: w, ann: &garp.Recorder{}}
	u.simUnit = s.unit(id, func(c *member.Config) {
		c.Witness = w
		c.Steps = append(c.Steps, member.Announce(u.ann, vipMove))
	})
	return u
}

// tokens returns the tokens of the announcements made so far.
func (u *fencedUnit) tokens() []uint64 {
	var ts []uint64
	for _, c := range u.ann.Calls() {
		if c.Op == garp.OpAnnounce {
			ts = append(ts, c.Move.Token)
		}
	}
	return ts
}

func (u *fencedUnit) verdict() string { return u.d.Status().Witness.Verdict }

// startPair starts units 1 and 2 and waits until 1 is primary with the
// lease (token 1) and its announcement made with it.
func startFencedPair(t *testing.T, s *segment, m *witness.Memory) (a, b *fencedUnit) {
	a, b = s.fencedUnit(m, 1), s.fencedUnit(m, 2)
	require.NoError(t, a.d.Start())
	require.NoError(t, b.d.Start())
	time.Sleep(2 * time.Second)
	synctest.Wait()
	require.Equal(t, []uint16{1}, primaries(a.simUnit, b.simUnit))
	require.Equal(t, []uint64{1}, a.tokens(), "announced once, with the token of its lease")
	h, tok := m.Holder()
	require.Equal(t, uint16(1), h)
	require.Equal(t, uint64(1), tok)
	require.False(t, b.d.Status().Witness.Contending)
	require.Contains(t, b.verdict(), "peers heard: the witness is not consulted")
	return a, b
}

func cut(s *segment, ids ...int) {
	for _, id := range ids {
		s.seg.Port("hb" + string(rune('0'+id))).Cut()
	}
}

func heal(s *segment, ids ...int) {
	for _, id := range ids {
		s.seg.Port("hb" + string(rune('0'+id))).Heal()
	}
}

// No heartbeats either way, the arbiter reachable by both: the primary
// keeps the role on its lease, the standby stays standby and says why.
func TestWitnessPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		m := witness.NewMemory(nil)
		a, b := startFencedPair(t, s, m)
		cut(s, 1, 2)
		for range 100 { // 10 s, five TTLs
			time.Sleep(100 * time.Millisecond)
			require.Equal(t, []uint16{1}, primaries(a.simUnit, b.simUnit))
		}
		bs := b.d.Status()
		require.True(t, bs.Witness.CutOff)
		require.True(t, bs.Witness.Contending)
		require.Equal(t, "kept standby: cut off from every peer, and the lease held by unit 1 (token 1)", bs.Witness.Verdict)
		require.Contains(t, a.verdict(), "cut off from every peer: staying primary, holding the lease (token 1)")
		require.Empty(t, b.ann.Calls())
		var said []string
		for _, e := range b.rec.eventsOf(member.EventWitness) {
			said = append(said, e.Reason)
		}
		require.Contains(t, said, bs.Witness.Verdict, "the verdict is an event")

		heal(s, 1, 2)
		time.Sleep(time.Second)
		synctest.Wait()
		bs = b.d.Status()
		require.False(t, bs.Witness.CutOff)
		require.False(t, bs.Witness.Contending, "hears the primary: stops contending")
		require.Equal(t, []uint64{1}, a.tokens())
		require.Equal(t, uint64(0), a.d.Status().Counters.Election.SplitBrains)
	})
}

// The arbiter down, the pair healthy: no role change, and the primary
// says it keeps the role while the witness is unreachable.
func TestWitnessDownPairHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		m := witness.NewMemory(nil)
		a, b := startFencedPair(t, s, m)
		m.SetDown(true)
		for range 100 {
			time.Sleep(100 * time.Millisecond)
			require.Equal(t, []uint16{1}, primaries(a.simUnit, b.simUnit))
		}
		as := a.d.Status()
		require.False(t, as.Witness.Held)
		require.False(t, as.Witness.Reachable)
		require.Contains(t, as.Witness.Verdict, "peers heard, keeping the role: ")
		require.Contains(t, as.Witness.Verdict, "lease given up (token 1)")
		require.Equal(t, uint64(1), as.Counters.Election.RoleChanges, "only the first election")
		require.Equal(t, uint64(1), b.d.Status().Counters.Election.RoleChanges)

		m.SetDown(false)
		time.Sleep(time.Second)
		synctest.Wait()
		as = a.d.Status()
		require.True(t, as.Witness.Held, as.Witness.Reason)
		require.Equal(t, uint64(2), as.Witness.Token, "a new tenure once the arbiter answers")
		require.Equal(t, []uint64{1}, a.tokens())
	})
}

// The arbiter down and the primary dead: the standby cannot tell that
// from a partition, so it stays standby, and says so, until the arbiter
// answers and the dead primary's lease has run out.
func TestWitnessDownPrimaryDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		m := witness.NewMemory(nil)
		a, b := startFencedPair(t, s, m)
		m.SetDown(true)
		require.NoError(t, a.d.Close()) // its release cannot reach the arbiter
		for range 50 {
			time.Sleep(100 * time.Millisecond)
			require.NotEqual(t, hakit.Primary, b.d.Role())
		}
		require.Contains(t, b.verdict(), "kept standby: cut off from every peer, and witness unreachable: ")
		require.Contains(t, b.verdict(), "nobody becomes primary until the witness answers")
		m.SetDown(false)
		back := time.Now()
		for b.d.Role() != hakit.Primary {
			time.Sleep(10 * time.Millisecond)
			require.Less(t, time.Since(back), 5*time.Second)
		}
		synctest.Wait()
		require.Equal(t, []uint64{2}, b.tokens(), "announced with its own, newer token")
		require.Equal(t, "cut off from every peer: staying primary, holding the lease (token 2)", b.verdict())
	})
}

// The primary cut off from its peer and from the arbiter: it stands down
// when its lease lapses, the standby takes the lease only after that, and
// every announcement of the stale primary carries an older token than the
// new primary's.
func TestWitnessStalePrimary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		m := witness.NewMemory(nil)
		a, b := startFencedPair(t, s, m)
		cut(s, 1, 2)
		m.SetReachable(1, false)
		var aDown, bUp time.Time
		start := time.Now()
		for bUp.IsZero() {
			time.Sleep(10 * time.Millisecond)
			ar, br := a.d.Role(), b.d.Role()
			require.False(t, ar == hakit.Primary && br == hakit.Primary, "both primary")
			if ar != hakit.Primary && aDown.IsZero() {
				aDown = time.Now()
			}
			if br == hakit.Primary {
				bUp = time.Now()
			}
			require.Less(t, time.Since(start), 10*time.Second)
		}
		require.False(t, aDown.IsZero())
		as, bs := a.d.Status(), b.d.Status()
		require.GreaterOrEqual(t, bs.Since.Sub(as.Since), 500*time.Millisecond, "the margin between the old tenure and the new")
		require.Contains(t, as.Reason, "cut off from every peer, and the witness's lease is not held: ")
		require.Contains(t, as.Reason, "lease given up (token 1)")
		synctest.Wait()
		require.Equal(t, []uint64{1}, a.tokens())
		require.Equal(t, []uint64{2}, b.tokens())
		// The stale primary is kept standby: it cannot reach the arbiter.
		require.Contains(t, a.verdict(), "kept standby: cut off from every peer")
	})
}

// A planned handover: the new primary's steps wait for its lease (the old
// primary releases it as it steps down), and announce with a newer token.
func TestWitnessHandover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		m := witness.NewMemory(nil)
		a, b := startFencedPair(t, s, m)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, a.d.Handover(ctx))
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, hakit.Primary, b.d.Role())
		require.Equal(t, []uint64{2}, b.tokens())
		h, tok := m.Holder()
		require.Equal(t, uint16(2), h)
		require.Equal(t, uint64(2), tok)
		require.Empty(t, b.rec.eventsOf(member.EventStepFailed))
		require.False(t, a.d.Status().Witness.Contending)
	})
}

// The pure Machine of a lone unit with a witness: cut off, it asks for the
// lease and waits; held by another, it stays standby and says so; held,
// it becomes primary and its step runs with the token; lapsed, it stands
// down at the lease's bound.
func TestMachineLease(t *testing.T) {
	now := clock.Epoch
	var tokens []uint64
	announce := member.Func("announce", func(ctx context.Context) error {
		tokens = append(tokens, member.Token(ctx))
		return nil
	}, nil)
	ec := election.DefaultConfig()
	ec.Unit = 1
	m, err := member.NewMachine(now, &member.MachineConfig{Election: ec, Witness: true,
		Links: []member.Link{{Name: "udp", ClusterOnly: true}}, Steps: []member.Step{announce}})
	require.NoError(t, err)
	var last member.Output
	run := func() {
		last = m.Tick(now)
		for out := last; out.Run != nil; out = m.Tick(now) {
			require.NoError(t, m.Done(now, *out.Run, out.Run.Run(context.Background())))
		}
	}
	verdict := func() string { return m.Status(now).Witness.Verdict }
	for range 20 {
		now = now.Add(100 * time.Millisecond)
		run()
	}
	require.Equal(t, hakit.Secondary, m.Role())
	require.True(t, m.Contend())
	require.Equal(t, "kept standby: cut off from every peer, asking the witness for the lease", verdict())

	m.Lease(now, witness.Status{Reachable: true, Holder: 2, Token: 6, Reason: "lease held by unit 2 (token 6)"}, false)
	run()
	require.Equal(t, hakit.Secondary, m.Role())
	require.Equal(t, "kept standby: cut off from every peer, and the lease held by unit 2 (token 6)", verdict())
	require.Empty(t, tokens)

	until := now.Add(3 * time.Second)
	m.Lease(now, witness.Status{Held: true, Token: 7, Reachable: true, Holder: 1, Until: until,
		Reason: "holding the lease (token 7)"}, false)
	run()
	require.Equal(t, hakit.Primary, m.Role())
	require.Equal(t, []uint64{7}, tokens, "the step ran with the token of the tenure")
	require.Equal(t, "cut off from every peer: staying primary, holding the lease (token 7)", verdict())
	for m.Next().Before(until) {
		now = m.Next()
		run()
	}
	require.Equal(t, until, m.Next(), "a tick at the lease's bound")

	now = until
	m.Lease(now, witness.Status{Token: 7, Reason: "lease given up (token 7): no renewal confirmed"}, false)
	run()
	require.Equal(t, hakit.Secondary, m.Role())
	require.Equal(t, "cut off from every peer, and the witness's lease is not held: lease given up (token 7): no renewal confirmed", last.Reason)
	require.Equal(t, []uint64{7}, tokens)
	run()
	require.True(t, m.Contend(), "asks for the lease again")
}

type nopSource struct{}

func (nopSource) Start(func(hakit.Role, string)) error { return nil }
func (nopSource) Close() error                         { return nil }

// A witness arbitrates the cluster's own election: with a role source it
// is a configuration error.
func TestWitnessWithRoleSource(t *testing.T) {
	w, err := witness.New(witness.NewMemory(nil).Store(1), nil)
	require.NoError(t, err)
	defer w.Close()
	err = (&member.Config{UnitID: 1, Roles: nopSource{}, Witness: w}).Validate()
	require.ErrorIs(t, err, hakit.ErrConfig)
	_, err = member.NewMachine(clock.Epoch, &member.MachineConfig{Assigned: true, Witness: true})
	require.ErrorIs(t, err, hakit.ErrConfig)
}
