package simnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// HeaderLen is the length of an Ethernet header: destination MAC, source MAC
// and EtherType. It is the shortest frame a Port accepts.
const HeaderLen = 14

// Defaults used when the corresponding Config field is zero.
const (
	// DefaultMTU is the largest payload of a standard Ethernet frame.
	DefaultMTU = 1500
	// DefaultQueueLen is the depth of a port's receive queue, the size of a
	// typical NIC receive ring.
	DefaultQueueLen = 1024
)

// vlanTagLen is the room left for one 802.1Q tag above the MTU.
const vlanTagLen = 4

// Sentinel errors wrapped by the errors the segment returns.
var (
	// ErrShortFrame reports a write shorter than HeaderLen.
	ErrShortFrame = errors.New("frame shorter than an Ethernet header")
	// ErrLongFrame reports a write longer than the header, MTU and one VLAN tag.
	ErrLongFrame = errors.New("frame longer than the MTU allows")
	// ErrBadHardwareAddr reports a MAC address that is not 6 bytes long.
	ErrBadHardwareAddr = errors.New("hardware address is not a 6-byte Ethernet MAC")
)

// Config configures a Segment. A nil *Config means the defaults.
type Config struct {
	// Clock times deliveries and deadlines. Nil means hakit.RealClock(),
	// which inside a testing/synctest bubble runs on the bubble's virtual
	// time; *clock.Sim is the simulated one.
	Clock hakit.Clock
	// Seed seeds the random source behind loss and reordering, so that a
	// given seed and sequence of writes always drops the same frames.
	Seed int64
	// MTU is the largest payload a frame may carry; frames may be up to
	// HeaderLen+MTU+4 bytes long (room for one VLAN tag). Zero means
	// DefaultMTU.
	MTU int
	// AgeingTime is how long the switch remembers a MAC address it has not
	// seen since; zero means forever. (A Linux bridge ages entries after
	// 300 s, which is why gratuitous ARP is repeated periodically.)
	AgeingTime time.Duration
	// QueueLen is the depth of each port's receive queue; frames arriving
	// at a full queue are dropped and counted as Overflow. Zero means
	// DefaultQueueLen.
	QueueLen int
}

// Drops counts dropped frames by reason.
type Drops struct {
	// Loss counts frames dropped by the random loss set with SetLoss.
	Loss uint64
	// Cut counts frames dropped because a port's cable was pulled.
	Cut uint64
	// Isolated counts frames not delivered across a partition (Isolate).
	Isolated uint64
	// Filtered counts frames the receiving NIC rejected because they were
	// addressed to another unicast MAC (flooded unknown unicast), and, in
	// Segment statistics, frames the switch did not send back out of the
	// port they came in on.
	Filtered uint64
	// Overflow counts frames that found the receive queue full.
	Overflow uint64
}

// Total returns the sum of all drop reasons.
func (d Drops) Total() uint64 { return d.Loss + d.Cut + d.Isolated + d.Filtered + d.Overflow }

func (d *Drops) add(o Drops) {
	d.Loss += o.Loss
	d.Cut += o.Cut
	d.Isolated += o.Isolated
	d.Filtered += o.Filtered
	d.Overflow += o.Overflow
}

// Stats are a port's counters. Sent counts every frame the port wrote, even
// one lost on the wire; drops on the way out (the port's own loss or cut)
// and on the way in are both counted in Dropped of the port whose link
// dropped the frame.
type Stats struct {
	Sent     uint64
	Received uint64
	Dropped  Drops
}

// SegmentStats are the segment's counters.
type SegmentStats struct {
	// Frames counts frames written by all ports.
	Frames uint64
	// Flooded counts frames sent to every port: broadcast, multicast and
	// unicast to a MAC the switch has not learned.
	Flooded uint64
	// Delivered counts frames handed to a port's handler or queue.
	Delivered uint64
	// Dropped sums the drops of all ports, plus the frames the switch
	// filtered itself.
	Dropped Drops
}

type mac [6]byte

func (m mac) String() string { return net.HardwareAddr(m[:]).String() }

// delivery is a frame on its way to a port.
type delivery struct {
	due   time.Duration // since Segment.base
	seq   uint64
	to    *Port
	frame []byte
}

