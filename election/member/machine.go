package member

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// ErrStaleResult is wrapped by the error of Machine.Done for an Op that is
// not the one running.
var ErrStaleResult = errors.New("not the step running")

// Link is a heartbeat interface as the Machine sees it.
type Link struct {
	// Name names the interface, as in the heartbeat reports.
	Name string
	// ClusterOnly marks a link only the cluster uses (a dedicated
	// heartbeat or sync link): there the peer is the only neighbour, a cut
	// looks the same from both units, and moving the role would not mend
	// it, so a local fault on it does not demote this unit. Interfaces that
	// carry traffic leave it false: a local fault there hands the role to a
	// healthy unit.
	ClusterOnly bool
}

// MachineConfig configures a Machine; zero fields take their defaults.
type MachineConfig struct {
	// Election configures the election; its Unit, this unit's ID, is
	// required (nil means the election's defaults, which lack it).
	Election *election.Config
	// Links are the heartbeat interfaces (at least one).
	Links []Link
	// Sessions, when not nil, is the first step of every takeover: its Up
	// commits the sessions replicated from the old primary (nothing is
	// answered for before the sessions are known); its Down, the last of
	// every demotion, mirrors the new primary's table again. It is set when
	// session sync is configured; while it is set, the unit advertises
	// itself in sync only after Sync(now, true).
	Sessions Step
	// Steps are the user's steps, in the order they come up: typically
	// the kernel's session injection, the virtual MACs and addresses
	// (Addresses), the announcement (Announce).
	Steps []Step
	// Replication, when not nil, is the last step of every takeover: its
	// Up starts replicating this unit's table to the peers; its Down, the
	// first of every demotion, stops it.
	Replication Step
	// RetryMin is the pause before a failed takeover is tried again; it
	// doubles after every failure up to RetryMax, and starts again from
	// RetryMin after a takeover that completes or a role change. Zero
	// means the election's heartbeat interval: a passing failure (a busy
	// netlink socket) is retried before the peers notice anything.
	RetryMin time.Duration
	// RetryMax caps the pause; zero means 5 s, so a step that keeps
	// failing (a cloud API's rate limit) is not hammered.
	RetryMax time.Duration
	// Checks are the health checks whose results the caller feeds with
	// CheckResult (their Probe is not used here).
	Checks []Check
	// Logger receives the events; nil discards them.
	Logger *slog.Logger
	// Assigned makes the role the one given to Assign (by a RoleSource)
	// instead of the election's; Links may then be empty.
	Assigned bool
	// Witness makes an outside witness arbitrate partitions: its status is
	// fed with Lease, and the rules of package election/witness apply (see
	// Machine.Lease).
	Witness bool
	// HandbackTimeout bounds how long the steps of a unit that lost a
	// split brain stay up while the winner takes in its sessions (see
	// Output.HandBack); zero means DefaultHandbackTimeout.
	HandbackTimeout time.Duration

	interval time.Duration // the election's, after defaults
	stall    time.Duration // the election's StallTime, after defaults
}

// Action says what to do with a step.
type Action uint8

