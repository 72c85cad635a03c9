package member_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/clock"
)

// unit is one pure Machine on the bench, with recording steps: the
// built-in sessions and replication, and three of the user's (conntrack,
// addresses, announce; announce re-announces).
type unit struct {
	b       *bench
	id      uint16
	m       *member.Machine
	ops     []string           // "addresses up", … in the order run
	fail    map[string][]error // per op, the errors its next runs return
	events  []member.Event
	payload []byte
	role    hakit.Role
	dead    bool
	cut     bool          // partitioned: hears nobody, heard by nobody
	opTime  time.Duration // virtual time each op takes
	// handedTo lists the units this one handed its sessions to after a
	// split brain it lost (Output.HandBack), each acknowledged at once
	// unless holdBack.
	handedTo []uint16
	holdBack bool
}

// bench drives pure Machines by hand, in virtual time: every heartbeat
// interval each live unit's payload goes to every other live unit, and
// each unit ticks and runs the ops it is given at once.
type bench struct {
	t     *testing.T
	now   time.Time
	units []*unit
}

const interval = 100 * time.Millisecond

func newBench(t *testing.T, ids ...uint16) *bench {
	b := &bench{t: t, now: clock.Epoch}
	for _, id := range ids {
		b.add(id)
	}
	return b
}

type reannouncer struct {
	member.Step
	u *unit
}

func (r reannouncer) Reannounce(context.Context) error { return r.u.op("announce re-announce") }

func (b *bench) add(id uint16, opts ...func(*election.Config)) *unit {
	u := &unit{b: b, id: id, fail: map[string][]error{}}
	step := func(name string) member.Step {
		return member.Func(name,
			func(context.Context) error { return u.op(name + " up") },
			func(context.Context) error { return u.op(name + " down") })
	}
	ec := election.DefaultConfig()
	ec.Unit, ec.Priority = id, uint8(200-id) // unit 1 is preferred
	for _, o := range opts {
		o(ec)
	}
	m, err := member.NewMachine(b.now, &member.MachineConfig{
		Election:    ec,
		Links:       []member.Link{{Name: "lan"}, {Name: "sync", ClusterOnly: true}},
		Sessions:    step("sessions"),
		Steps:       []member.Step{step("conntrack"), step("addresses"), reannouncer{step("announce"), u}},
		Replication: step("replication"),
	})
	require.NoError(b.t, err)
	m.Links(b.now, 2)
	u.m = m
	b.units = append(b.units, u)
	return u
}

func (u *unit) op(name string) error {
	u.ops = append(u.ops, name)
	if errs := u.fail[name]; len(errs) > 0 {
		u.fail[name] = errs[1:]
		return errs[0]
	}
	return nil
}

// tick ticks u and runs every op it hands out, each taking opTime.
func (u *unit) tick() {
	out := u.m.Tick(u.b.now)
	u.absorb(out)
	for out.Run != nil {
		err := out.Run.Run(context.Background())
		u.b.now = u.b.now.Add(u.opTime)
		require.NoError(u.b.t, u.m.Done(u.b.now, *out.Run, err))
		out = u.m.Tick(u.b.now)
		u.absorb(out)
	}
}

// step runs u's next op, if any, and reports whether there was one.
func (u *unit) stepOne() bool {
	out := u.m.Tick(u.b.now)
	u.absorb(out)
	if out.Run == nil {
		return false
	}
	require.NoError(u.b.t, u.m.Done(u.b.now, *out.Run, out.Run.Run(context.Background())))
	return true
}

func (u *unit) absorb(out member.Output) {
	if out.HandBack != 0 {
		u.handedTo = append(u.handedTo, out.HandBack)
		if !u.holdBack {
			u.m.HandedBack(u.b.now, out.HandBack, nil)
		}
	}
	u.role = out.Role
	u.payload = append(u.payload[:0], out.Payload...)
	u.events = append(u.events, out.Events...)
}

