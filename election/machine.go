package election

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hakit/hakit"
)

// Status is what the caller knows about the local unit, from its interface
// monitor and from statesync.
type Status struct {
	// Monitored is the number (or weight sum) of monitored interfaces up.
	Monitored uint16
	// InSync reports that the local session table is in sync with the
	// primary's (bulk sync finished).
	InSync bool
}

// VerdictKind says what a heartbeat verdict reports.
type VerdictKind uint8

// The verdicts the heartbeat layer's Early Interface Failure Detection
// delivers (the Clavister behaviour). The zero value is invalid.
const (
	// LocalMalfunction: a local interface is broken (no neighbour answered
	// the probes). The unit advertises itself degraded; a primary hands the
	// role to a healthy unit at once.
	LocalMalfunction VerdictKind = iota + 1
	// LocalRecovered: the local interface works again.
	LocalRecovered
	// PeerMalfunction: neighbours answer on the interface but unit Unit's
	// heartbeats do not arrive there, so Unit's interface is broken. It
	// moves the role only if Unit is the primary: then this unit deposes it.
	PeerMalfunction
	// PeerRecovered: unit Unit's heartbeats arrive again.
	PeerRecovered
)

// String returns the verdict kind's name.
func (k VerdictKind) String() string {
	switch k {
	case LocalMalfunction:
		return "local interface malfunction"
	case LocalRecovered:
		return "local interface recovered"
	case PeerMalfunction:
		return "peer interface malfunction"
	case PeerRecovered:
		return "peer interface recovered"
	}
	return fmt.Sprintf("VerdictKind(%d)", uint8(k))
}

// Verdict is one heartbeat verdict about an interface.
type Verdict struct {
	// Kind is what the verdict reports.
	Kind VerdictKind
	// Unit is the peer a PeerMalfunction or PeerRecovered verdict is about.
	Unit uint16
	// Interface names the interface the verdict is about. Local verdicts
	// are tracked per interface: the unit stays degraded until every
	// interface that malfunctioned has recovered.
	Interface string
}

// EventKind says what an Event records.
type EventKind uint8

// The events.
const (
	// EventRoleChange: this unit's role changed (From, To, Reason).
	EventRoleChange EventKind = iota + 1
	// EventSplitBrain: this primary heard another primary (Unit).
	EventSplitBrain
	// EventHandover: this primary started yielding to unit Unit.
	EventHandover
	// EventHandoverTimeout: unit Unit did not get ready in time; the
	// primary keeps the role and tries again.
	EventHandoverTimeout
	// EventWitnessVeto: this unit would have become primary but its witness
	// failed.
	EventWitnessVeto
	// EventPeerLost: the heartbeat layer declared unit Unit lost.
	EventPeerLost
	// EventDeposed: this unit accepted a peer interface malfunction verdict
	// against the primary, unit Unit.
	EventDeposed
	// EventDropped: an invalid input was dropped (Reason says why); it
	// changed nothing.
	EventDropped
	// EventStalled: this unit's own loop stalled (a gap of more than
	// StallTime between Ticks); its age and tenure start again.
	EventStalled
)

