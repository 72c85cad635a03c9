package heartbeat

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/auth"
)

// maxTargets bounds the neighbours probed per interface.
const maxTargets = 16

// Machine is the pure heartbeat core: it builds the frames to send, checks
// received ones, counts misses per peer and interface, runs EIFD and reaches
// verdicts. It takes time as an argument and never reads a clock, does no
// I/O and calls out to nothing: the neighbours EIFD probes are an input
// (SetNeighbours, when NeedNeighbours asks), and so are the failures of
// the caller's sends (SendFailed). It is not safe for concurrent use.
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
	// The cluster's tags, and the collisions seen (collision.go).
	tags           *clusterTags
	collisions     map[collisionKey]*collisionRecord
	collisionOrder []collisionKey
	// This start's nonce and what is known of the peers' starts (with
	// keys only; nonce.go).
	nonce     uint64
	live      map[uint16]*liveness
	liveOrder []uint16
	echoTurn  int
	roundEcho uint64 // the nonce the current round echoes
}

// port is one interface and what EIFD knows of it, whichever peer it
// suspects there.
type port struct {
	name       string
	addr       netip.Addr
	neighbours []netip.Addr // the newest list fed by SetNeighbours
	routed     bool         // no layer 2: echo only (Interface.Routed)
	noARP      bool         // no ARP/NDP probes (routed, or no Prober)
	budget     probeBudget
	// wit counts, since the Machine started, the evidence about the
	// interface itself; a suspicion takes a snapshot and uses the
	// difference.
	wit witness
	// Probe rounds run on the interface while a peer is Suspect there.
	nextRound time.Time
	roundNow  bool   // a suspicion started: a round at once
	echoSeq   uint64 // the newest echo request's sequence number here
	echoes    []pendingEcho
	arps      []pendingARP
	nextNeigh int // round robin over neighbours
	// sendErr is when the caller last failed to send here (SendFailed).
	sendErr time.Time
	// overrun is when the kernel was last seen dropping frames here
	// before they were read (Overrun).
	overrun time.Time
	// nextRecover is when a port with a LocalFault probes again for
	// evidence that it works (see recover).
	nextRecover time.Time
}

// witness counts evidence about an interface from everything but the
// suspected peer: frames received (heartbeats, echo requests) and known
// lost (sequence gaps), probes and echo requests answered and unanswered,
// and probes of neighbours the budget held back.
type witness struct {
	frames, miss, ok, fail, held int
}

func (w witness) minus(v witness) witness {
	return witness{frames: w.frames - v.frames, miss: w.miss - v.miss, ok: w.ok - v.ok, fail: w.fail - v.fail, held: w.held - v.held}
}

// pendingEcho is an echo request sent, awaiting its answers until
// resolved (ProbeInterval after it was sent).
type pendingEcho struct {
	seq      uint64
	at       time.Time
	answered []uint16
	resolved bool
}

// pendingARP is an ARP request or neighbour solicitation sent.
type pendingARP struct {
	target   netip.Addr
	at       time.Time
	witness  bool // to a neighbour, not to a peer
	answered bool
	resolved bool
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
	state  State
	heard  bool
	lastRx time.Time
	epoch  uint64
	seq    uint64
	addr   netip.Addr
	loss   lossWindow
	// An older epoch's frames still arriving (see rival).
	rivalEpoch, rivalSeq uint64
	rivalRun             int
	// The newest echo request of the peer answered here: older ones are
	// replays.
	echoEpoch, echoSeq uint64
	echoes             bool // the peer answered an echo request here
	// EIFD, from suspectAt on.
	suspectAt time.Time
	wit0      witness // the port's evidence when the suspicion started
	// pre is the evidence the peer gave up to its daemon's last answer:
	// the failures that answer ended and the heartbeats missed until then
	// were loss on a live link, evidence of the loss rate now like the
	// witnesses' (its answers themselves are in the port's counts).
	pre witness
	// lastAns is when the peer last answered in this suspicion (an echo
	// reply or request: its daemon; an ARP reply from its address: its
	// kernel), lastEcho when its daemon did.
	lastAns, lastEcho time.Time
	// fails counts the peer's unanswered probes and echo requests since
	// the later of suspectAt and lastEcho (the evidence that the peer is
	// not alive behind lost frames); arpFails the unanswered probes of its
	// address since the later of suspectAt and lastAns (that its kernel
	// is not alive either).
	fails, arpFails int
	rounds          int  // probe rounds of this suspicion
	waiting         bool // the window ended without conclusive evidence
}

