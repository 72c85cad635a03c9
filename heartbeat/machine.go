package heartbeat

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/hakit/hakit"
)

// maxTargets bounds the neighbours probed per interface.
const maxTargets = 16

// Machine is the pure heartbeat core: it builds the frames to send, checks
// received ones, counts misses per peer and interface, runs EIFD and reaches
// verdicts. It takes time as an argument and never reads a clock, does no
// I/O and calls out to nothing: the neighbours EIFD probes are an input
// (SetNeighbours, when NeedNeighbours asks). It is not safe for concurrent
// use.
type Machine struct {
	cfg     Config
	sealer  *Sealer
	ports   []*port
	byName  map[string]int
	peers   map[uint16]*peer
	order   []uint16
	role    hakit.Role
	payload []byte
	rx      Frame
	c       Counters
	started bool
	// One send round emits on every interface with the same sequence
	// number (see Frame.Seq).
	seq      uint64
	nextSend time.Time
	heard    [1]Heard // Output.Heard's storage
}

type port struct {
	name       string
	addr       netip.Addr
	neighbours []netip.Addr // the newest list fed by SetNeighbours
}

type peer struct {
	id      uint16
	role    hakit.Role // of the newest frame delivered
	payload []byte     // of the newest frame delivered
	// The newest (epoch, seq) delivered as Heard: an older frame, on any
	// interface, is not delivered again.
	epoch, seq uint64
	links      []*peerLink
}

type peerLink struct {
	state     State
	heard     bool
	lastRx    time.Time
	epoch     uint64
	seq       uint64
	addr      netip.Addr
	loss      lossWindow
	suspectAt time.Time
	nextProbe time.Time
	targets   []netip.Addr
	localOK   bool // a neighbour (or the peer) answered in this suspicion
	peerOK    bool // the peer's address answered in this suspicion
	roundOK   bool // … in the current probe round
	peerSent  int
	unanswerd int // probe rounds to the peer unanswered since its last answer
	rounds    int
	waiting   bool // the window ended without conclusive evidence
}

// NewMachine returns a Machine for the given critical interfaces (their Conn
// and Prober are not used). A nil cfg means DefaultConfig().
func NewMachine(cfg *Config, ifaces ...Interface) (*Machine, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := validateInterfaces(ifaces); err != nil {
		return nil, err
	}
	m := &Machine{
		cfg:    c,
		byName: make(map[string]int, len(ifaces)),
		peers:  make(map[uint16]*peer),
		role:   c.Role,
	}
	if c.Keys != nil {
		m.sealer = NewSealer(c.Keys, c.EtherType)
	}
	for i, ifc := range ifaces {
		m.ports = append(m.ports, &port{name: ifc.Name, addr: ifc.Addr.WithZone("")})
		m.byName[ifc.Name] = i
	}
	return m, nil
}

// SetNeighbours sets the resolved neighbours of the interface named ifname
// (zones dropped, invalid addresses left out; copied): EIFD probes them
// when it starts there, at most 16, without the peer's and this unit's own
// addresses. The list stands until the next SetNeighbours. A Driver feeds
// it from Config.Neighbours when NeedNeighbours asks; a caller of the
// Machine may do the same, or set a static list once.
func (m *Machine) SetNeighbours(ifname string, addrs []netip.Addr) error {
	i, ok := m.byName[ifname]
	if !ok {
		return fmt.Errorf("heartbeat: neighbours of unknown interface %q: %w", ifname, hakit.ErrConfig)
	}
	p := m.ports[i]
	p.neighbours = p.neighbours[:0]
	for _, a := range addrs {
		if a = a.WithZone(""); a.IsValid() {
			p.neighbours = append(p.neighbours, a)
		}
	}
	return nil
}

// NeedNeighbours returns the interfaces on which Tick(now) will start EIFD
// (a peer's heartbeats are missing there for Misses intervals), in
// interface order, or nil. Feed their current neighbour lists with
// SetNeighbours before that Tick, so that EIFD probes the neighbours known at
// that moment (the kernel's cache changes). It changes nothing.
func (m *Machine) NeedNeighbours(now time.Time) []string {
	var out []string
	for i, p := range m.ports {
		for _, id := range m.order {
			if l := m.peers[id].links[i]; l.state == Alive && !now.Before(l.lastRx.Add(m.missSpan())) {
				out = append(out, p.name)
				break
			}
		}
	}
	return out
}

