package member

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/witness"
)

// WitnessStatus is the witness's status and what this unit does with it.
type WitnessStatus struct {
	// Status is the witness's own: Held, Token, Reachable, Holder, Reason.
	witness.Status
	// CutOff reports that this unit hears no peer (every peer lost, in
	// the heartbeats' verdict, or none heard yet): the witness decides
	// whether it may be primary.
	CutOff bool
	// Contending reports that this unit wants the lease: it is primary, or
	// cut off and the election would make it primary.
	Contending bool
	// Verdict says in words what this unit does with the witness: "peers
	// heard, keeping the role: witness unreachable: …", "kept standby: cut
	// off from every peer, and the lease is held by unit 1 (token 57)".
	Verdict string
}

// fence is the witness's part of a Machine.
type fence struct {
	s       witness.Status
	pending bool // an acquisition was asked for and has not been answered
	cut     bool // no peer heard
	vetoed  bool // cut off, and the election kept this unit from becoming primary
	contend bool
	verdict string
}

type tokenKey struct{}

// Token returns the fencing token of the step running with ctx: the token
// of this unit's latest tenure as the witness's holder when the step was
// handed out (see witness.Status.Token), 0 without a witness. The Announce
// step puts it in every Move; a step of one's own that writes to shared
// state (a cloud API) passes it the same way, so that the late write of a
// stale primary is refused.
func Token(ctx context.Context) uint64 {
	t, _ := ctx.Value(tokenKey{}).(uint64)
	return t
}

// Lease records the witness's status at now (MachineConfig.Witness), and
// pending: this unit asked for the lease (Contend turned true) and the
// witness has not answered yet. The rules of package election/witness
// apply from the next Tick on:
//
//   - a unit that hears a peer ignores the witness for its role (a healthy
//     pair keeps working while the arbiter is down; the verdict says so);
//   - a unit cut off from every peer becomes primary only while the lease
//     is Held, and a cut-off primary whose lease is not Held stands down at
//     once, with the witness's reason;
//   - the steps after the session commit come up only once the lease is
//     Held, unless the witness is unreachable (a handover between units
//     that hear each other while the arbiter is down): each step runs with
//     the token of the tenure it acts in (see Token);
//   - Contend reports when the unit wants the lease: while primary, and
//     while cut off with the election wanting it primary.
func (m *Machine) Lease(now time.Time, s witness.Status, pending bool) {
	if m.w == nil {
		return
	}
	m.w.s, m.w.pending = s, pending
}

// Contend reports whether this unit should hold the witness's lease now:
// the caller calls Acquire when it turns true and Release when it turns
// false. It is false without a witness.
func (m *Machine) Contend() bool { return m.w != nil && m.w.contend }

// fenceIn feeds the election the witness's answer, before its Tick.
func (m *Machine) fenceIn(now time.Time) {
	w := m.w
	if w == nil {
		return
	}
	w.cut = !m.hearsPeer(now)
	if !w.cut {
		w.vetoed = false
	}
	ok := !w.cut || w.s.Held
	m.el.Witness(now, ok)
	if !ok && m.role == hakit.Primary {
		m.el.StandDown(now, election.CauseWitness, "cut off from every peer, and the witness's lease is not held: "+w.s.Reason)
	}
}

// fenceOut decides, after the election's Tick, whether to contend, and
// reports a new verdict.
func (m *Machine) fenceOut(now time.Time, events []election.Event) {
	w := m.w
	if w == nil {
		return
	}
	for _, e := range events {
		if e.Kind == election.EventWitnessVeto && w.cut {
			w.vetoed = true
		}
	}
	primary := m.role == hakit.Primary
	was := w.contend
	w.contend = primary || (w.cut && w.vetoed)
	if w.contend && !was {
		w.pending = true // asked now; the caller's next Lease says when answered
	}
	v := m.verdict()
	if v == w.verdict {
		return
	}
	w.verdict = v
	if m.role == hakit.Initial && !w.contend {
		return // starting, still listening for the peers: nothing decided yet
	}
	m.events = append(m.events, Event{Time: now, Kind: EventWitness, Reason: v})
	level := slog.LevelInfo
	if w.cut || !w.s.Reachable && w.contend {
		level = slog.LevelWarn
	}
	m.log.Log(context.Background(), level, "member: witness: "+v,
		"held", w.s.Held, "token", w.s.Token, "reachable", w.s.Reachable, "cut_off", w.cut)
}

// verdict says what this unit does with the witness's status, in words.
func (m *Machine) verdict() string {
	w := m.w
	s := w.s
	primary := m.role == hakit.Primary
	switch {
	case !w.cut && primary && !s.Held && w.pending && m.up < len(m.plan):
		return "peers heard; the takeover waits for the lease: asking the witness"
	case !w.cut && primary && !s.Held && s.Reachable && m.up < len(m.plan):
		return "peers heard; the takeover waits for the lease: " + s.Reason
	case !w.cut && !s.Reachable && w.contend && !w.pending:
		return "peers heard, keeping the role: " + unreachable(s.Reason)
	case !w.cut:
		return "peers heard: the witness is not consulted (" + s.Reason + ")"
	case primary && s.Held:
		return "cut off from every peer: staying primary, " + s.Reason
	case primary:
		return "cut off from every peer and the lease is not held: standing down (" + s.Reason + ")"
	case s.Held:
		return "cut off from every peer: " + s.Reason + ", becoming primary"
	case !w.contend:
		return "cut off from every peer: would need the witness's lease to become primary (" + s.Reason + ")"
	case w.pending:
		return "kept standby: cut off from every peer, asking the witness for the lease"
	case !s.Reachable:
		return "kept standby: cut off from every peer, and " + unreachable(s.Reason) + ": nobody becomes primary until the witness answers"
	}
	return "kept standby: cut off from every peer, and the " + s.Reason
}