// ready is a frame popped from the queue for a port's handler.
type ready struct {
	h     func(frame []byte, src net.HardwareAddr)
	frame []byte
}

// Segment is a simulated Ethernet segment: a learning switch with ports.
// Its methods and its ports' methods are safe for concurrent use.
type Segment struct {
	clk      hakit.Clock
	base     time.Time
	maxFrame int
	queueLen int
	ageing   time.Duration
	fire     func() // s.deliver, bound once so arming a timer does not allocate

	mu        sync.Mutex
	rng       *rand.Rand
	ports     []*Port // in attach order, which is the flooding order
	fdb       map[mac]fdbEntry
	nextPart  int
	stats     SegmentStats
	gone      Stats // counters of closed ports, kept for Segment.Stats
	seq       uint64
	fifo      []delivery // deliveries in order, from fifo[head]
	head      int
	late      []delivery // min-heap of out-of-order deliveries
	running   bool       // deliver is calling handlers
	timerSet  bool
	timerAt   time.Duration
	timerStop func() bool
	batch     []ready
	slab      []byte
}

// New returns an empty segment.
func New(cfg *Config) *Segment {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Clock == nil {
		c.Clock = hakit.RealClock()
	}
	if c.MTU <= 0 {
		c.MTU = DefaultMTU
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	s := &Segment{
		clk:      c.Clock,
		base:     c.Clock.Now(),
		maxFrame: HeaderLen + c.MTU + vlanTagLen,
		queueLen: c.QueueLen,
		rng:      rand.New(rand.NewPCG(uint64(c.Seed), 0x68616b6974)),
		ageing:   c.AgeingTime,
		fdb:      make(map[mac]fdbEntry),
	}
	s.fire = s.deliver
	return s
}

// Attach plugs a new port named name, with hardware address hw, into the
// segment. A nil hw gives a port without an address of its own (a sniffer,
// with SetPromiscuous). Attach panics if name is already attached or hw is
// neither nil nor 6 bytes long: both are mistakes in a test's setup.
func (s *Segment) Attach(name string, hw net.HardwareAddr) *Port {
	p := &Port{
		seg:   s,
		name:  name,
		inbox: make(chan []byte, s.queueLen),
		done:  make(chan struct{}),
		rd:    newDeadline(),
		wd:    newDeadline(),
	}
	if len(hw) > 0 {
		m, err := toMAC(hw)
		if err != nil {
			panic(fmt.Sprintf("simnet: Attach(%q, %v): %v", name, hw, err))
		}
		p.macs = []mac{m}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.ports {
		if q.name == name {
			panic(fmt.Sprintf("simnet: Attach(%q): a port with that name is already attached", name))
		}
	}
	s.ports = append(s.ports, p)
	return p
}

// Port returns the attached port named name, or nil.
func (s *Segment) Port(name string) *Port {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.ports {
		if p.name == name {
			return p
		}
	}
	return nil
}

// FDB returns a copy of the switch's forwarding table: the port name each
// learned MAC address (in net.HardwareAddr.String form) was last seen on.
func (s *Segment) FDB() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	m := make(map[string]string, len(s.fdb))
	for k, e := range s.fdb {
		if !s.expired(e, now) {
			m[k.String()] = e.port.name
		}
	}
	return m
}

// Lookup returns the name of the port the switch forwards frames for hw to,
// and whether it has learned hw at all.
func (s *Segment) Lookup(hw net.HardwareAddr) (port string, ok bool) {
	m, err := toMAC(hw)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(m, s.now())
	if p == nil {
		return "", false
	}
	return p.name, true
}

// Isolate puts ports in a new partition: from now on they reach only each
// other, and the ports outside it no longer reach them. Calling it again with
// another set adds another partition; a port belongs to the partition it was
// last put in. Frames already in flight are not affected.
func (s *Segment) Isolate(ports ...*Port) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextPart++
	for _, p := range ports {
		p.part = s.nextPart
	}
}

// Join heals every partition made by Isolate.
func (s *Segment) Join() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.ports {
		p.part = 0
	}
}