// SetRole sets the role advertised from the next heartbeat on.
func (m *Machine) SetRole(r hakit.Role) error {
	if !r.Valid() {
		return fmt.Errorf("heartbeat: invalid role %d: %w", r, hakit.ErrConfig)
	}
	m.role = r
	return nil
}

// SetPayload sets the opaque payload carried from the next heartbeat on
// (copied; at most MaxPayload bytes).
func (m *Machine) SetPayload(p []byte) error {
	if len(p) > MaxPayload {
		return fmt.Errorf("heartbeat: payload of %d bytes exceeds %d: %w", len(p), MaxPayload, ErrTooLarge)
	}
	m.payload = append(m.payload[:0], p...)
	return nil
}

// Counters returns the running totals.
func (m *Machine) Counters() Counters { return m.c }

// Peers returns the status of every peer heard, by unit ID.
func (m *Machine) Peers() []PeerStatus {
	out := make([]PeerStatus, 0, len(m.order))
	for _, id := range m.order {
		p := m.peers[id]
		ps := PeerStatus{Unit: id, Role: p.role, Payload: slices.Clone(p.payload)}
		for i, l := range p.links {
			ls := LinkStatus{Interface: m.ports[i].name, State: l.state, Addr: l.addr, Loss: l.loss.rate()}
			if l.heard {
				ls.LastHeard = l.lastRx
			}
			ps.Links = append(ps.Links, ls)
		}
		out = append(out, ps)
	}
	return out
}

// Next returns when Tick must be called next: the earliest heartbeat to
// send, miss deadline, probe round or window end. Before the first Tick it
// returns the zero Time.
func (m *Machine) Next() time.Time {
	if !m.started {
		return time.Time{}
	}
	next := m.nextSend
	early := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	for _, id := range m.order {
		for _, l := range m.peers[id].links {
			switch l.state {
			case Alive:
				early(l.lastRx.Add(m.missSpan()))
			case Suspect:
				early(l.nextProbe)
				if !l.waiting {
					early(l.suspectAt.Add(m.cfg.ProbeWindow))
				}
			}
		}
	}
	return next
}

func (m *Machine) missSpan() time.Duration { return time.Duration(m.cfg.Misses) * m.cfg.Interval }

// Tick advances the Machine to now: it emits the heartbeats due, starts EIFD
// on interfaces whose peer missed Misses intervals, repeats probes, and
// reaches the verdicts due.
func (m *Machine) Tick(now time.Time) Output {
	var out Output
	if !m.started {
		m.started = true
		m.nextSend = now
	}
	if !now.Before(m.nextSend) {
		m.round(&out)
		m.nextSend = m.nextSend.Add(m.cfg.Interval)
		if !m.nextSend.After(now) {
			m.nextSend = now.Add(m.cfg.Interval)
		}
	}
	for _, id := range m.order {
		m.tickPeer(now, m.peers[id], &out)
	}
	return out
}

// SendNow returns a heartbeat for every interface, to send at once, and
// restarts the schedule from now. Call it when the role or the
// payload changed (election.Output.Send), so that the peers hear the change
// now rather than up to an interval later. Before the first Tick it is
// Tick.
func (m *Machine) SendNow(now time.Time) Output {
	if !m.started {
		return m.Tick(now)
	}
	var out Output
	m.round(&out)
	m.nextSend = now.Add(m.cfg.Interval)
	return out
}

// round emits a heartbeat on every interface, all with the next sequence
// number.
func (m *Machine) round(out *Output) {
	m.seq++
	for i := range m.ports {
		m.emit(i, out)
	}
}

func (m *Machine) emit(i int, out *Output) {
	p := m.ports[i]
	f := Frame{
		ClusterID: m.cfg.ClusterID,
		UnitID:    m.cfg.UnitID,
		Role:      m.role,
		Interface: uint16(i),
		Epoch:     m.cfg.Epoch,
		Seq:       m.seq,
		Interval:  m.cfg.Interval,
		Addr:      p.addr,
		Payload:   m.payload,
	}
	buf := make([]byte, 0, f.Len()+TagLen)
	var err error
	if m.sealer != nil {
		buf, err = m.sealer.Seal(buf, &f)
	} else {
		buf, err = f.AppendBinary(buf)
	}
	if err != nil {
		// Unreachable: every field was validated when set.
		panic("heartbeat: encoding our own frame: " + err.Error())
	}
	m.c.Sent++
	out.Frames = append(out.Frames, Transmit{
		Interface: p.name, Index: i, Data: buf,
		Src: SourceMAC(m.cfg.ClusterID, m.cfg.UnitID, m.role),
		Dst: m.destination(i),
	})
}