func (b *bench) unit(id uint16) *unit {
	for _, u := range b.units {
		if u.id == id {
			return u
		}
	}
	b.t.Fatalf("no unit %d", id)
	return nil
}

// exchange delivers every live unit's payload to the other live units.
func (b *bench) exchange() {
	for _, from := range b.units {
		if from.dead || from.cut || from.payload == nil {
			continue
		}
		for _, to := range b.units {
			if to != from && !to.dead && !to.cut {
				require.NoError(b.t, to.m.Payload(b.now, from.id, from.payload))
			}
		}
	}
}

// run plays d of heartbeat intervals.
func (b *bench) run(d time.Duration) {
	for end := b.now.Add(d); b.now.Before(end); {
		b.now = b.now.Add(interval)
		b.exchange()
		for _, u := range b.units {
			if !u.dead {
				u.tick()
			}
		}
	}
}

// report gives u a heartbeat report about peer on every interface.
func (u *unit) report(peer uint16, s heartbeat.State) {
	for _, ifc := range []string{"lan", "sync"} {
		u.m.Report(u.b.now, heartbeat.Report{Peer: peer, Interface: ifc, State: s, At: u.b.now})
	}
}

// kill stops unit id; the others' heartbeats declare it down.
func (b *bench) kill(id uint16) {
	b.unit(id).dead = true
	for _, u := range b.units {
		if !u.dead {
			u.report(id, heartbeat.PeerDown)
			u.tick()
		}
	}
}

func (u *unit) takeOps() []string {
	ops := u.ops
	u.ops = nil
	return ops
}