// Stats returns the segment's counters.
func (s *Segment) Stats() SegmentStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Dropped.add(s.gone.Dropped)
	for _, p := range s.ports {
		st.Dropped.add(p.stats.Dropped)
	}
	return st
}

// forget removes every forwarding entry that points at p. Called with s.mu
// held.
func (s *Segment) forget(p *Port) {
	for k, e := range s.fdb {
		if e.port == p {
			delete(s.fdb, k)
		}
	}
}

// fdbEntry is what the switch learned about a MAC: the port it was last seen
// on, and when.
type fdbEntry struct {
	port *Port
	seen time.Duration
}

// expired reports whether e has aged out at now.
func (s *Segment) expired(e fdbEntry, now time.Duration) bool {
	return s.ageing > 0 && now-e.seen >= s.ageing
}

// lookup returns the port m was learned on, or nil if it was not or its
// entry has aged out (and is then removed). Called with s.mu held.
func (s *Segment) lookup(m mac, now time.Duration) *Port {
	e, ok := s.fdb[m]
	if !ok {
		return nil
	}
	if s.expired(e, now) {
		delete(s.fdb, m)
		return nil
	}
	return e.port
}

// now returns the clock's time as an offset from the segment's creation.
func (s *Segment) now() time.Duration { return s.clk.Now().Sub(s.base) }

// send switches frame b written by p. Called with s.mu held.
func (s *Segment) send(p *Port, b []byte) {
	s.stats.Frames++
	p.stats.Sent++
	if p.cut {
		p.stats.Dropped.Cut++
		return
	}
	if p.loss > 0 && s.rng.Float64() < p.loss {
		p.stats.Dropped.Loss++
		return
	}
	delay := p.latency
	if p.reorderP > 0 && s.rng.Float64() < p.reorderP {
		delay += p.reorderExtra
	}
	dst, src := mac(b[0:6]), mac(b[6:12])
	now := s.now()
	if src[0]&1 == 0 {
		s.fdb[src] = fdbEntry{port: p, seen: now}
	}
	if dst[0]&1 == 0 {
		if q := s.lookup(dst, now); q != nil {
			if q == p {
				// A switch never sends a frame back out of its ingress port.
				s.stats.Dropped.Filtered++
				return
			}
			s.forward(p, q, b, dst, now, delay)
			return
		}
	}
	s.stats.Flooded++
	for _, q := range s.ports {
		if q != p {
			s.forward(p, q, b, dst, now, delay)
		}
	}
}

// forward takes frame b from p to q through q's link and NIC filter.
// Called with s.mu held.
func (s *Segment) forward(p, q *Port, b []byte, dst mac, now, delay time.Duration) {
	switch {
	case q.part != p.part:
		q.stats.Dropped.Isolated++
		return
	case q.cut:
		q.stats.Dropped.Cut++
		return
	case !q.accepts(dst):
		q.stats.Dropped.Filtered++
		return
	case q.loss > 0 && s.rng.Float64() < q.loss:
		q.stats.Dropped.Loss++
		return
	}
	delay += q.latency
	if q.reorderP > 0 && s.rng.Float64() < q.reorderP {
		delay += q.reorderExtra
	}
	frame := s.copyFrame(b)
	if delay == 0 && q.handler == nil {
		s.enqueueInbox(q, frame)
		return
	}
	s.seq++
	s.push(delivery{due: now + delay, seq: s.seq, to: q, frame: frame})
	s.arm()
}

// copyFrame copies b into memory of its own, carved from a shared slab so
// that a frame costs no allocation of its own. The copy's capacity is its
// length, so appending to it never touches a neighbour. Called with s.mu
// held.
func (s *Segment) copyFrame(b []byte) []byte {
	const slabSize = 64 << 10
	if len(b) > len(s.slab) {
		if len(b) > slabSize/4 {
			return append([]byte(nil), b...)
		}
		s.slab = make([]byte, slabSize)
	}
	f := s.slab[:len(b):len(b)]
	s.slab = s.slab[len(b):]
	copy(f, b)
	return f
}

// enqueueInbox queues frame for q's ReadFrom. Called with s.mu held.
func (s *Segment) enqueueInbox(q *Port, frame []byte) {
	select {
	case q.inbox <- frame:
		q.stats.Received++
		s.stats.Delivered++
	default:
		q.stats.Dropped.Overflow++
	}
}