// NewMachine returns a Machine for the given critical interfaces (their Conn
// and Prober are not used). A nil cfg means DefaultConfig(). Every unit of
// the cluster lists its interfaces in the same order, one per segment: a
// frame whose Interface field is not the index of the link it arrived on is
// dropped (Drops.WrongInterface).
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
		nonce:  auth.Nonce(),
		live:   make(map[uint16]*liveness),
	}
	if c.Keys != nil {
		m.sealer = NewSealer(c.Keys, c.EtherType)
	}
	m.tags = newClusterTags(c.ClusterName, c.Keys)
	for i, ifc := range ifaces {
		m.ports = append(m.ports, &port{
			name: ifc.Name, addr: ifc.Addr.WithZone(""),
			routed: ifc.Routed, noARP: ifc.Routed,
			budget: newProbeBudget(c.ProbeBudget),
		})
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
		if p.noARP {
			continue
		}
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
// send, miss deadline, probe round, probe to resolve or window end. Before
// the first Tick it returns the zero Time.
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
	for i, pt := range m.ports {
		probing, fault := false, false
		for _, id := range m.order {
			l := m.peers[id].links[i]
			switch l.state {
			case Alive:
				early(l.lastRx.Add(m.missSpan()))
			case Suspect:
				if !l.waiting {
					early(m.windowEnd(l))
				}
				probing = probing || m.probing(l, pt.nextRound)
			case LocalFault:
				fault = true
			}
		}
		if probing {
			early(pt.nextRound)
		}
		if fault && !probing {
			early(pt.nextRecover)
		}
		for _, e := range pt.echoes {
			if !e.resolved {
				early(e.at.Add(m.cfg.ProbeInterval))
			}
		}
		for _, a := range pt.arps {
			if !a.resolved {
				early(a.at.Add(m.cfg.ProbeInterval))
			}
		}
	}
	return next
}

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
	m.eifd(now, &out)
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
	m.roundEcho = m.echoNonce() // nonce.go
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
		Nonce:     m.nonce,
		Echo:      m.roundEcho,
		Interval:  m.cfg.Interval,
		Addr:      p.addr,
		Payload:   m.payload,
	}
	buf := make([]byte, 0, f.Len()+TagLen)
	var err error
	f.ClusterTag = m.primaryTag()
	if m.sealer != nil {
		buf, err = m.sealer.Seal(buf, &f)
		if tag := m.tags.keyed[f.KeyID]; err == nil && tag != f.ClusterTag {
			// The ring changed between the two reads: seal again.
			f.ClusterTag = tag
			buf, err = m.sealer.Seal(buf[:0], &f)
		}
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

// Receive checks the frame b received on the interface named ifname: a
// heartbeat frame or an echo message (see Echo). A valid heartbeat counts
// as one of its sender there; a valid echo request is answered (the reply
// is in Output.Frames) and a reply is taken as EIFD evidence. Either also
// proves that the interface works. A rejected frame is counted in
// Counters().Dropped, changes no state, and its reason is returned as an
// error.
func (m *Machine) Receive(now time.Time, ifname string, b []byte) (Output, error) {
	var out Output
	i, ok := m.byName[ifname]
	if !ok {
		m.c.Dropped.UnknownInterface++
		return out, fmt.Errorf("heartbeat: frame on unknown interface %q: %w", ifname, hakit.ErrConfig)
	}
	if isEcho(b) {
		return out, m.receiveEcho(now, i, b, &out)
	}
	f := &m.rx
	if err := f.UnmarshalBinary(b); err != nil {
		m.c.Dropped.Malformed++
		return out, err
	}
	if err := m.checkTag(now, f.ClusterID, f.ClusterTag, f.KeyID, f.UnitID, i, &out); err != nil {
		return out, err
	}
	if err := m.authentic(f.ClusterID, f.KeyID, b, m.verifyFrame); err != nil {
		return out, err
	}
	if err := m.notOwn(f.UnitID); err != nil {
		m.ownUnit(now, f, i, &out)
		return out, err
	}
	if err := m.checkInterface(f, i); err != nil {
		return out, err
	}
	if err := m.fresh(now, f, i, &out); err != nil { // nonce.go
		if p := m.peers[f.UnitID]; errors.Is(err, ErrStaleNonce) && p != nil && p.links[i].heard && f.Epoch > p.links[i].epoch {
			m.rival(now, f, i, p.links[i], &out) // collision.go
		}
		return out, err
	}
	p := m.peers[f.UnitID]
	if p != nil {
		l := p.links[i]
		if l.heard && f.Epoch < l.epoch {
			m.c.Dropped.Stale++
			m.rival(now, f, i, l, &out)
			return out, fmt.Errorf("heartbeat: unit %d epoch %d older than %d: %w", f.UnitID, f.Epoch, l.epoch, ErrStale)
		}
		if l.heard && f.Epoch == l.epoch && f.Seq <= l.seq {
			m.c.Dropped.Replay++
			return out, fmt.Errorf("heartbeat: unit %d sequence %d not above %d: %w", f.UnitID, f.Seq, l.seq, ErrReplay)
		}
	} else {
		if err := m.admitPeer(f); err != nil { // linkcheck.go
			return out, err
		}
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
	pt := m.ports[i]
	// The frame is a witness that the interface works, for every other
	// peer's suspicion; its sequence gap, of the frames lost meanwhile.
	pt.wit.frames++
	if l.heard && f.Epoch == l.epoch && !l.state.Verdict() && f.Seq-l.seq < lossWindowLen {
		pt.wit.miss += int(f.Seq - l.seq - 1)
	}
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
	m.works(now, i, fmt.Sprintf("a heartbeat of unit %d arrived", f.UnitID), &out)
	return out, nil
}

func (m *Machine) verifyFrame(b []byte) error { return m.sealer.Verify(b) }

// authentic checks the cluster ID and the authentication of a decoded
// frame or echo b, counting a drop if they are wrong.
func (m *Machine) authentic(cluster uint16, keyID uint8, b []byte, verify func([]byte) error) error {
	if cluster != m.cfg.ClusterID {
		m.c.Dropped.OtherCluster++
		return fmt.Errorf("heartbeat: frame of cluster %d, want %d: %w", cluster, m.cfg.ClusterID, ErrCluster)
	}
	switch {
	case m.sealer != nil:
		if err := verify(b); err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, io.ErrUnexpectedEOF) {
				m.c.Dropped.Auth++
			} else {
				m.c.Dropped.Malformed++
			}
			return err
		}
	case keyID != 0:
		m.c.Dropped.Auth++
		return fmt.Errorf("heartbeat: authenticated frame (key %d) but no keys configured: %w", keyID, ErrAuth)
	}
	return nil
}