func (m *Machine) destination(i int) net.HardwareAddr {
	if !m.cfg.Unicast {
		return GroupMAC(m.cfg.ClusterID)
	}
	var ls []Listener
	for _, id := range m.order {
		if p := m.peers[id]; p.links[i].heard {
			ls = append(ls, Listener{Unit: id, Role: p.role})
		}
	}
	return DestinationMAC(m.cfg.ClusterID, ls...)
}

func (m *Machine) tickPeer(now time.Time, p *peer, out *Output) {
	end := func(l *peerLink) time.Time { return l.suspectAt.Add(m.cfg.ProbeWindow) }
	for i, l := range p.links {
		if l.state == Alive && !now.Before(l.lastRx.Add(m.missSpan())) {
			m.suspect(now, p, i, out)
		}
		if l.state != Suspect {
			continue
		}
		// Strict mode probes within the window only; early mode goes on
		// probing while it waits for conclusive evidence.
		for !now.Before(l.nextProbe) && (m.cfg.Mode == ModeEarly || l.nextProbe.Before(end(l))) {
			if l.peerSent > 0 && !l.roundOK {
				l.unanswerd++
			}
			l.roundOK = false
			m.probeRound(p, i, out)
			l.nextProbe = l.nextProbe.Add(m.cfg.ProbeInterval)
		}
		m.early(now, p, out)
		if l.state == Suspect && !now.Before(end(l)) {
			m.windowVerdict(now, p, i, out)
		}
	}
}

func (m *Machine) suspect(now time.Time, p *peer, i int, out *Output) {
	l := p.links[i]
	l.state = Suspect
	l.suspectAt = now
	l.nextProbe = now.Add(m.cfg.ProbeInterval)
	l.localOK, l.peerOK, l.roundOK = false, false, false
	l.peerSent, l.unanswerd, l.rounds = 0, 0, 0
	l.waiting = false
	l.targets = l.targets[:0]
	for _, a := range m.ports[i].neighbours {
		if a == l.addr || a == m.ports[i].addr || slices.Contains(l.targets, a) {
			continue
		}
		if len(l.targets) == maxTargets {
			break
		}
		l.targets = append(l.targets, a)
	}
	m.c.Suspicions++
	reason := fmt.Sprintf("no heartbeat for %v (%d intervals); probing %d neighbours", m.missSpan(), m.cfg.Misses, len(l.targets))
	if l.addr.IsValid() {
		reason += " and the peer at " + l.addr.String()
	}
	m.report(now, p, i, Suspect, reason, out)
	m.probeRound(p, i, out)
}

func (m *Machine) probeRound(p *peer, i int, out *Output) {
	l := p.links[i]
	l.rounds++
	name := m.ports[i].name
	if !l.localOK {
		for _, t := range l.targets {
			out.Probes = append(out.Probes, Probe{Interface: name, Index: i, Target: t})
			m.c.ProbesSent++
		}
	}
	// The peer is probed every round, even after it answered: a unit
	// whose daemon died first and whose links went down a moment later
	// answers at first, then no more.
	if l.addr.IsValid() {
		for range probeBurst {
			out.Probes = append(out.Probes, Probe{Interface: name, Index: i, Target: l.addr})
		}
		l.peerSent++
		m.c.ProbesSent += probeBurst
	}
}

// silent reports whether p sends no heartbeat on any interface.
func silent(p *peer) bool {
	for _, l := range p.links {
		if l.state == Alive {
			return false
		}
	}
	return true
}

// maxExtension bounds, in probe windows, how long ModeEarly waits past the
// window for conclusive evidence on a lossy link.
const maxExtension = 10