// arm makes sure a timer is set for the earliest queued delivery. Called
// with s.mu held.
func (s *Segment) arm() {
	next := s.peek()
	if s.running || next == nil {
		return // deliver re-arms when it finishes
	}
	at := next.due
	if s.timerSet {
		if at >= s.timerAt {
			return
		}
		if !s.timerStop() {
			return // firing right now; deliver re-arms
		}
	}
	s.timerSet = true
	s.timerAt = at
	s.timerStop = s.clk.AfterFunc(at-s.now(), s.fire)
}

// deliver runs on the clock's callback: it hands every frame that is due to
// its port, then re-arms the timer. Frames written by handlers during the
// call wait for a later callback, even at zero latency, so handlers never
// recurse; handlers are never called concurrently.
func (s *Segment) deliver() {
	s.mu.Lock()
	s.timerSet = false
	if s.running {
		s.mu.Unlock()
		return
	}
	now := s.now()
	for next := s.peek(); next != nil && next.due <= now; next = s.peek() {
		d := s.pop()
		q := d.to
		switch {
		case q.closed:
		case q.cut:
			q.stats.Dropped.Cut++
		case q.handler == nil:
			s.enqueueInbox(q, d.frame)
		default:
			q.stats.Received++
			s.stats.Delivered++
			s.batch = append(s.batch, ready{q.handler, d.frame})
		}
	}
	if len(s.batch) == 0 {
		s.arm()
		s.mu.Unlock()
		return
	}
	s.running = true
	s.mu.Unlock()

	for _, r := range s.batch {
		r.h(r.frame, net.HardwareAddr(r.frame[6:12:12]))
	}

	s.mu.Lock()
	clear(s.batch)
	s.batch = s.batch[:0]
	s.running = false
	s.arm()
	s.mu.Unlock()
}

// The deliveries waiting for their time are kept in two queues: fifo, in
// order, takes every frame due no earlier than the last one in it, which is
// every frame while latencies stay put; late, a min-heap, takes the others
// (reordered frames, a latency lowered). Both order by (due, seq), so frames
// due at the same instant leave in the order they were written.

// push queues d. Called with s.mu held.
func (s *Segment) push(d delivery) {
	if n := len(s.fifo); n == s.head || !d.before(&s.fifo[n-1]) {
		s.fifo = append(s.fifo, d)
		return
	}
	s.late = append(s.late, d)
	h := s.late
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !h[i].before(&h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

// peek returns the earliest delivery, or nil. Called with s.mu held.
func (s *Segment) peek() *delivery {
	var d *delivery
	if s.head < len(s.fifo) {
		d = &s.fifo[s.head]
	}
	if len(s.late) > 0 && (d == nil || s.late[0].before(d)) {
		d = &s.late[0]
	}
	return d
}

// pop removes and returns the earliest delivery; there must be one. Called
// with s.mu held.
func (s *Segment) pop() delivery {
	if s.head < len(s.fifo) && (len(s.late) == 0 || !s.late[0].before(&s.fifo[s.head])) {
		d := s.fifo[s.head]
		s.fifo[s.head] = delivery{}
		s.head++
		switch {
		case s.head == len(s.fifo):
			s.fifo, s.head = s.fifo[:0], 0
		case s.head >= 1024 && s.head > len(s.fifo)/2:
			n := copy(s.fifo, s.fifo[s.head:])
			clear(s.fifo[n:])
			s.fifo, s.head = s.fifo[:n], 0
		}
		return d
	}
	h := s.late
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = delivery{}
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].before(&h[l]) {
			m = r
		}
		if !h[m].before(&h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.late = h
	return top
}

func (d *delivery) before(o *delivery) bool {
	if d.due != o.due {
		return d.due < o.due
	}
	return d.seq < o.seq
}

func toMAC(hw net.HardwareAddr) (mac, error) {
	if len(hw) != 6 {
		return mac{}, fmt.Errorf("simnet: %v: %w", hw, ErrBadHardwareAddr)
	}
	return mac(hw), nil
}