func (u *unit) eventsOf(k member.EventKind) []member.Event {
	var out []member.Event
	for _, e := range u.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

var (
	upAll   = []string{"sessions up", "conntrack up", "addresses up", "announce up", "replication up"}
	downAll = []string{"replication down", "announce down", "addresses down", "conntrack down", "sessions down"}
)

// startPair starts units 1 and 2, lets unit 1 become primary and unit 2
// secondary, and clears their records.
func startPair(t *testing.T) (*bench, *unit, *unit) {
	b := newBench(t, 1, 2)
	b.run(2 * time.Second)
	a, s := b.unit(1), b.unit(2)
	require.Equal(t, hakit.Primary, a.role)
	require.Equal(t, hakit.Secondary, s.role)
	require.Equal(t, upAll, a.takeOps())
	require.Empty(t, s.takeOps())
	a.events, s.events = nil, nil
	return b, a, s
}

func TestMachineTakeoverAndDemotion(t *testing.T) {
	b, a, s := startPair(t)
	require.Equal(t, []string{"sessions", "conntrack", "addresses", "announce", "replication"}, a.m.Plan())
	require.Equal(t, a.m.Plan(), a.m.Held())
	require.Empty(t, s.m.Held())

	// The primary's traffic interface fails: it hands the role over and
	// runs its steps down in reverse; the secondary takes over in order.
	a.m.Report(b.now, heartbeat.Report{Peer: 2, Interface: "lan", State: heartbeat.LocalFault})
	a.tick()
	require.Equal(t, hakit.Secondary, a.role)
	require.Equal(t, downAll, a.takeOps())
	require.Len(t, a.eventsOf(member.EventReleased), 1)
	require.Empty(t, a.m.Held())
	b.run(interval)
	require.Equal(t, hakit.Primary, s.role)
	require.Equal(t, upAll, s.takeOps())
	require.Len(t, s.eventsOf(member.EventTakeover), 1)
	require.Empty(t, a.takeOps())

	// A fault on the cluster-only link demotes nobody.
	s.m.Report(b.now, heartbeat.Report{Peer: 1, Interface: "sync", State: heartbeat.LocalFault})
	b.run(time.Second)
	require.Equal(t, hakit.Primary, s.role)
	require.Empty(t, s.takeOps())
}

func TestMachineStepFailsThenRetries(t *testing.T) {
	b, _, s := startPair(t)
	boom := errors.New("netlink: device busy")
	s.fail["addresses up"] = []error{boom, boom}
	b.kill(1)
	// The first attempt fails at addresses: the steps before it go down,
	// in reverse.
	require.Equal(t, []string{"sessions up", "conntrack up", "addresses up", "conntrack down", "sessions down"}, s.takeOps())
	f := s.eventsOf(member.EventStepFailed)
	require.Len(t, f, 1)
	require.Equal(t, "addresses", f[0].Step)
	require.ErrorIs(t, f[0].Err, boom)
	require.Equal(t, b.now.Add(interval), f[0].Retry, "the first pause is one heartbeat interval")
	rb := s.eventsOf(member.EventRolledBack)
	require.Len(t, rb, 1)
	require.Equal(t, "took down conntrack, sessions", rb[0].Reason)
	require.Empty(t, s.m.Held())
	require.Equal(t, f[0].Retry, s.m.Next())

	// Retried after the pause: it fails again, and the pause doubles.
	s.events = nil
	b.now = f[0].Retry
	s.tick()
	require.Equal(t, []string{"sessions up", "conntrack up", "addresses up", "conntrack down", "sessions down"}, s.takeOps())
	f = s.eventsOf(member.EventStepFailed)
	require.Len(t, f, 1)
	require.Equal(t, b.now.Add(2*interval), f[0].Retry)

	// Nothing runs before the pause is over; then the takeover completes.
	b.now = f[0].Retry.Add(-time.Millisecond)
	s.tick()
	require.Empty(t, s.takeOps())
	b.now = f[0].Retry
	s.tick()
	require.Equal(t, upAll, s.takeOps())
	tk := s.eventsOf(member.EventTakeover)
	require.Len(t, tk, 1)
	require.Equal(t, 3, tk[0].Takeover.Attempts)
	c := s.m.Counters()
	require.Equal(t, uint64(2), c.StepFailures)
	require.Equal(t, uint64(1), c.Takeovers)
	require.Equal(t, hakit.Primary, s.role, "a failing step does not move the role")
}

func TestMachineBackoffCapped(t *testing.T) {
	b, _, s := startPair(t)
	for range 20 {
		s.fail["sessions up"] = append(s.fail["sessions up"], errors.New("no"))
	}
	b.kill(1)
	var pauses []time.Duration
	for i := range 10 {
		f := s.eventsOf(member.EventStepFailed)
		require.Len(t, f, i+1)
		last := f[i]
		pauses = append(pauses, last.Retry.Sub(last.Time))
		// The first step failed: nothing was before it.
		require.Equal(t, "nothing before it was up", s.eventsOf(member.EventRolledBack)[i].Reason)
		b.now = last.Retry
		s.tick()
	}
	ms := time.Millisecond
	require.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5000 * ms, 5000 * ms, 5000 * ms, 5000 * ms}, pauses)
	for _, o := range s.takeOps() {
		require.Equal(t, "sessions up", o)
	}
}

// TestMachineDemotionDuringTakeover: a demotion that arrives while a step
// runs reverses from wherever the takeover is.
func TestMachineDemotionDuringTakeover(t *testing.T) {
	b := newBench(t, 1, 2, 3)
	b.run(2 * time.Second)
	s := b.unit(2)
	s.takeOps()
	b.unit(1).dead = true
	for _, u := range b.units[1:] {
		u.report(1, heartbeat.PeerDown)
	}
	require.True(t, s.stepOne()) // becomes primary: sessions up
	require.Equal(t, hakit.Primary, s.role)
	require.True(t, s.stepOne()) // conntrack up
	out := s.m.Tick(b.now)
	require.Equal(t, "addresses up", out.Run.String())
	// While addresses come up, the lan interface fails: unit 3 is
	// healthier, and unit 2 steps down.
	s.m.Report(b.now, heartbeat.Report{Peer: 3, Interface: "lan", State: heartbeat.LocalFault})
	mid := s.m.Tick(b.now)
	require.True(t, mid.Changed)
	require.Equal(t, hakit.Secondary, mid.Role)
	require.Nil(t, mid.Run, "one step at a time")
	require.NoError(t, out.Run.Run(context.Background()))
	require.NoError(t, s.m.Done(b.now, *out.Run, nil))
	s.tick()
	require.Equal(t, []string{"sessions up", "conntrack up", "addresses up", "addresses down", "conntrack down", "sessions down"}, s.takeOps())
	require.Empty(t, s.m.Held())
	require.Empty(t, s.eventsOf(member.EventTakeover))
	require.Len(t, s.eventsOf(member.EventReleased), 1)
	// A stale result changes nothing.
	require.ErrorIs(t, s.m.Done(b.now, *out.Run, nil), member.ErrStaleResult)
	b.run(time.Second)
	require.Equal(t, hakit.Primary, b.unit(3).role)
	require.Equal(t, upAll, b.unit(3).takeOps())
}