// windowVerdict reaches l's verdict once its probe window has ended. In
// ModeStrict it always does (the Clavister schedule). In ModeEarly, on a link
// that lost heartbeats recently, it does when the evidence is conclusive for
// that loss: the chance that loss alone explains the silence and the
// unanswered probes is at most falseVerdictBudget; otherwise it waits,
// probing on, at most maxExtension windows more.
func (m *Machine) windowVerdict(now time.Time, p *peer, i int, out *Output) {
	l := p.links[i]
	w := now.Sub(l.suspectAt).Round(time.Millisecond)
	var (
		s      State
		reason string
		// Per probe round, the chance that loss alone explains the round.
		roundFail float64 = 1
		rounds    int
	)
	pl := m.loss(l)
	q := 1 - (1-pl)*(1-pl)
	switch {
	case len(l.targets) == 0 && !l.addr.IsValid():
		s, reason = LocalFault, "no neighbours known and no peer address: nothing to probe, so no reply within "+w.String()+" (the Clavister rule: a local fault)"
	case !l.localOK:
		n := len(l.targets)
		if l.addr.IsValid() {
			n += probeBurst
		}
		s, reason = LocalFault, fmt.Sprintf("no reply from %d probed neighbours within %v", len(l.targets)+btoi(l.addr.IsValid()), w)
		roundFail, rounds = math.Pow(q, float64(n)), l.rounds
	case silent(p):
		// The peer alive with a fault here would leave the other links'
		// silence to loss: that must be conclusive too, or the verdict
		// waits (their heartbeats resuming make it PeerFault).
		if m.cfg.Mode == ModeEarly && m.othersExplained(now, p, i) > falseVerdictBudget &&
			now.Before(l.suspectAt.Add((1+maxExtension)*m.cfg.ProbeWindow)) {
			l.waiting = true
			return
		}
		s, reason = PeerDown, "silent on every interface; neighbours answer here"
		if l.peerOK {
			reason += " and so does the peer's address (its heartbeats stopped)"
		} else {
			roundFail, rounds = math.Pow(q, probeBurst), l.unanswerd
		}
	default:
		s, reason = PeerFault, "neighbours answer but no heartbeats arrive here, while they do on another interface"
	}
	// A link that never lost a heartbeat in its loss window gets the
	// Clavister schedule: there is no loss to be fooled by.
	if m.cfg.Mode == ModeEarly && l.loss.recv < l.loss.n {
		h := float64(now.Sub(l.lastRx) / m.cfg.Interval)
		chance := math.Pow(pl, h) * math.Pow(roundFail, float64(rounds))
		if chance > falseVerdictBudget {
			if now.Before(l.suspectAt.Add((1 + maxExtension) * m.cfg.ProbeWindow)) {
				l.waiting = true // decided again at each probe round
				return
			}
			reason += fmt.Sprintf(" (inconclusive at %.1f%% loss after %v)", 100*pl, w)
		} else if w > m.cfg.ProbeWindow {
			reason += fmt.Sprintf(" (after %v at %.1f%% loss)", w, 100*pl)
		}
	}
	m.verdict(now, p, i, s, reason, out)
}

// early declares p down before the window ends when, in ModeEarly, p is
// silent everywhere, and on some interface a neighbour answered while the
// peer's address left as many probe rounds unanswered as that link's loss
// requires, and on no interface did the peer's address answer since as
// many rounds.
func (m *Machine) early(now time.Time, p *peer, out *Output) {
	if m.cfg.Mode != ModeEarly || !silent(p) {
		return
	}
	at := -1
	for i, l := range p.links {
		if l.state == Suspect && l.peerOK && l.unanswerd < m.probesNeeded(l) {
			return
		}
		if at < 0 && l.state == Suspect && l.localOK && l.addr.IsValid() && l.unanswerd >= m.probesNeeded(l) {
			at = i
		}
	}
	// The peer alive with a fault on that interface would leave the
	// silence of the others to loss: that must be conclusive too.
	if at < 0 || m.othersExplained(now, p, at) > falseVerdictBudget {
		return
	}
	l := p.links[at]
	reason := fmt.Sprintf("silent on every interface; on %s neighbours answer but the peer's address %v left %d probe rounds of %d unanswered (loss %.1f%%)",
		m.ports[at].name, l.addr, l.unanswerd, probeBurst, 100*l.loss.rate())
	for i, l := range p.links {
		if l.state == Suspect || l.state == PeerFault {
			m.c.EarlyVerdicts++
			m.verdict(now, p, i, PeerDown, reason, out)
		}
	}
}

// probeBurst is the number of probes sent to the peer's address per round,
// so that one round is answered unless every one of them (or its reply) is
// lost.
const probeBurst = 3

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *Machine) verdict(now time.Time, p *peer, i int, s State, reason string, out *Output) {
	m.c.Verdicts++
	m.report(now, p, i, s, reason, out)
}

func (m *Machine) report(now time.Time, p *peer, i int, s State, reason string, out *Output) {
	p.links[i].state = s
	out.Reports = append(out.Reports, Report{Peer: p.id, Interface: m.ports[i].name, State: s, Reason: reason, At: now})
}