// notOwn drops an authentic frame or echo of this unit's own ID.
func (m *Machine) notOwn(unit uint16) error {
	if unit == m.cfg.UnitID {
		m.c.Dropped.Own++
		return fmt.Errorf("heartbeat: frame with our own unit ID %d: %w", unit, ErrMalformed)
	}
	return nil
}

// Overrun records that by now the kernel dropped frames received on the
// interface named ifname before they were read (a full receive queue: a
// flood, or a reader starved of CPU; see KernelDrops). The peer's
// heartbeats may be among them, so for a probe window after it a silence
// there is no evidence of a fault of the peer's interface or of this
// one: in ModeEarly those verdicts wait, as for a lossy link, at most
// the window's extensions, while a peer silent on every interface still
// gets its verdict. A Driver calls it when the socket's drop counter
// rises.
func (m *Machine) Overrun(now time.Time, ifname string) {
	if i, ok := m.byName[ifname]; ok && now.After(m.ports[i].overrun) {
		m.ports[i].overrun = now
	}
}

// overrunAt reports whether the kernel dropped frames on interface i within
// a probe window of now.
func (m *Machine) overrunAt(i int, now time.Time) bool {
	o := m.ports[i].overrun
	return !o.IsZero() && now.Sub(o) < m.cfg.ProbeWindow
}

// SendFailed records that the caller failed to send a frame (a heartbeat
// or an echo) on the interface named ifname at now. On an interface with
// no layer 2 (Interface.Routed), sends that succeed are what tells a dead
// peer from a broken local side when nothing else answers (see the package
// documentation); a Driver calls it for every failed write.
func (m *Machine) SendFailed(now time.Time, ifname string) {
	if i, ok := m.byName[ifname]; ok && now.After(m.ports[i].sendErr) {
		m.ports[i].sendErr = now
	}
}