func TestMachineDownFails(t *testing.T) {
	b, a, _ := startPair(t)
	boom := errors.New("cloud API: throttled")
	a.fail["announce down"] = []error{boom}
	a.m.Report(b.now, heartbeat.Report{Peer: 2, Interface: "lan", State: heartbeat.LocalFault})
	a.tick()
	require.Equal(t, downAll, a.takeOps(), "the reversal goes on")
	f := a.eventsOf(member.EventDownFailed)
	require.Len(t, f, 1)
	require.Equal(t, "announce", f[0].Step)
	require.ErrorIs(t, f[0].Err, boom)
	require.Equal(t, uint64(1), a.m.Counters().DownFailures)
	require.Len(t, a.eventsOf(member.EventReleased), 1)
	require.Empty(t, a.m.Held())
}

// splitBrain starts units 1 (primary) and 2 and cuts them apart: both
// are primary.
func splitBrain(t *testing.T) (b *bench, a, s *unit) {
	b, a, s = startPair(t)
	b.run(5 * time.Second)
	a.cut, s.cut = true, true
	a.report(2, heartbeat.PeerDown)
	s.report(1, heartbeat.PeerDown)
	b.run(interval)
	require.Equal(t, hakit.Primary, s.role)
	return b, a, s
}

// rejoin joins a and s again.
func rejoin(a, s *unit) {
	a.cut, s.cut = false, false
	a.report(s.id, heartbeat.Alive)
	s.report(a.id, heartbeat.Alive)
}

// TestMachineReannounceAfterSplitBrain: both units go active during a
// partition; when it heals the one primary for longer keeps the role and
// announces again, the other runs its steps down.
func TestMachineReannounceAfterSplitBrain(t *testing.T) {
	b, a, s := splitBrain(t)
	require.Equal(t, upAll, s.takeOps())
	require.Empty(t, a.takeOps())
	rejoin(a, s)
	b.run(time.Second)
	require.Equal(t, hakit.Primary, a.role)
	require.Equal(t, hakit.Secondary, s.role)
	require.Equal(t, downAll, s.takeOps())
	require.Equal(t, []uint16{1}, s.handedTo, "the loser handed its sessions to the winner first")
	require.Empty(t, a.handedTo)
	require.Equal(t, []string{"announce re-announce"}, a.takeOps())
	require.NotEmpty(t, a.eventsOf(member.EventSplitBrain))
	require.Equal(t, uint64(1), a.m.Counters().Reannounces)
}

func TestMachinePayloadChecks(t *testing.T) {
	b, a, s := startPair(t)
	// Unit 2's candidate in a frame from unit 3: dropped, counted.
	err := a.m.Payload(b.now, 3, s.payload)
	require.ErrorIs(t, err, election.ErrInvalid)
	require.Equal(t, uint64(1), a.m.Counters().DroppedWrongUnit)
	// Not a candidate at all.
	require.Error(t, a.m.Payload(b.now, 2, []byte("hello")))
	require.Equal(t, uint64(1), a.m.Counters().DroppedPayload)
	// A candidate claiming to be this unit: the election drops it.
	require.ErrorIs(t, a.m.Payload(b.now, 1, a.payload), election.ErrUnitCollision)
	// None of it changed anything.
	out := a.m.Tick(b.now)
	a.absorb(out)
	d := a.eventsOf(member.EventDropped)
	require.Len(t, d, 2)
	require.Equal(t, uint16(3), d[0].Peer)
	require.Len(t, a.eventsOf(member.EventElection), 1, "the collision, reported by the election")
	require.False(t, out.Changed)
	require.Equal(t, hakit.Primary, out.Role)
	require.Nil(t, out.Run)
	require.Empty(t, a.m.Peers(b.now)[1:], "unit 3 is not known")
}