// String returns the event kind's name.
func (k EventKind) String() string {
	switch k {
	case EventRoleChange:
		return "role change"
	case EventSplitBrain:
		return "split brain"
	case EventHandover:
		return "handover"
	case EventHandoverTimeout:
		return "handover timeout"
	case EventWitnessVeto:
		return "witness veto"
	case EventPeerLost:
		return "peer lost"
	case EventDeposed:
		return "deposed"
	case EventDropped:
		return "dropped"
	case EventStalled:
		return "stalled"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something the Machine did or noticed, with its time and reason.
type Event struct {
	Time time.Time
	Kind EventKind
	// Unit is the peer involved, if any.
	Unit uint16
	// From and To are the roles of a role change, Cause why as a value.
	From, To hakit.Role
	Cause    Cause
	Reason   string
}

// Output is what one Tick decided.
type Output struct {
	// Role is the unit's role after the tick.
	Role hakit.Role
	// Changed reports that Role changed in this tick; Reason says why. On a
	// change to Primary the caller takes over: applies the virtual MAC and
	// addresses, commits the replicated sessions and announces (GARP). On a
	// change away from Primary it releases them.
	Changed bool
	Reason  string
	// Cause is why Role changed, as a value (Reason says it in words).
	Cause Cause
	// ReAnnounce asks a primary that kept its role to announce its
	// addresses again: it won a split brain and the loser has stood down,
	// so switches may have learnt the loser's port.
	ReAnnounce bool
	// Send reports that the local candidate changed: the caller should send
	// a heartbeat now rather than wait for the next interval.
	Send bool
	// Events lists what happened since the previous Tick, oldest first.
	Events []Event
}

// Counters are the Machine's running totals.
type Counters struct {
	// RoleChanges counts changes of this unit's role.
	RoleChanges uint64
	// Observed counts valid peer candidates accepted.
	Observed uint64
	// DroppedInvalid counts peer candidates that did not parse or validate.
	DroppedInvalid uint64
	// DroppedCollision counts peer candidates claiming this unit's ID.
	DroppedCollision uint64
	// PeersLost counts peers the heartbeat layer declared lost.
	PeersLost uint64
	// PeersExpired counts peers dropped because no candidate of theirs
	// arrived for PeerTimeout (the heartbeat layer had not declared them
	// lost: a unit heard of only inside other frames, or a forgery).
	PeersExpired uint64
	// DroppedPeerLimit counts candidates of new units dropped because
	// MaxPeers peers were known.
	DroppedPeerLimit uint64
	// SplitBrains counts split brains detected by this unit as primary.
	SplitBrains uint64
	// ReAnnounces counts re-announce requests after a split brain won.
	ReAnnounces uint64
	// Handovers counts times this primary handed the role over (planned,
	// preemption or reclaim).
	Handovers uint64
	// HandoverTimeouts counts handovers the successor did not accept in time.
	HandoverTimeouts uint64
	// WitnessVetoes counts episodes in which the failing witness kept this
	// unit from becoming primary.
	WitnessVetoes uint64
	// Depositions counts peer interface malfunction verdicts that deposed
	// the primary.
	Depositions uint64
	// VerdictsIgnored counts verdicts that changed nothing (a peer
	// malfunction on a unit that is not the primary, or reported by the
	// primary itself) and invalid verdicts.
	VerdictsIgnored uint64
	// Stalls counts gaps of more than StallTime between Ticks.
	Stalls uint64
}

type peer struct {
	c           Candidate // as heard
	born        time.Time // estimated start, so Age can be taken at any time
	heardAt     time.Time // when c was heard
	since       time.Time // present since
	betterSince time.Time // better than this primary since (zero: not better)
	claims      uint8     // candidates heard in a row claiming primary, up to 2
}

// ageJitter is how far a peer's start estimate may move between heartbeats
// before it counts as a restart; below it, the first estimate stays so that
// the order does not flicker with transit-time jitter.
const ageJitter = time.Second

// Machine is the election state of one unit: a pure state machine. It reads
// no clock, starts no goroutine and sends nothing: the caller feeds it
// inputs with their time and calls Tick, and sends the Candidate in its
// heartbeats. It is not safe for concurrent use; see Driver.
type Machine struct {
	cfg   Config
	order Order
	log   *slog.Logger

	start     time.Time
	role      hakit.Role
	roleSince time.Time
	status    Status

	malfunction map[string]struct{}
	maintenance bool
	reclaim     bool
	witnessOK   bool
	vetoing     bool   // a witness veto episode is in progress
	standDown   string // as primary: stand down at the next Tick, for this reason
	standCause  Cause  // and this cause
	deposes     uint16 // primary we hold a peer malfunction verdict against
	lostPrimary uint16 // the last primary declared lost, for reasons

	yieldTo    uint16 // as primary: handing the role to
	yieldSince time.Time
	handedTo   uint16          // after stepping down: the successor
	takenFrom  uint16          // the unit that handed the role to us, if any
	acked      map[uint16]bool // units that stood down for us, already announced
	handedAt   time.Time
	ready      uint16 // as secondary: ready to take the role from
	inSplit    bool
	splitSince time.Time // as primary: when the current split brain began
	noPrimary  time.Time // since when no unit has claimed primary (zero: one has)
	lastTick   time.Time // the previous Tick, to notice a stall
	resumedAt  time.Time // the end of the last stall (zero: none)

	peers []peer // sorted by unit
	view  []Candidate
	elect []Candidate // scratch: the view without starting units
	ids   []int

	full     bool // a candidate was dropped at MaxPeers: reported once until room is made
	lastAdv  Candidate
	events   []Event
	counters Counters
}

// New returns the Machine of unit cfg.Unit, started at now, in role
// Initial. A nil cfg means DefaultConfig(), which lacks the unit ID; zero
// fields take their defaults.
func New(now time.Time, cfg *Config) (*Machine, error) {
	c := cfg.withDefaults()
	cfg = &c
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Machine{
		cfg:         c,
		order:       cfg.order(),
		log:         log.With("unit", cfg.Unit),
		start:       now,
		role:        hakit.Initial,
		roleSince:   now,
		malfunction: make(map[string]struct{}),
		acked:       make(map[uint16]bool),
		witnessOK:   true,
	}, nil
}

// Role returns the unit's current role.
func (m *Machine) Role() hakit.Role { return m.role }

// Counters returns the running totals.
func (m *Machine) Counters() Counters { return m.counters }

// Peers returns the candidates of the peers currently known, by unit ID,
// with their ages taken at now.
func (m *Machine) Peers(now time.Time) []Candidate {
	out := make([]Candidate, len(m.peers))
	for i, p := range m.peers {
		out[i] = p.c
		out[i].Age = now.Sub(p.born)
	}
	return out
}

// Candidate returns the local candidate at now: what the caller puts in the
// payload of every heartbeat.
func (m *Machine) Candidate(now time.Time) Candidate {
	c := Candidate{
		Unit:        m.cfg.Unit,
		Role:        m.role,
		Priority:    m.cfg.Priority,
		Monitored:   m.status.Monitored,
		InSync:      m.status.InSync || m.role == hakit.Primary,
		Age:         max(now.Sub(m.start), 0),
		Tenure:      max(now.Sub(m.roleSince), 0),
		Maintenance: m.maintenance,
		Degraded:    len(m.malfunction) > 0 || !m.witnessOK,
		Reclaim:     m.reclaim && m.role != hakit.Primary,
		Deposes:     m.deposes,
		Resumed:     m.resumed(now),
	}
	switch {
	case m.role == hakit.Primary && m.yieldTo != 0:
		c.Yield, c.Peer = true, m.yieldTo
	case m.role != hakit.Primary && m.handedTo != 0:
		c.Yield, c.Peer = true, m.handedTo
	case m.role != hakit.Primary && m.ready != 0:
		c.Ready, c.Peer = true, m.ready
	}
	return c
}

// AppendCandidate appends the encoded local candidate at now to b.
func (m *Machine) AppendCandidate(b []byte, now time.Time) []byte {
	b, _ = m.Candidate(now).AppendBinary(b) // always valid by construction
	return b
}

// Observe records a peer's candidate heard at now (from a heartbeat's
// payload). An invalid candidate, one that claims this unit's ID, or one of
// a new unit when MaxPeers are known, is dropped, counted and reported; it
// changes nothing. A peer whose candidates stop arriving is forgotten by
// the first Tick more than PeerTimeout after the last one (an
// EventPeerLost), whether or not PeerLost is called. The caller must drop
// heartbeats that arrive out of order (heartbeat sequence numbers), or an
// old candidate could be taken for the current one.
func (m *Machine) Observe(now time.Time, c Candidate) error {
	if err := c.Validate(); err != nil {
		m.counters.DroppedInvalid++
		m.event(now, Event{Kind: EventDropped, Unit: c.Unit, Reason: err.Error()})
		return err
	}
	if c.Unit == m.cfg.Unit {
		m.counters.DroppedCollision++
		err := fmt.Errorf("election: peer candidate claims this unit's ID %d: %w", c.Unit, ErrUnitCollision)
		m.event(now, Event{Kind: EventDropped, Unit: c.Unit, Reason: err.Error()})
		return err
	}
	p := m.peer(c.Unit)
	if p == nil && len(m.peers) >= m.cfg.MaxPeers {
		m.counters.DroppedPeerLimit++
		err := fmt.Errorf("election: candidate of unit %d dropped: %d peers known, the most MaxPeers allows: %w", c.Unit, len(m.peers), ErrInvalid)
		if !m.full {
			m.full = true
			m.event(now, Event{Kind: EventDropped, Unit: c.Unit, Reason: err.Error()})
		}
		return err
	}
	m.counters.Observed++
	born := now.Add(-c.Age)
	if p == nil {
		m.peers = append(m.peers, peer{})
		i := len(m.peers) - 1
		for ; i > 0 && m.peers[i-1].c.Unit > c.Unit; i-- {
			m.peers[i] = m.peers[i-1]
		}
		m.peers[i] = peer{born: born, since: now}
		p = &m.peers[i]
	} else if d := born.Sub(p.born); d > ageJitter || d < -ageJitter {
		p.born = born
	}
	switch {
	case c.Role != hakit.Primary:
		p.claims = 0
	case p.claims < 2:
		p.claims++
	}
	p.c, p.heardAt = c, now
	return nil
}

// ObserveBinary decodes a peer's candidate and records it as Observe does.
func (m *Machine) ObserveBinary(now time.Time, b []byte) error {
	var c Candidate
	if err := c.UnmarshalBinary(b); err != nil {
		m.counters.DroppedInvalid++
		m.event(now, Event{Kind: EventDropped, Reason: err.Error()})
		return err
	}
	return m.Observe(now, c)
}

// PeerLost records that the heartbeat layer declared unit lost at now. If
// it was the primary, the next Tick elects a new one.
func (m *Machine) PeerLost(now time.Time, unit uint16) {
	i := m.peerIndex(unit)
	if i < 0 {
		return
	}
	m.counters.PeersLost++
	m.remove(now, i, fmt.Sprintf("unit %d (%v) lost", unit, m.peers[i].c.Role))
}

// expire removes the peers not heard for PeerTimeout.
func (m *Machine) expire(now time.Time) {
	limit := m.cfg.PeerTimeout
	for i := 0; i < len(m.peers); {
		p := &m.peers[i]
		if silent := now.Sub(p.heardAt); silent > limit {
			m.counters.PeersExpired++
			m.remove(now, i, fmt.Sprintf("unit %d (%v) expired: not heard for %v", p.c.Unit, p.c.Role, silent))
			continue
		}
		i++
	}
}

// remove forgets peer i, lost for reason.
func (m *Machine) remove(now time.Time, i int, reason string) {
	unit, was := m.peers[i].c.Unit, m.peers[i].c.Role
	m.peers = append(m.peers[:i], m.peers[i+1:]...)
	m.full = false
	if was == hakit.Primary {
		m.lostPrimary = unit
	}
	if m.deposes == unit {
		m.deposes = 0
	}
	m.event(now, Event{Kind: EventPeerLost, Unit: unit, Reason: reason})
}

// Local records the local unit's status at now. A drop in the number of
// monitored interfaces up is a link failure: as on FortiGate it resets the
// unit's age, so in the default order the unit rejoins as a subordinate
// once the link is back, rather than taking the role back.
func (m *Machine) Local(now time.Time, s Status) {
	if s.Monitored < m.status.Monitored {
		m.start = now
	}
	m.status = s
}

// Verdict records a heartbeat verdict at now. An invalid verdict returns an
// error and changes nothing.
func (m *Machine) Verdict(now time.Time, v Verdict) error {
	switch v.Kind {
	case LocalMalfunction:
		m.malfunction[v.Interface] = struct{}{}
		return nil
	case LocalRecovered:
		delete(m.malfunction, v.Interface)
		return nil
	case PeerMalfunction, PeerRecovered:
		if v.Unit == 0 || v.Unit == m.cfg.Unit {
			m.counters.VerdictsIgnored++
			return fmt.Errorf("election: %v verdict about unit %d: %w", v.Kind, v.Unit, ErrInvalid)
		}
	default:
		m.counters.VerdictsIgnored++
		return fmt.Errorf("election: verdict kind %d: %w", v.Kind, ErrInvalid)
	}
	if v.Kind == PeerRecovered {
		if m.deposes == v.Unit {
			m.deposes = 0
		}
		return nil
	}
	// Clavister: a failover happens only if the active unit has the
	// malfunction.
	p := m.peer(v.Unit)
	if m.role == hakit.Primary || p == nil || p.c.Role != hakit.Primary {
		m.counters.VerdictsIgnored++
		return nil
	}
	if m.deposes != v.Unit {
		m.deposes = v.Unit
		m.counters.Depositions++
		m.event(now, Event{Kind: EventDeposed, Unit: v.Unit,
			Reason: fmt.Sprintf("primary unit %d has an interface malfunction on %q", v.Unit, v.Interface)})
	}
	return nil
}

// Witness records the answer of an outside witness (for example "can this
// unit reach the default gateway?"): with ok false the unit never becomes
// primary and advertises itself degraded, so in a two-unit partition the
// side that lost its witness does not go active. The caller asks the
// witness (a cached, cheap answer) and feeds it here, as often as it likes;
// without a call the witness counts as reachable.
func (m *Machine) Witness(now time.Time, ok bool) {
	m.witnessOK = ok
	if ok {
		m.vetoing = false
	}
}

// Handover starts a planned handover (maintenance): this unit ranks after
// every unit not in maintenance and, if primary, hands the role to the best
// other unit once that unit is ready. It stays primary if no other unit is
// healthy and available.
func (m *Machine) Handover(now time.Time) {
	m.maintenance = true
	m.reclaim = false
}

// Resume ends a planned handover. With reclaim, this unit asks the current
// primary to hand the role back, as in the NetDefendOS signature-update
// sequence; the request ends when this unit becomes primary.
func (m *Machine) Resume(now time.Time, reclaim bool) {
	m.maintenance = false
	m.reclaim = reclaim && m.role != hakit.Primary
}

// Tick decides at now, from everything recorded so far. The caller calls it
// every Interval and after every input, acts on Output, and sends a
// heartbeat at once when Output.Send is set. A Tick more than StallTime
// after the previous one means the unit's own loop stalled: see
// EventStalled.
func (m *Machine) Tick(now time.Time) Output {
	m.noticeStall(now)
	m.expire(now)
	m.buildView(now)
	var out Output
	switch m.role {
	case hakit.Initial:
		m.tickInitial(now, &out)
	case hakit.Secondary:
		m.tickSecondary(now, &out)
	case hakit.Primary:
		m.tickPrimary(now, &out)
	}
	out.Role = m.role
	adv := m.Candidate(now)
	adv.Age, adv.Tenure = 0, 0
	if adv != m.lastAdv {
		out.Send = true
		m.lastAdv = adv
	}
	out.Events, m.events = m.events, nil
	return out
}

// buildView fills m.view with the local candidate followed by the peers'
// (ages taken at now), marking deposed units degraded, and m.ids with the
// indices of the units claiming primary that are not deposed.
func (m *Machine) buildView(now time.Time) {
	if m.deposes != 0 {
		if p := m.peer(m.deposes); p == nil || p.c.Role != hakit.Primary {
			m.deposes = 0 // it stood down (or left): the verdict has done its work
		}
	}
	v := append(m.view[:0], m.Candidate(now))
	for _, p := range m.peers {
		c := p.c
		c.Age = now.Sub(p.born)
		c.Tenure += now.Sub(p.heardAt)
		v = append(v, c)
	}
	for _, c := range v {
		if c.Deposes == 0 {
			continue
		}
		for j := range v {
			if v[j].Unit == c.Deposes {
				v[j].Degraded = true
			}
		}
	}
	m.view = v
	m.ids = m.ids[:0]
	for i, c := range v {
		if c.Role == hakit.Primary && !m.deposed(c.Unit) {
			m.ids = append(m.ids, i)
		}
	}
	switch {
	case len(m.ids) > 0:
		m.noPrimary = time.Time{}
	case m.noPrimary.IsZero():
		m.noPrimary = now
	}
}

// fallback returns the order to use for a decision that has been pending
// since since. Ages are estimated from heartbeat arrival times, so two units
// may disagree about an age difference within a transit time of the margin;
// when a decision has not settled after InitialWait plus two intervals, the
// units fall back to the order without age, which reads the same everywhere.
func (m *Machine) fallback(now, since time.Time) Order {
	if now.Sub(since) >= m.cfg.InitialWait+2*m.cfg.Interval {
		o := m.order
		o.IgnoreAge = true
		return o
	}
	return m.order
}

// deposed reports whether some unit in the view deposes unit.
func (m *Machine) deposed(unit uint16) bool {
	for _, c := range m.view {
		if c.Deposes == unit {
			return true
		}
	}
	return false
}

// otherClaims counts the units other than this one claiming primary.
func (m *Machine) otherClaims() int {
	n := 0
	for _, i := range m.ids {
		if i != 0 {
			n++
		}
	}
	return n
}

// desired returns the unit that should become primary when nobody claims
// the role, and why: the designated successor of a handover in progress,
// else the winner of the order.
func (m *Machine) desired(now time.Time) (unit uint16, cause Cause, why string, from uint16) {
	for _, c := range m.view {
		if c.Yield && c.Role != hakit.Primary {
			for _, t := range m.view {
				if t.Unit == c.Peer && !t.Degraded {
					return t.Unit, CauseHandover, fmt.Sprintf("handover from unit %d", c.Unit), c.Unit
				}
			}
		}
	}
	// A unit that has only just started (less than half its initial wait
	// ago) is not elected while running units are present, so a unit that
	// restarts does not hold up the election among the others. One that has
	// listened longer is about to decide and is waited for, so that units
	// started together agree.
	running := m.elect[:0]
	for _, c := range m.view {
		if c.Role != hakit.Initial || c.Tenure >= m.cfg.InitialWait/2 {
			running = append(running, c)
		}
	}
	m.elect = running
	if len(running) == 0 {
		running = m.view
	}
	s := m.fallback(now, m.noPrimary).Select(running)
	cause, why = CauseElection, "no primary: "
	switch {
	case m.lostPrimary != 0:
		cause, why = CausePeerLost, fmt.Sprintf("primary unit %d lost: ", m.lostPrimary)
	case m.deposes != 0:
		cause, why = CauseInterfaceFault, fmt.Sprintf("primary unit %d has an interface malfunction: ", m.deposes)
	}
	return s.Winner.Unit, cause, why + s.Reason(), 0
}

func (m *Machine) tickInitial(now time.Time, out *Output) {
	if m.otherClaims() > 0 {
		m.setRole(now, out, hakit.Secondary, CausePeerPrimary, fmt.Sprintf("unit %d is primary", m.view[m.ids[0]].Unit))
		return
	}
	if now.Sub(m.start) < m.cfg.InitialWait {
		return
	}
	d, cause, why, from := m.desired(now)
	if d == m.cfg.Unit {
		if m.witnessOK {
			m.setRole(now, out, hakit.Primary, cause, why)
			m.takenFrom = from
			return
		}
		m.veto(now)
		cause, why = CauseWitness, "witness unreachable"
	}
	m.setRole(now, out, hakit.Secondary, cause, why)
}

func (m *Machine) tickSecondary(now time.Time, out *Output) {
	if m.handedTo != 0 {
		t := m.peer(m.handedTo)
		if t == nil || now.Sub(m.handedAt) >= m.cfg.HandoverTimeout {
			m.handedTo = 0
		}
	}
	m.ready = 0
	if n := m.otherClaims(); n > 0 {
		if p := m.view[m.ids[0]]; n == 1 && p.Yield && p.Peer == m.cfg.Unit {
			m.ready = p.Unit
		}
		return
	}
	d, cause, why, from := m.desired(now)
	if d != m.cfg.Unit {
		return
	}
	if !m.witnessOK {
		m.veto(now)
		return
	}
	m.setRole(now, out, hakit.Primary, cause, why)
	m.takenFrom = from
}

func (m *Machine) tickPrimary(now time.Time, out *Output) {
	if why := m.standDown; why != "" {
		m.setRole(now, out, hakit.Secondary, m.standCause, why)
		return
	}
	self := m.view[0]
	for _, c := range m.view[1:] {
		if c.Deposes == m.cfg.Unit {
			m.setRole(now, out, hakit.Secondary, CauseInterfaceFault, fmt.Sprintf("unit %d reports an interface malfunction on this unit", c.Unit))
			return
		}
	}
	if m.otherClaims() > 0 {
		var buf [8]Candidate
		set := buf[:0]
		for _, i := range m.ids {
			set = append(set, m.view[i])
		}
		if !m.inSplit {
			m.splitSince = now
		}
		o := m.fallback(now, m.splitSince)
		o.SplitBrain, o.AgeMargin = true, min(o.AgeMargin, m.cfg.SplitAgeMargin)
		s := o.Select(set)
		if !m.inSplit {
			m.inSplit = true
			m.counters.SplitBrains++
			m.event(now, Event{Kind: EventSplitBrain, Unit: other(s, m.cfg.Unit), Reason: "split brain: " + s.Reason()})
		}
		if s.Winner.Unit != m.cfg.Unit && m.settled(s.Winner.Unit) {
			m.setRole(now, out, hakit.Secondary, CauseSplitBrain, "split brain: "+s.Reason())
			// Advertise whom we stood down for: the winner may never have
			// heard us claim the role, and must re-announce all the same.
			m.handedTo, m.handedAt = s.Winner.Unit, now
		}
		return
	}
	m.reannounce(now, out)
	rest := m.view[1:]
	if len(rest) == 0 {
		m.yieldTo = 0
		return
	}
	best := m.order.Select(rest).Winner
	cmp := m.order.Compare(self, best)
	if cmp.Winner.Unit != m.cfg.Unit && (cmp.Rule == RuleHealthy || cmp.Rule == RuleMonitored) {
		m.setRole(now, out, hakit.Secondary, CauseLocalFault, "failover: "+cmp.Reason())
		return
	}

	target, cause, why := m.handoverTarget(now, self, best)
	if target == 0 {
		m.yieldTo = 0
		return
	}
	if m.yieldTo != target {
		m.yieldTo, m.yieldSince = target, now
		m.event(now, Event{Kind: EventHandover, Unit: target, Reason: why})
	}
	if t := m.peer(target); t != nil && t.c.Ready && t.c.Peer == m.cfg.Unit {
		m.counters.Handovers++
		m.yieldTo = 0
		m.handedTo, m.handedAt = target, now
		m.setRole(now, out, hakit.Secondary, cause, why)
		return
	}
	if now.Sub(m.yieldSince) >= m.cfg.HandoverTimeout {
		m.counters.HandoverTimeouts++
		m.event(now, Event{Kind: EventHandoverTimeout, Unit: target,
			Reason: fmt.Sprintf("unit %d not ready after %v", target, m.cfg.HandoverTimeout)})
		m.yieldSince = now
	}
}

// reannounce sets out.ReAnnounce when a split brain this primary won has
// ended: every other claimant it heard has stood down, or a unit it never
// heard claim the role advertises that it stood down for it.
func (m *Machine) reannounce(now time.Time, out *Output) {
	again := m.inSplit
	m.inSplit = false
	for u := range m.acked {
		if p := m.peer(u); p == nil || !p.c.Yield || p.c.Peer != m.cfg.Unit {
			delete(m.acked, u)
		}
	}
	for _, c := range m.view[1:] {
		if !c.Yield || c.Peer != m.cfg.Unit || c.Role == hakit.Primary || c.Unit == m.takenFrom || m.acked[c.Unit] {
			continue
		}
		m.acked[c.Unit] = true
		if !again {
			m.counters.SplitBrains++
			m.event(now, Event{Kind: EventSplitBrain, Unit: c.Unit,
				Reason: fmt.Sprintf("split brain: unit %d stood down for this unit", c.Unit)})
		}
		again = true
	}
	if again {
		m.counters.ReAnnounces++
		out.ReAnnounce = true
	}
}

// handoverTarget returns the unit this healthy primary should hand the role
// to, and why: a unit reclaiming the role, the best other unit during
// maintenance, or a better unit when preemption is on and its delay,
// the hold-down and the sync gate allow.
func (m *Machine) handoverTarget(now time.Time, self, best Candidate) (uint16, Cause, string) {
	var buf [8]Candidate
	rc := buf[:0]
	for _, c := range m.view[1:] {
		if c.Reclaim && !c.Degraded && !c.Maintenance && c.Monitored >= self.Monitored {
			rc = append(rc, c)
		}
	}
	if len(rc) > 0 {
		u := m.order.Select(rc).Winner.Unit
		return u, CauseHandover, fmt.Sprintf("handover: unit %d reclaims the role", u)
	}
	if m.maintenance {
		if best.Degraded || best.Maintenance {
			return 0, 0, ""
		}
		return best.Unit, CauseHandover, fmt.Sprintf("planned handover to unit %d", best.Unit)
	}
	var target uint16
	var why string
	for i := range m.peers {
		p := &m.peers[i]
		if !m.cfg.Preempt || p.c.Unit != best.Unit {
			p.betterSince = time.Time{}
			continue
		}
		b := best
		if now.Sub(p.since) >= m.cfg.SyncTimeout {
			b.InSync = true // a stuck bulk sync must not block failback forever
		}
		s := m.order.Compare(self, b)
		if s.Winner.Unit != b.Unit {
			p.betterSince = time.Time{}
			continue
		}
		if p.betterSince.IsZero() {
			p.betterSince = now
		}
		if now.Sub(p.betterSince) >= m.cfg.PreemptDelay && now.Sub(m.roleSince) >= m.cfg.HoldDown {
			target, why = b.Unit, "preempted: "+s.Reason()
		}
	}
	return target, CausePreempt, why
}

func other(s Selection, self uint16) uint16 {
	if s.Winner.Unit != self {
		return s.Winner.Unit
	}
	return s.RunnerUp.Unit
}

// veto records that the witness kept this unit from becoming primary; an
// episode is counted and reported once.
func (m *Machine) veto(now time.Time) {
	if m.vetoing {
		return
	}
	m.vetoing = true
	m.counters.WitnessVetoes++
	m.event(now, Event{Kind: EventWitnessVeto, Reason: "witness unreachable: not becoming primary"})
}

func (m *Machine) setRole(now time.Time, out *Output, to hakit.Role, cause Cause, reason string) {
	from := m.role
	m.role, m.roleSince = to, now
	m.standDown, m.standCause = "", 0
	m.counters.RoleChanges++
	out.Changed, out.Cause, out.Reason = true, cause, reason
	switch to {
	case hakit.Primary:
		m.reclaim = false
		m.resumedAt = time.Time{} // it took the role after its stall: it runs the cluster
		m.handedTo = 0
		m.takenFrom = 0
		m.ready = 0
		m.lostPrimary = 0
	case hakit.Secondary:
		m.yieldTo = 0
		m.inSplit = false
	}
	m.event(now, Event{Kind: EventRoleChange, From: from, To: to, Cause: cause, Reason: reason})
}

func (m *Machine) event(now time.Time, e Event) {
	e.Time = now
	m.events = append(m.events, e)
	// A role change is the one info line an operator reads per change;
	// a split brain needs a human.
	level := slog.LevelInfo
	switch e.Kind {
	case EventSplitBrain:
		level = slog.LevelWarn
	case EventDropped:
		level = slog.LevelDebug
	}
	if !m.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{slog.String("event", e.Kind.String()), slog.Time("at", now)}
	if e.Unit != 0 {
		attrs = append(attrs, slog.Int("peer", int(e.Unit)))
	}
	if e.Kind == EventRoleChange {
		attrs = append(attrs, slog.String("from", e.From.String()), slog.String("to", e.To.String()))
	}
	attrs = append(attrs, slog.String("reason", e.Reason))
	m.log.LogAttrs(context.Background(), level, "election: "+e.Kind.String(), attrs...)
}

func (m *Machine) peerIndex(unit uint16) int {
	for i := range m.peers {
		if m.peers[i].c.Unit == unit {
			return i
		}
	}
	return -1
}

func (m *Machine) peer(unit uint16) *peer {
	if i := m.peerIndex(unit); i >= 0 {
		return &m.peers[i]
	}
	return nil
}