// unreachable returns the reason of a witness that did not answer, saying
// so.
func unreachable(reason string) string {
	if strings.HasPrefix(reason, "witness unreachable") {
		return reason
	}
	return "witness unreachable; " + reason
}

// fenced reports whether the step at index i waits for the lease: with a
// witness, every step after the session commit does while the lease is
// not held and the witness is reachable (or not asked yet).
func (m *Machine) fenced(i int) bool {
	w := m.w
	if w == nil || (m.cfg.Sessions != nil && i == 0) {
		return false
	}
	return !w.s.Held && (w.s.Reachable || w.pending)
}

// fenceNext returns when the lease lapses, if it is held (zero if not):
// the caller ticks then, so that a cut-off primary stands down at once.
func (m *Machine) fenceNext() time.Time {
	if m.w == nil || !m.w.s.Held {
		return time.Time{}
	}
	return m.w.s.Until
}

// token is the token of the ops handed out now.
func (m *Machine) token() uint64 {
	if m.w == nil {
		return 0
	}
	return m.w.s.Token
}

func (m *Machine) witnessStatus() *WitnessStatus {
	w := m.w
	if w == nil {
		return nil
	}
	return &WitnessStatus{Status: w.s, CutOff: w.cut, Contending: w.contend, Verdict: w.verdict}
}

// hearsPeer reports whether some peer is heard: not lost (a peer that
// misses a few heartbeats is still heard until the heartbeats declare it
// lost), and its candidate known to the election (a peer heard again
// after it was lost counts once its first payload is in, so that its role
// is known before the witness stops deciding).
func (m *Machine) hearsPeer(now time.Time) bool {
	for _, c := range m.el.Peers(now) {
		if !m.tr.lost[c.Unit] {
			return true
		}
	}
	return false
}

// contender calls the witness's Acquire and Release as the Machine's
// Contend asks, one call at a time, in a goroutine of its own (each call
// is a round trip to the arbiter).
type contender struct {
	w  witness.Witness
	d  *Driver
	wg sync.WaitGroup
	mu sync.Mutex
	// want is what the Machine asks for, applied what the witness was
	// last told; pending: an Acquire is in flight.
	want, applied, running, pending, closed bool
	// gen counts the changes of want and pending: a status read before
	// one is stale.
	gen uint64
}

// lease is the witness's status as read at one generation of the
// contender.
type lease struct {
	s       witness.Status
	pending bool
	gen     uint64
}

// status returns the witness's status and whether an acquisition is
// asked for and not answered. It must be called with no lock of the
// Driver held (Status may call the witness's OnChange).
func (c *contender) status() lease {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	s := c.w.Status()
	c.mu.Lock()
	defer c.mu.Unlock()
	return lease{s: s, pending: c.pending || (c.want && !c.applied), gen: gen}
}

// feed hands l to the Machine unless the contender changed since it was
// read. It must be called with the Driver's mu held.
func (c *contender) feed(m *Machine, now time.Time, l lease) {
	c.mu.Lock()
	stale := l.gen != c.gen
	c.mu.Unlock()
	if !stale {
		m.Lease(now, l.s, l.pending)
	}
}

// set records what the Machine asks for and starts the calls. It is
// called with the Driver's mu held, after each Tick.
func (c *contender) set(want bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if want != c.want {
		c.gen++
	}
	c.want = want
	if c.running || c.closed || c.want == c.applied {
		return
	}
	c.running = true
	c.wg.Add(1)
	go c.loop()
}

func (c *contender) loop() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		if c.closed || c.want == c.applied {
			c.running = false
			c.mu.Unlock()
			return
		}
		want := c.want
		c.applied, c.pending = want, want
		c.gen++
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.d.cfg.StepTimeout)
		var err error
		if want {
			_, err = c.w.Acquire(ctx)
		} else {
			err = c.w.Release(ctx)
		}
		cancel()
		if err != nil {
			c.d.log.Debug("member: witness call failed", "acquire", want, "err", err) // the status says why
		}
		c.mu.Lock()
		c.pending = false
		c.gen++
		c.mu.Unlock()
		l := c.status()
		c.d.input(func(m *Machine, now time.Time) { c.feed(m, now, l) })
	}
}

// close stops the calls, waits for the one in flight, and releases the
// lease.
func (c *contender) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), c.d.cfg.StepTimeout)
	defer cancel()
	if err := c.w.Release(ctx); err != nil {
		c.d.log.Warn("member: witness: releasing the lease at close failed: it expires by itself", "err", err)
	}
}