func TestMachinePhases(t *testing.T) {
	b, _, s := startPair(t)
	s.opTime = 3 * time.Millisecond
	fault := b.now
	b.kill(1)
	tk, ok := s.m.LastTakeover()
	require.True(t, ok)
	require.Equal(t, fault, tk.Fault)
	require.Equal(t, fault, tk.Elected)
	require.Equal(t, fault.Add(12*time.Millisecond), tk.Announced, "announce is the fourth step")
	require.Equal(t, fault.Add(15*time.Millisecond), tk.Done)
	require.Equal(t, 15*time.Millisecond, tk.Total())
	ms3 := 3 * time.Millisecond
	require.Equal(t, []member.Phase{{"election", 0}, {"sessions", ms3}, {"conntrack", ms3}, {"addresses", ms3}, {"announce", ms3}, {"replication", ms3}}, tk.Phases())
	ev := s.eventsOf(member.EventTakeover)
	require.Len(t, ev, 1)
	require.Equal(t, tk, *ev[0].Takeover)
	require.Equal(t, tk.Done.Sub(tk.Elected), tk.Total())
	st := s.m.Status(b.now)
	require.Equal(t, &tk, st.LastTakeover)
	require.Equal(t, hakit.Primary, st.Role)
	require.Equal(t, s.m.Plan(), st.Held)
}

// TestMachineStop: a stopping unit takes its steps down and none up.
func TestMachineStop(t *testing.T) {
	b, a, _ := startPair(t)
	a.m.Stop(b.now)
	a.tick()
	require.Equal(t, downAll, a.takeOps())
	b.run(time.Second)
	require.Empty(t, a.takeOps())
	require.Len(t, a.eventsOf(member.EventReleased), 1)
}

func TestNewMachineConfig(t *testing.T) {
	_, err := member.NewMachine(clock.Epoch, nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
	ec := &election.Config{Unit: 1}
	for _, c := range []member.MachineConfig{
		{Election: ec},
		{Election: ec, Links: []member.Link{{Name: "a"}, {Name: "a"}}},
		{Election: ec, Links: []member.Link{{Name: "a"}}, Steps: []member.Step{nil}},
		{Election: ec, Links: []member.Link{{Name: "a"}}, RetryMin: time.Second, RetryMax: time.Millisecond},
		{Election: &election.Config{Unit: 1, Interval: time.Second, DetectTime: time.Millisecond}, Links: []member.Link{{Name: "a"}}},
		{Links: []member.Link{{Name: "a"}}},
	} {
		_, err := member.NewMachine(clock.Epoch, &c)
		require.ErrorIs(t, err, hakit.ErrConfig, "%+v", c)
	}
}

// TestMachineInSyncNeedsAPrimary: a table that came in sync before any
// primary was heard (the first primary's stream can overtake its claim)
// does not count in the election.
func TestMachineInSyncNeedsAPrimary(t *testing.T) {
	b := newBench(t, 1, 2)
	b.run(700 * time.Millisecond)
	b.unit(2).m.Sync(b.now, true)
	b.run(time.Second)
	require.Equal(t, hakit.Primary, b.unit(1).role, "priority decides, not a premature in-sync")
	require.Equal(t, hakit.Secondary, b.unit(2).role)
	require.Empty(t, b.unit(2).takeOps(), "unit 2 never took over")
	require.True(t, b.unit(2).m.Candidate(b.now).InSync, "in sync once the primary is heard")
}