// The actions. The zero value is invalid.
const (
	// Up brings the step up.
	Up Action = iota + 1
	// Down takes it down.
	Down
	// Reannounce asks a Reannouncer to announce again.
	Reannounce
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case Up:
		return "up"
	case Down:
		return "down"
	case Reannounce:
		return "re-announce"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Op is one step to run: the Machine hands out one at a time, and the
// caller reports its result with Done before the next.
type Op struct {
	// Index is the step's place in the takeover order (see Machine.Plan).
	Index int
	// Step is the step.
	Step Step
	// Action is what to do with it.
	Action Action
	// Token is the fencing token the step runs with (see Token): the
	// witness's token when the op was handed out, 0 without a witness.
	Token uint64
	seq   uint64
}

// Run runs the op: the step's Up, Down or Reannounce.
func (o Op) Run(ctx context.Context) error {
	ctx = context.WithValue(ctx, tokenKey{}, o.Token)
	switch o.Action {
	case Up:
		return o.Step.Up(ctx)
	case Down:
		return o.Step.Down(ctx)
	case Reannounce:
		if r, ok := o.Step.(Reannouncer); ok {
			return r.Reannounce(ctx)
		}
		return nil
	}
	return fmt.Errorf("member: %v: %w", o.Action, election.ErrInvalid)
}

// String returns the op in words, for example "addresses up".
func (o Op) String() string { return o.Step.Name() + " " + o.Action.String() }

// Output is what one Tick decided.
type Output struct {
	// Role is the unit's role after the tick, for the heartbeats too.
	Role hakit.Role
	// Changed reports that Role changed in this tick; Reason says why,
	// Cause the same as a value.
	Changed bool
	Reason  string
	Cause   election.Cause
	// Payload is the local candidate to put in every heartbeat from now
	// on. It is valid until the next Tick.
	Payload []byte
	// Send asks for a heartbeat now: the candidate or the role changed,
	// and the peers should hear it at once.
	Send bool
	// Run is the step to run next, or nil. Report its result with Done;
	// until then no other is handed out.
	Run *Op
	// Events lists what happened since the previous Tick, oldest first.
	Events []Event
	// HandBack, when not zero, names the unit that won a split brain
	// against this one, which just stood down: hand it this unit's
	// sessions (statesync.Driver.HandBack) and report the acknowledgement
	// with HandedBack. The steps stay up until then, or until
	// MachineConfig.HandbackTimeout.
	HandBack uint16
}

// Machine is one cluster member's decisions, as a pure state machine: it
// turns heartbeat reports, peers' payloads, the local link and sync state
// and the steps' results into the unit's role, the payload of its
// heartbeats and the one step to run next. It wraps an election.Machine,
// reads no clock, starts no goroutine, calls no step and no callback: the
// caller feeds it inputs with their time, calls Tick, and acts on the
// Output. It is not safe for concurrent use; Driver runs one.
type Machine struct {
	cfg  MachineConfig
	log  *slog.Logger
	el   *election.Machine
	tr   *tracker
	plan []Step
	name []string
	ann  []bool // plan[i] is a Reannouncer

	role     hakit.Role
	reason   string
	cause    election.Cause
	since    time.Time
	lastTick time.Time
	links    uint16
	inSync   bool
	primary  uint16    // the last peer heard claiming the primary role
	faultAt  time.Time // the last verdict or peer loss since the last role change
	stopped  bool

	up         int // plan[:up] are up
	pending    *Op
	seq        uint64
	retryAt    time.Time
	backoff    time.Duration
	failed     string   // the step whose Up failed, while the ones before it go down
	rolled     []string // what that rollback took down so far
	reannounce []int
	cur, last  *Takeover

	w    *fence    // the witness's part, nil without one
	hb   *handback // a split brain lost: the sessions go to the winner first (handback.go)
	held *held     // verdicts reported right after this unit's own stall (resume.go)

	payload  []byte
	events   []Event
	counters Counters
	checks   *checks
	assigned *assigned // with MachineConfig.Assigned
}

// NewMachine returns the Machine of unit cfg.Election.Unit, started at
// now, in the election's initial role with every step down. Config errors
// wrap hakit.ErrConfig.
func NewMachine(now time.Time, cfg *MachineConfig) (*Machine, error) {
	if cfg == nil {
		cfg = &MachineConfig{}
	}
	c := *cfg
	if len(c.Links) == 0 && !c.Assigned {
		return nil, fmt.Errorf("member: config: no heartbeat interfaces: %w", hakit.ErrConfig)
	}
	seen := map[string]bool{}
	for _, l := range c.Links {
		if l.Name == "" || seen[l.Name] {
			return nil, fmt.Errorf("member: config: heartbeat interface %q empty or given twice: %w", l.Name, hakit.ErrConfig)
		}
		seen[l.Name] = true
	}
	ec := *election.DefaultConfig()
	if c.Election != nil {
		ec = *c.Election
	}
	c.Election = &ec
	c.interval = cmp.Or(ec.Interval, election.DefaultConfig().Interval)
	c.stall = cmp.Or(ec.StallTime, 3*c.interval)
	if c.RetryMin == 0 {
		c.RetryMin = c.interval
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.HandbackTimeout <= 0 {
		c.HandbackTimeout = DefaultHandbackTimeout
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		return nil, fmt.Errorf("member: config: retry pause %v to %v: %w", c.RetryMin, c.RetryMax, hakit.ErrConfig)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ec.Logger = nil // its events are the unit's, logged by the unit (electionEvent)
	el, err := election.New(now, &ec)
	if err != nil {
		return nil, err
	}
	if err := validateChecks(c.Checks, false); err != nil {
		return nil, err
	}
	m := &Machine{cfg: c, log: log, el: el, tr: newTracker(c.Links),
		role: el.Role(), since: now, lastTick: now, inSync: c.Sessions == nil, backoff: c.RetryMin,
		checks: newChecks(el.Priority(), c.Checks)}
	if c.Assigned {
		m.assigned = &assigned{}
	}
	for _, s := range m.takeoverOrder() {
		if s == nil {
			return nil, fmt.Errorf("member: config: a nil step: %w", hakit.ErrConfig)
		}
		_, ann := s.(Reannouncer)
		m.plan, m.name, m.ann = append(m.plan, s), append(m.name, s.Name()), append(m.ann, ann)
	}
	if c.Witness {
		if c.Assigned {
			return nil, fmt.Errorf("member: config: a witness with an assigned role: the witness arbitrates the election: %w", hakit.ErrConfig)
		}
		m.w = &fence{}
	}
	m.local(now)
	return m, nil
}

// takeoverOrder is THE order of a takeover: commit the sessions, then the
// user's steps as given, then replicate to the peers. A demotion runs it
// backwards.
func (m *Machine) takeoverOrder() []Step {
	var p []Step
	if m.cfg.Sessions != nil {
		p = append(p, m.cfg.Sessions)
	}
	p = append(p, m.cfg.Steps...)
	if m.cfg.Replication != nil {
		p = append(p, m.cfg.Replication)
	}
	return p
}

// Plan returns the names of the steps in the order they come up.
func (m *Machine) Plan() []string { return slices.Clone(m.name) }

// Report records a heartbeat report at now: a verdict becomes an election
// verdict, a peer silent everywhere (or declared down) is lost.
func (m *Machine) Report(now time.Time, r heartbeat.Report) {
	in := m.tr.report(r)
	m.event(now, Event{Kind: EventHeartbeat, Peer: r.Peer, Interface: r.Interface, State: r.State, Reason: r.Reason})
	if m.holdAfterStall(now, r, in) {
		return
	}
	for _, v := range in.verdicts {
		_ = m.el.Verdict(now, v) // refusals are counted by the election
	}
	if in.lost {
		m.el.PeerLost(now, in.peer)
	}
	if r.State.Verdict() || in.lost {
		m.faultAt = now
	}
}

// Payload records the payload of a heartbeat frame accepted from unit at
// now: the peer's candidate. A payload that is not a valid candidate, or
// whose candidate is not unit's, is dropped, counted and reported; it
// changes nothing. Feed each accepted frame's payload once, in the order
// the frames were accepted.
func (m *Machine) Payload(now time.Time, unit uint16, b []byte) error {
	var c election.Candidate
	if err := c.UnmarshalBinary(b); err != nil {
		m.counters.DroppedPayload++
		err = fmt.Errorf("member: payload of unit %d: %w", unit, err)
		m.event(now, Event{Kind: EventDropped, Peer: unit, Err: err})
		return err
	}
	if c.Unit != unit {
		m.counters.DroppedWrongUnit++
		err := fmt.Errorf("member: payload of unit %d carries the candidate of unit %d: %w", unit, c.Unit, election.ErrInvalid)
		m.event(now, Event{Kind: EventDropped, Peer: unit, Err: err})
		return err
	}
	if err := m.el.Observe(now, c); err != nil {
		return err // counted and reported by the election
	}
	if c.Role == hakit.Primary && m.primary != c.Unit {
		m.primary = c.Unit
		m.local(now)
	}
	return nil
}

// Links records at now how many monitored interfaces are up (or the sum
// of their weights). A drop is a link failure (see election.Machine.Local).
func (m *Machine) Links(now time.Time, up uint16) {
	m.links = up
	m.local(now)
}

// Sync records at now whether this unit's session table is in sync with
// the primary's (bulk sync done, stream current). Without a Sessions step
// the unit is always in sync.
func (m *Machine) Sync(now time.Time, inSync bool) {
	if m.cfg.Sessions == nil || inSync == m.inSync {
		return
	}
	m.inSync = inSync
	m.event(now, Event{Kind: EventSync, InSync: inSync})
	m.local(now)
}

// local feeds the election the local status. A table counts as in sync
// only once a primary has been heard: the stream that fills it comes from
// the primary, and may arrive before the primary's claim does; counted
// earlier, it would make this unit look better than the unit it mirrors.
// The primary stays the one heard after it is lost, so the standby that
// holds its table is preferred as its successor.
func (m *Machine) local(now time.Time) {
	m.el.Local(now, election.Status{Monitored: m.links, InSync: m.inSync && (m.cfg.Sessions == nil || m.primary != 0)})
}

// Handover starts a planned handover: the role moves to the best other
// unit once it is ready (see election.Machine.Handover).
func (m *Machine) Handover(now time.Time) { m.el.Handover(now) }

// Resume ends a planned handover; with reclaim, this unit asks for the
// role back (see election.Machine.Resume).
func (m *Machine) Resume(now time.Time, reclaim bool) { m.el.Resume(now, reclaim) }

// Witness records the answer of an outside witness at now (see
// election.Machine.Witness): a unit whose witness fails does not become
// primary. With MachineConfig.Witness the lease decides instead (see
// Lease), and every Tick overrides this answer.
func (m *Machine) Witness(now time.Time, ok bool) { m.el.Witness(now, ok) }

// Stop makes the Machine take every step down and bring none up again:
// the unit is shutting down. The election goes on deciding.
func (m *Machine) Stop(now time.Time) { m.stopped = true }

// Done reports the result of op, the last Output.Run, at now. A failed Up
// is counted and reported; the steps before it go down in reverse order
// and the takeover is tried again after the backoff. A failed Down is
// counted and reported, and the reversal goes on. It returns an error
// wrapping ErrStaleResult, and changes nothing, if op is not the step
// running.
func (m *Machine) Done(now time.Time, op Op, err error) error {
	if m.pending == nil || op.seq != m.pending.seq {
		return fmt.Errorf("member: result of %v: %w", op, ErrStaleResult)
	}
	m.pending = nil
	name := m.name[op.Index]
	switch op.Action {
	case Up:
		if err != nil {
			m.upFailed(now, name, err)
			return nil
		}
		m.up++
		m.event(now, Event{Kind: EventStep, Step: name, Action: Up})
		if t := m.cur; t != nil {
			t.Steps = append(t.Steps, StepTime{Step: name, Done: now})
			if m.ann[op.Index] && t.Announced.IsZero() {
				t.Announced = now
			}
		}
	case Down:
		m.up--
		if err != nil {
			m.counters.DownFailures++
			m.event(now, Event{Kind: EventDownFailed, Step: name, Action: Down, Err: err})
		} else {
			m.event(now, Event{Kind: EventStep, Step: name, Action: Down})
		}
		if m.failed != "" {
			m.rolled = append(m.rolled, name)
		}
		if m.up == 0 {
			if m.failed != "" {
				m.rolledBack(now)
			}
			if !m.wantPrimary() {
				m.counters.Releases++
				m.event(now, Event{Kind: EventReleased, Reason: "every step down"})
			}
		}
	case Reannounce:
		m.reannounce = m.reannounce[1:]
		if err != nil {
			m.counters.ReannounceFailures++
			m.event(now, Event{Kind: EventReannounceFailed, Step: name, Action: Reannounce, Err: err})
		} else {
			m.event(now, Event{Kind: EventStep, Step: name, Action: Reannounce})
		}
	}
	return nil
}

func (m *Machine) upFailed(now time.Time, name string, err error) {
	m.counters.StepFailures++
	m.retryAt = now.Add(m.backoff)
	m.backoff = min(2*m.backoff, m.cfg.RetryMax)
	m.failed, m.rolled = name, nil
	why := "nothing before it is up; trying again"
	if m.up > 0 {
		before := slices.Clone(m.name[:m.up])
		slices.Reverse(before)
		why = "taking down " + strings.Join(before, ", ") + ", then trying again"
	}
	m.event(now, Event{Kind: EventStepFailed, Step: name, Action: Up, Err: err, Retry: m.retryAt, Reason: why})
	if t := m.cur; t != nil {
		t.Attempts++
		t.Steps, t.Announced = nil, time.Time{}
	}
	if m.up == 0 {
		m.rolledBack(now)
	}
}

func (m *Machine) rolledBack(now time.Time) {
	why := "nothing before it was up"
	if len(m.rolled) > 0 {
		why = "took down " + strings.Join(m.rolled, ", ")
	}
	m.event(now, Event{Kind: EventRolledBack, Step: m.failed, Reason: why})
	m.failed, m.rolled = "", nil
}

// wantPrimary reports whether the steps should be up, backoff aside.
func (m *Machine) wantPrimary() bool { return m.role == hakit.Primary && !m.stopped }

// Tick decides at now, from everything recorded so far. The caller calls
// it at Next, after every input and after every Done, and acts on the
// Output: the payload and role into the heartbeats (at once if Send), the
// step in Run.
func (m *Machine) Tick(now time.Time) Output {
	m.releaseAfterStall(now)
	m.lastTick = now
	m.fenceIn(now)
	eo := m.decide(now)
	for _, e := range eo.Events {
		m.electionEvent(e)
	}
	if eo.Changed {
		eo.Cause, eo.Reason = m.standDownReason(m.role, eo.Role, eo.Cause, eo.Reason)
		m.roleChanged(now, eo.Role, eo.Cause, eo.Reason)
	}
	m.fenceOut(now, eo.Events)
	if eo.ReAnnounce && m.wantPrimary() {
		m.counters.Reannounces++
		m.reannounce = m.reannounce[:0]
		for i := range m.up {
			if m.ann[i] {
				m.reannounce = append(m.reannounce, i)
			}
		}
	}
	out := Output{Role: m.role, Changed: eo.Changed, Reason: eo.Reason, Cause: eo.Cause, Send: eo.Send || eo.Changed}
	out.HandBack = m.handbackOut(now)
	out.Run = m.next(now)
	m.payload = m.el.AppendCandidate(m.payload[:0], now)
	out.Payload = m.payload
	out.Events, m.events = m.events, nil
	return out
}

func (m *Machine) roleChanged(now time.Time, to hakit.Role, cause election.Cause, reason string) {
	m.handbackOnChange(now, m.role, to, reason)
	m.role, m.reason, m.cause, m.since = to, reason, cause, now
	m.retryAt, m.backoff = time.Time{}, m.cfg.RetryMin
	m.reannounce = m.reannounce[:0]
	m.cur = nil
	if to == hakit.Primary && !m.stopped {
		m.cur = &Takeover{Fault: m.faultAt, Elected: now, Attempts: 1}
	}
	m.faultAt = time.Time{}
}

// next hands out the next step, if none is running: up in order while
// primary (after the backoff of a failure), down in reverse otherwise,
// then the re-announcements.
func (m *Machine) next(now time.Time) *Op {
	if m.pending != nil || m.handingBack(now) {
		return nil
	}
	want := m.wantPrimary() && !now.Before(m.retryAt)
	if !want {
		m.reannounce = m.reannounce[:0]
	}
	if want && m.up == len(m.plan) && m.cur != nil {
		m.complete(now)
	}
	var op *Op
	switch {
	case want && m.up < len(m.plan):
		if m.fenced(m.up) {
			return nil // the lease is a round trip away
		}
		op = &Op{Index: m.up, Action: Up}
	case !want && m.up > 0:
		op = &Op{Index: m.up - 1, Action: Down}
	case want && len(m.reannounce) > 0:
		op = &Op{Index: m.reannounce[0], Action: Reannounce}
	default:
		return nil
	}
	m.seq++
	op.Step, op.seq, op.Token = m.plan[op.Index], m.seq, m.token()
	m.pending = op
	return op
}

func (m *Machine) complete(now time.Time) {
	t := m.cur
	m.cur = nil
	t.Done = now
	m.last = t
	m.backoff = m.cfg.RetryMin
	m.counters.Takeovers++
	c := *t
	c.Steps = slices.Clone(t.Steps)
	m.event(now, Event{Kind: EventTakeover, Takeover: &c, Reason: c.String()})
}

// Next returns when the caller should call Tick at the latest: a
// heartbeat interval after the last Tick, or earlier when a failed
// takeover is due to be tried again.
func (m *Machine) Next() time.Time {
	next := m.lastTick.Add(m.cfg.interval)
	if m.wantPrimary() && m.pending == nil && m.retryAt.After(m.lastTick) && m.retryAt.Before(next) {
		next = m.retryAt
	}
	if at := m.fenceNext(); at.After(m.lastTick) && at.Before(next) {
		next = at // a cut-off primary stands down the moment its lease lapses
	}
	if m.hb != nil && m.hb.until.After(m.lastTick) && m.hb.until.Before(next) {
		next = m.hb.until
	}
	return next
}

// Role returns the unit's current role.
func (m *Machine) Role() hakit.Role { return m.role }

// Held returns the names of the steps that are up, in order.
func (m *Machine) Held() []string { return slices.Clone(m.name[:m.up]) }

// Running returns the op handed out and not yet Done.
func (m *Machine) Running() (Op, bool) {
	if m.pending == nil {
		return Op{}, false
	}
	return *m.pending, true
}

// LastTakeover returns the phases of the last takeover completed.
func (m *Machine) LastTakeover() (Takeover, bool) {
	if m.last == nil {
		return Takeover{}, false
	}
	t := *m.last
	t.Steps = slices.Clone(t.Steps)
	return t, true
}

// Counters returns the running totals, the election's included.
func (m *Machine) Counters() Counters {
	c := m.counters
	c.Election = m.el.Counters()
	return c
}

// Candidate returns the local candidate at now, as the heartbeats carry it.
func (m *Machine) Candidate(now time.Time) election.Candidate { return m.el.Candidate(now) }

// Peers returns the candidates of the peers currently known, by unit ID,
// with their ages taken at now.
func (m *Machine) Peers(now time.Time) []election.Candidate { return m.el.Peers(now) }

// Reachable reports whether peer is heard on some heartbeat interface and
// not lost.
func (m *Machine) Reachable(peer uint16) bool { return m.tr.reachable(peer) }

// Status returns what the Machine knows at now; the Driver adds the
// heartbeat links and the session sync.
func (m *Machine) Status(now time.Time) Status {
	s := Status{
		Unit: m.cfg.Election.Unit, Role: m.role, Reason: m.reason, Cause: m.cause, Since: m.since,
		Priority: m.checks.base, Effective: m.el.Priority(), LinksUp: m.links, InSync: m.inSync || m.role == hakit.Primary,
		Held: m.Held(), Counters: m.Counters(), Checks: m.Checks(),
	}
	if op, ok := m.Running(); ok {
		s.Running = op.String()
	}
	if m.wantPrimary() && m.retryAt.After(now) {
		s.Retry = m.retryAt
	}
	if t, ok := m.LastTakeover(); ok {
		s.LastTakeover = &t
	}
	s.Witness = m.witnessStatus()
	for _, c := range m.el.Peers(now) {
		s.Peers = append(s.Peers, PeerStatus{Unit: c.Unit, Candidate: c, Reachable: m.tr.reachable(c.Unit)})
	}
	return s
}

// electionEvent reports an event of the election as the unit's own (and
// logs it: the election is given no logger, so that each line is written
// once, in the unit's words).
func (m *Machine) electionEvent(e election.Event) {
	me := Event{Peer: e.Unit, Reason: e.Reason}
	switch e.Kind {
	case election.EventRoleChange:
		me.Kind, me.From, me.To = EventRoleChange, e.From, e.To
		me.Cause, me.Reason = m.standDownReason(e.From, e.To, e.Cause, e.Reason)
	case election.EventSplitBrain:
		me.Kind = EventSplitBrain
	default:
		me.Kind, me.Election = EventElection, e.Kind
	}
	m.event(e.Time, me)
}

func (m *Machine) event(now time.Time, e Event) {
	e.Time = now
	m.events = append(m.events, e)
	level := slog.LevelInfo
	switch e.Kind {
	case EventStepFailed, EventDownFailed, EventReannounceFailed:
		level = slog.LevelError
	case EventSplitBrain:
		level = slog.LevelWarn // needs a human
	case EventElection:
		if e.Election == election.EventDropped {
			level = slog.LevelDebug
		}
	case EventHandedBack:
		if e.Err != nil {
			level = slog.LevelWarn
		}
	case EventCheck:
		if e.Failing {
			level = slog.LevelWarn
		}
	case EventHeartbeat:
		if !e.State.Verdict() {
			level = slog.LevelDebug
		}
	case EventDropped, EventStep:
		level = slog.LevelDebug
	}
	if !m.log.Enabled(context.Background(), level) {
		return
	}
	if e.Kind == EventRoleChange {
		// The one line an operator reads per role change.
		m.log.LogAttrs(context.Background(), level, "member: role change", slog.String("from", e.From.String()),
			slog.String("to", e.To.String()), slog.String("cause", e.Cause.String()), slog.String("reason", e.Reason))
		return
	}
	m.log.Log(context.Background(), level, "member: "+e.String())
}