// ProbeReply records that target answered an EIFD probe on the interface
// named ifname. Replies from addresses that were not probed are ignored.
func (m *Machine) ProbeReply(now time.Time, ifname string, from netip.Addr) Output {
	var out Output
	i, ok := m.byName[ifname]
	if !ok {
		return out
	}
	from = from.WithZone("")
	m.c.ProbeReplies++
	for _, id := range m.order {
		p := m.peers[id]
		l := p.links[i]
		if l.state != Suspect {
			continue
		}
		switch {
		case l.addr.IsValid() && from == l.addr:
			l.peerOK, l.roundOK, l.localOK = true, true, true
			l.unanswerd = 0
		case slices.Contains(l.targets, from):
			l.localOK = true
		default:
			continue
		}
		m.early(now, p, &out)
	}
	return out
}

// Receive checks the frame b received on the interface named ifname and,
// if it is valid, counts it as a heartbeat of its sender there. A rejected
// frame is counted in Counters().Dropped, changes no state, and its reason
// is returned as an error.
func (m *Machine) Receive(now time.Time, ifname string, b []byte) (Output, error) {
	var out Output
	i, ok := m.byName[ifname]
	if !ok {
		m.c.Dropped.UnknownInterface++
		return out, fmt.Errorf("heartbeat: frame on unknown interface %q: %w", ifname, hakit.ErrConfig)
	}
	f := &m.rx
	if err := f.UnmarshalBinary(b); err != nil {
		m.c.Dropped.Malformed++
		return out, err
	}
	if f.ClusterID != m.cfg.ClusterID {
		m.c.Dropped.OtherCluster++
		return out, fmt.Errorf("heartbeat: frame of cluster %d, want %d: %w", f.ClusterID, m.cfg.ClusterID, ErrCluster)
	}
	switch {
	case m.sealer != nil:
		if err := m.sealer.Verify(b); err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, io.ErrUnexpectedEOF) {
				m.c.Dropped.Auth++
			} else {
				m.c.Dropped.Malformed++
			}
			return out, err
		}
	case f.KeyID != 0:
		m.c.Dropped.Auth++
		return out, fmt.Errorf("heartbeat: authenticated frame (key %d) but no keys configured: %w", f.KeyID, ErrAuth)
	}
	if f.UnitID == m.cfg.UnitID {
		m.c.Dropped.Own++
		return out, fmt.Errorf("heartbeat: frame with our own unit ID %d: %w", f.UnitID, ErrMalformed)
	}
	p := m.peers[f.UnitID]
	if p != nil {
		l := p.links[i]
		if l.heard && f.Epoch < l.epoch {
			m.c.Dropped.Stale++
			return out, fmt.Errorf("heartbeat: unit %d epoch %d older than %d: %w", f.UnitID, f.Epoch, l.epoch, ErrStale)
		}
		if l.heard && f.Epoch == l.epoch && f.Seq <= l.seq {
			m.c.Dropped.Replay++
			return out, fmt.Errorf("heartbeat: unit %d sequence %d not above %d: %w", f.UnitID, f.Seq, l.seq, ErrReplay)
		}
	} else {
		p = &peer{id: f.UnitID}
		for range m.ports {
			p.links = append(p.links, &peerLink{state: Alive, lastRx: now})
		}
		m.peers[f.UnitID] = p
		m.order = append(m.order, f.UnitID)
		slices.Sort(m.order)
	}
	m.c.Received++
	l := p.links[i]
	// A new start of the peer, or the end of an outage that reached a
	// verdict, starts a new loss history: the gap was an outage, not loss.
	if !l.heard || f.Epoch != l.epoch || l.state.Verdict() {
		l.loss.reset()
	}
	l.loss.record(f.Seq)
	first, prev := !l.heard, l.state
	l.heard = true
	l.epoch, l.seq = f.Epoch, f.Seq
	l.lastRx = now
	l.addr = f.Addr
	if f.Epoch > p.epoch || f.Epoch == p.epoch && f.Seq > p.seq {
		// The newest round of the peer heard on any interface.
		p.epoch, p.seq = f.Epoch, f.Seq
		p.role = f.Role
		p.payload = append(p.payload[:0], f.Payload...)
		m.heard[0] = Heard{Peer: p.id, Interface: m.ports[i].name, Role: p.role, Payload: p.payload, At: now}
		out.Heard = m.heard[:]
	}
	switch {
	case first:
		m.report(now, p, i, Alive, "first heartbeat", &out)
	case prev == Suspect:
		m.c.Recoveries++
		m.report(now, p, i, Alive, "heartbeats resumed during EIFD: no verdict", &out)
	case prev != Alive:
		m.report(now, p, i, Alive, "heartbeats resumed after "+prev.String(), &out)
	}
	return out, nil
}
