package statesync

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit/internal/deliver"

	"github.com/hakit/hakit"
)

// DriverConfig configures a Driver.
type DriverConfig struct {
	// Transport carries datagrams to and from the peer (required).
	Transport Transport
	// Table is this unit's session table (required): the sending half
	// reads it, the receiving half writes it, and it stays the same when
	// the halves are switched (see SetSending).
	Table *Table
	// Keys, if not nil, authenticate both halves (see SenderConfig.Keys).
	Keys *hakit.Keyring
	// Send and Receive turn the halves on at start: the sending half sends
	// this unit's changes to the peer, the receiving half applies the
	// peer's changes to Table. SetSending and SetReceiving switch them
	// later, on the same transport and table.
	Send, Receive bool
	// Sender and Receiver are the halves' settings, used each time a half
	// is turned on; nil means the defaults. Their Table, Keys, Cluster,
	// Unit and Peer fields are ignored: the Driver's are used.
	Sender   *SenderConfig
	Receiver *ReceiverConfig
	// Cluster is this cluster's ID, written in every datagram; datagrams
	// of another cluster are dropped and counted (DriverStats.Foreign).
	Cluster uint16
	// Unit is this unit's ID (1 to 65535), required with Peers; without
	// Peers (a point-to-point link) it is not used and the link unnamed.
	Unit uint16
	// Peers are the other units, each with its own stream each way over
	// Transport: the sending half sends every change to every peer, each
	// peer acknowledges on its own, and one that joins (or comes back)
	// gets its own bulk sync while the others go on; the receiving half
	// applies every peer's stream. Datagrams name their sending and
	// receiving units, so the Driver tells the peers apart (from another
	// unit: dropped and counted, DriverStats.Unknown). Empty: the one peer
	// of a point-to-point Transport, unnamed.
	Peers []Peer
	// ActiveActive: each unit sends the sessions it owns (SenderConfig.
	// Filter) and each peer's stream replaces only that peer's sessions
	// (its receiver tags them with an origin of its own, see
	// ReceiverConfig.Origin); InSync then means in sync with every peer.
	// Otherwise (active-passive) the unit that sends sends its whole
	// table, whose bulk sync replaces the whole replica, and InSync means
	// in sync with the peer that sends (any).
	ActiveActive bool
	// Clock drives the ticks; nil means hakit.RealClock().
	Clock hakit.Clock
	// TickInterval is how often the cores' Tick runs (default 1 ms): the
	// longest a change waits in a partly filled datagram.
	TickInterval time.Duration
	// Logger receives transport errors and foreign-version warnings; nil
	// discards. The cores log through their own configs' Logger.
	Logger *slog.Logger
	// OnEvent, if not nil, is called with every event of both halves (see
	// Event.Side), in order, one at a time, from a goroutine of the Driver
	// with no lock held: it may call any method of the Driver, Close
	// included. The first calls may come before NewDriver returns (a
	// sending half starts its bulk sync at once).
	OnEvent func(Event)
	// OnMerge, if not nil, makes a Driver whose receiving half is off and
	// whose sending half is on (a primary) take in the stream of a peer
	// that sends to it all the same (a unit that was primary too, during
	// a split brain, and that hands its table back: see HandBack): every
	// session of it that Table lacks is stored as this unit's own and
	// replicated, and OnMerge is called with them (to write them into the
	// kernel, say), in order, one call at a time, with no lock held. A
	// session Table holds is kept as it is. Not with ActiveActive.
	OnMerge func(peer uint16, merged []Session)
}

// Peer is another unit a Driver syncs with.
type Peer struct {
	// Unit is its unit ID (1 to 65535).
	Unit uint16
	// Addr is where the Transport reaches it, passed to its WriteTo: a
	// *net.UDPAddr for a UDPTransport, a *packet.Addr (the peer's MAC)
	// for an EthernetTransport. nil: the transport's only peer.
	Addr net.Addr
}

// ErrClosed is wrapped by the errors of a closed Driver's methods.
var ErrClosed = errors.New("driver closed")

// DriverStats counts what the Driver itself saw.
type DriverStats struct {
	WriteErrors uint64 // transport writes that failed
	// WriteDrops counts datagrams dropped because the transport did not
	// keep up (the write queue was full); the protocol resends them.
	WriteDrops uint64
	ReadErrors uint64 // transport reads that failed (other than closing)
	// Ignored counts datagrams for a half this driver does not run (an
	// acknowledgement to a receive-only standby, data to a sender only);
	// Short those of 3 bytes or less, too short to have a type.
	Ignored, Short uint64
	Errors         uint64 // datagrams a core rejected (see the cores' stats)
	// Foreign counts datagrams of another cluster; Unknown those from a
	// unit that is not a peer, for another unit, or of another version
	// (with several peers, where they cannot be routed).
	Foreign, Unknown uint64
	// Transport is what the transport dropped before the driver saw it,
	// when it counts its drops (a DropCounter).
	Transport TransportDrops
	// Merged counts the sessions taken in from a peer that was primary
	// too (DriverConfig.OnMerge).
	Merged uint64
}

// Driver runs a Sender and/or a Receiver over a Transport: it owns the
// goroutine reading the transport (or the handler of a push transport), the
// tick timer and the lock that serialises the cores. Each half can be
// switched on and off while it runs (SetSending, SetReceiving), on the same
// transport and table: a unit becoming primary commits and starts sending,
// one demoted stops sending and receives the new primary's stream. It is
// safe for concurrent use.
type Driver struct {
	mu    sync.Mutex
	cfg   DriverConfig
	clk   hakit.Clock
	links []*peerLink // one per peer
	// Whether the halves are on (each link then has one of each).
	sending, receiving bool
	bufs               [][]byte // the cores' output, reused
	stop               func() bool
	closed             bool
	stats              DriverStats
	done               chan struct{}
	events             []Event
	calls              *deliver.Queue[Event]          // OnEvent, if set
	merges             *deliver.Queue[mergedSessions] // OnMerge, if set (merge.go)

	// With a pull transport, a writer goroutine does the writes, so that a
	// transport that blocks never holds the lock (and never delays Commit).
	async bool
	wq    chan outgoing
	free  chan []byte
	wdone chan struct{}
	werr  atomic.Uint64
}

// peerLink is the state of the streams with one peer.
type peerLink struct {
	peer   Peer
	origin uint8
	s      *Sender   // the sending half; nil: off
	r      *Receiver // the receiving half; nil: off (or committed)
	// The last half turned off, for its counters and progress.
	lastS *Sender
	lastR *Receiver
	// The last epochs used, so that a half turned on again starts above
	// them: the peer then takes its stream as a new one, never a replay.
	sEpoch, rEpoch uint64
	m              *merger // with OnMerge, a peer's stream taken in while primary (merge.go)
	handback       bool    // HandBack to this peer waits for its acknowledgement
}

// outgoing is a datagram and the peer to send it to.
type outgoing struct {
	b  []byte
	to net.Addr
}

func (l *peerLink) sender() *Sender {
	if l.s != nil {
		return l.s
	}
	return l.lastS
}

func (l *peerLink) receiver() *Receiver {
	if l.r != nil {
		return l.r
	}
	return l.lastR
}

// NewDriver starts a driver. Zero fields of cfg take their defaults (see
// DefaultDriverConfig); Transport and Table are required.
func NewDriver(cfg *DriverConfig) (*Driver, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	d := &Driver{cfg: c, clk: c.Clock, done: make(chan struct{})}
	if len(c.Peers) == 0 {
		d.links = []*peerLink{{}}
	}
	for i, p := range c.Peers {
		l := &peerLink{peer: p}
		if c.ActiveActive {
			l.origin = uint8(i + 1)
		}
		d.links = append(d.links, l)
	}
	if c.OnEvent != nil {
		d.calls = deliver.New(c.Clock, c.OnEvent)
	}
	if c.OnMerge != nil {
		d.merges = deliver.New(c.Clock, func(m mergedSessions) { c.OnMerge(m.peer, m.sessions) })
	}
	// Both halves' settings are checked now, so that switching one on
	// later cannot fail.
	if err := d.senderConfig(d.clk.Now(), d.links[0]).validate(); err != nil {
		return nil, err
	}
	if err := d.receiverConfig(d.clk.Now(), d.links[0]).validate(); err != nil {
		return nil, err
	}
	if c.Send {
		d.startSenders()
	}
	if c.Receive {
		d.startReceivers()
	}
	d.wdone = make(chan struct{})
	if pt, ok := c.Transport.(PushTransport); ok && canPush(c.Transport) {
		pt.SetHandler(d.receive)
		close(d.done)
		close(d.wdone)
	} else {
		d.async = true
		d.wq = make(chan outgoing, writeQueue)
		d.free = make(chan []byte, writeQueue)
		go d.readLoop()
		go d.writeLoop()
	}
	d.mu.Lock()
	d.flushLocked()
	d.stop = d.clk.AfterFunc(c.TickInterval, d.tick)
	d.mu.Unlock()
	return d, nil
}

// senderConfig returns the settings of l's sending half for a start at now.
func (d *Driver) senderConfig(now time.Time, l *peerLink) *SenderConfig {
	c := d.cfg.Sender.withDefaults()
	c.Table, c.Keys = d.cfg.Table, d.cfg.Keys
	c.Cluster, c.Unit, c.Peer = d.cfg.Cluster, d.unit(), l.peer.Unit
	c.Epoch = nextEpoch(now, c.Epoch, l.sEpoch)
	return &c
}

// unit is the unit ID the cores write and check: none on a point-to-point
// link (no Peers), whose other end may not know it.
func (d *Driver) unit() uint16 {
	if len(d.cfg.Peers) == 0 {
		return 0
	}
	return d.cfg.Unit
}

// receiverConfig returns the settings of l's receiving half for a start at
// now.
func (d *Driver) receiverConfig(now time.Time, l *peerLink) *ReceiverConfig {
	c := d.cfg.Receiver.withDefaults()
	c.Table, c.Keys = d.cfg.Table, d.cfg.Keys
	c.Cluster, c.Unit, c.Peer = d.cfg.Cluster, d.unit(), l.peer.Unit
	if d.cfg.ActiveActive {
		c.Origin = l.origin
	}
	c.Epoch = nextEpoch(now, c.Epoch, l.rEpoch)
	return &c
}

// nextEpoch returns the epoch of a half turned on at now: the configured
// one the first time, then one above the last used (last, zero before the
// first). Without a configured epoch the clock counts too, so that a
// restarted Driver's epochs exceed its previous ones while the clock does;
// with one the clock is left out, so that every epoch of this start stays
// within the range the caller reserved for it (see SenderConfig.Epoch).
func nextEpoch(now time.Time, configured, last uint64) uint64 {
	switch {
	case last == 0 && configured != 0:
		return configured
	case configured != 0:
		return last + 1
	}
	return max(uint64(now.UnixNano()), last+1)
}

// startSenders turns the sending half on: a new stream to each peer,
// beginning with a bulk sync of the table.
func (d *Driver) startSenders() {
	now := d.clk.Now()
	for _, l := range d.links {
		s, err := NewSender(now, d.senderConfig(now, l))
		if err != nil {
			panic("statesync: sender settings checked at NewDriver: " + err.Error())
		}
		l.s, l.sEpoch = s, s.Epoch()
	}
	d.sending = true
}

// startReceivers turns the receiving half on: each peer's receiver
// follows the first stream it hears.
func (d *Driver) startReceivers() {
	now := d.clk.Now()
	for _, l := range d.links {
		c := d.receiverConfig(now, l)
		r, err := NewReceiver(now, c)
		if err != nil {
			panic("statesync: receiver settings checked at NewDriver: " + err.Error())
		}
		l.r, l.rEpoch = r, c.Epoch
	}
	d.receiving = true
}

// SetSending turns the sending half on or off. Turned on, it starts a new
// stream to each peer with a bulk sync of the table (the peer's receiving
// half follows it: its epoch is above every one this Driver used). Turned
// off, nothing more is sent: what is queued is dropped. Turning on a half
// that is on, or off one that is off, changes nothing. It returns an error
// wrapping ErrClosed once the Driver is closed.
func (d *Driver) SetSending(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("statesync: set sending: %w", ErrClosed)
	}
	switch {
	case on && !d.sending:
		d.startSenders()
		d.flushLocked()
	case !on && d.sending:
		for _, l := range d.links {
			l.s.Output(nil) // dropped
		}
		d.takeEventsLocked()
		for _, l := range d.links {
			l.sEpoch = l.s.Epoch() // resyncs moved it on
			l.lastS, l.s = l.s, nil
			l.handback = false
		}
		d.dropMergersLocked()
		d.sending = false
	}
	return nil
}

// SetReceiving turns the receiving half on or off. Turned on, it is a new
// Receiver per peer on the same table, following the first stream it
// hears (the peer's new stream starts with a bulk sync, whose end removes
// the entries the peer no longer has). Turned off, datagrams of the peers'
// streams are ignored; nothing is committed (see Commit). It returns an
// error wrapping ErrClosed once the Driver is closed.
func (d *Driver) SetReceiving(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("statesync: set receiving: %w", ErrClosed)
	}
	switch {
	case on && !d.receiving:
		d.dropMergersLocked()
		d.startReceivers()
	case !on && d.receiving:
		for _, l := range d.links {
			l.r.Output(nil)
		}
		d.takeEventsLocked()
		for _, l := range d.links {
			l.lastR, l.r = l.r, nil
		}
		d.receiving = false
	}
	return nil
}

// Sending reports whether the sending half is on.
func (d *Driver) Sending() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sending
}

// Receiving reports whether the receiving half is on (it is off after
// Commit).
func (d *Driver) Receiving() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.receiving
}

// writeQueue is how many datagrams may wait for a slow transport.
const writeQueue = 1024

func (d *Driver) writeLoop() {
	defer close(d.wdone)
	for m := range d.wq {
		if _, err := d.cfg.Transport.WriteTo(m.b, m.to); err != nil {
			if n := d.werr.Add(1); d.cfg.Logger != nil && n%1000 == 1 {
				d.cfg.Logger.Warn("statesync: write", "err", err, "failed", n)
			}
		}
		select {
		case d.free <- m.b[:0]:
		default:
		}
	}
}

func canPush(t Transport) bool {
	if c, ok := t.(interface{ CanPush() bool }); ok {
		return c.CanPush()
	}
	return true
}

func (d *Driver) readLoop() {
	defer close(d.done)
	buf := make([]byte, 65536)
	for {
		n, _, err := d.cfg.Transport.ReadFrom(buf)
		if err != nil {
			d.mu.Lock()
			closed := d.closed
			if !closed {
				d.stats.ReadErrors++
			}
			d.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			if d.cfg.Logger != nil {
				d.cfg.Logger.Warn("statesync: read", "err", err)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		d.receive(buf[:n])
	}
}

// receive hands a received datagram to the core of the peer that sent it.
// The read loop and push transports call it; b is not kept.
func (d *Driver) receive(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	l := d.links[0]
	cluster, from, to, ok := peekIdentity(b)
	switch {
	case ok && cluster != d.cfg.Cluster:
		d.stats.Foreign++
		return
	case len(d.cfg.Peers) == 0:
		// Point-to-point: the core checks (and counts) everything.
	case !ok || to != d.cfg.Unit:
		d.stats.Unknown++
		return
	default:
		if l = d.link(from); l == nil {
			d.stats.Unknown++
			return
		}
	}
	now := d.clk.Now()
	var err error
	switch {
	case len(b) > 3 && dgramType(b[3]) == typeAck && l.s != nil:
		err = l.s.Step(now, b)
		d.handedBackLocked(l) // merge.go
	case len(b) > 3 && dgramType(b[3]) != typeAck && l.r != nil:
		err = l.r.Step(now, b)
	case len(b) > 3 && dgramType(b[3]) != typeAck && d.mergingLocked(l):
		err = d.mergeStep(now, l, b)
	case len(b) <= 3:
		d.stats.Short++
		return
	default:
		d.stats.Ignored++
		return
	}
	if err != nil {
		d.stats.Errors++
		if d.cfg.Logger != nil && (errors.Is(err, ErrVersion) || errors.Is(err, ErrAuth)) && d.stats.Errors%1000 == 1 {
			d.cfg.Logger.Warn("statesync: datagram rejected", "err", err, "rejected", d.stats.Errors)
		}
	}
	d.flushLocked()
}

// link returns the link to the peer unit, or nil.
func (d *Driver) link(unit uint16) *peerLink {
	for _, l := range d.links {
		if l.peer.Unit == unit {
			return l
		}
	}
	return nil
}

func (d *Driver) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	now := d.clk.Now()
	for _, l := range d.links {
		if l.s != nil {
			l.s.Tick(now)
		}
		if l.r != nil {
			l.r.Tick(now)
		}
	}
	d.tickMergersLocked(now)
	d.flushLocked()
	d.stop = d.clk.AfterFunc(d.cfg.TickInterval, d.tick)
}

// takeEventsLocked queues the cores' events for OnEvent.
func (d *Driver) takeEventsLocked() {
	d.events = d.events[:0]
	for _, l := range d.links {
		n := len(d.events)
		if l.s != nil {
			d.events = l.s.Events(d.events)
		}
		if l.r != nil {
			d.events = l.r.Events(d.events)
		}
		for i := n; i < len(d.events); i++ {
			d.events[i].Peer = l.peer.Unit
		}
	}
	if d.calls != nil {
		d.calls.Push(d.events...)
	}
}

// flushLocked writes the cores' output to the transport and queues their
// events for OnEvent.
func (d *Driver) flushLocked() {
	d.takeEventsLocked()
	for _, l := range d.links {
		// Start empty whichever halves run: a receive-only Driver must not
		// write the previous flush's datagrams again.
		d.bufs = d.bufs[:0]
		if l.s != nil {
			d.bufs = l.s.Output(d.bufs)
		}
		if l.r != nil {
			d.bufs = l.r.Output(d.bufs)
		}
		if l.m != nil {
			d.bufs = l.m.r.Output(d.bufs)
		}
		for i, b := range d.bufs {
			d.write(b, l.peer.Addr)
			d.bufs[i] = nil
		}
	}
}

// write sends b to addr: queued for the writer goroutine with a pull
// transport (b is copied), at once with a push transport.
func (d *Driver) write(b []byte, addr net.Addr) {
	if d.async {
		var c []byte
		select {
		case c = <-d.free:
		default:
		}
		c = append(c, b...)
		select {
		case d.wq <- outgoing{b: c, to: addr}:
		default:
			d.stats.WriteDrops++
		}
		return
	}
	if _, err := d.cfg.Transport.WriteTo(b, addr); err != nil {
		d.stats.WriteErrors++
		if d.cfg.Logger != nil && d.stats.WriteErrors%1000 == 1 {
			d.cfg.Logger.Warn("statesync: write", "err", err, "failed", d.stats.WriteErrors)
		}
	}
}

// pendingLocked reports whether a sending half has sealed datagrams to
// write.
func (d *Driver) pendingLocked() bool {
	for _, l := range d.links {
		if l.s != nil && len(l.s.out) > 0 {
			return true
		}
	}
	return false
}

// Upsert stores s in the table (Table.Upsert) and sends it to the peers;
// it returns the session as stored. Changes go out when a datagram fills or
// at the next tick.
func (d *Driver) Upsert(s Session) Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	s = d.cfg.Table.Upsert(s)
	d.replicateLocked(s)
	return s
}

func (d *Driver) replicateLocked(s Session) {
	if !d.sending || d.closed {
		return
	}
	now := d.clk.Now()
	for _, l := range d.links {
		l.s.Upsert(now, s)
	}
	if d.pendingLocked() {
		d.flushLocked()
	}
}

// Delete removes the session with key k from the table and sends the
// deletion to the peers.
func (d *Driver) Delete(k Key) (Session, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.cfg.Table.Delete(k)
	if ok && d.sending && !d.closed {
		now := d.clk.Now()
		for _, l := range d.links {
			l.s.Delete(now, k)
		}
		if d.pendingLocked() {
			d.flushLocked()
		}
	}
	return s, ok
}

// Replicate sends s, already stored in the table, to the peers.
func (d *Driver) Replicate(s Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.replicateLocked(s)
}

// ReplicateDelete sends the deletion of k, already removed from the
// table, to the peers: the counterpart of Replicate.
func (d *Driver) ReplicateDelete(k Key) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sending && !d.closed {
		now := d.clk.Now()
		for _, l := range d.links {
			l.s.Delete(now, k)
		}
		if d.pendingLocked() {
			d.flushLocked()
		}
	}
}

// Expire removes the expired sessions from the table and sends their
// deletions to the peers; it returns how many it removed.
func (d *Driver) Expire() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clk.Now()
	var fn func(Session)
	if d.sending && !d.closed {
		fn = func(s Session) {
			for _, l := range d.links {
				l.s.Delete(now, s.Key)
			}
		}
	}
	n := d.cfg.Table.Expire(now, fn)
	d.expireExpectsLocked(now) // expect_sync.go
	d.flushLocked()
	return n
}

// Flush sends the partly filled datagrams now.
func (d *Driver) Flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sending && !d.closed {
		for _, l := range d.links {
			l.s.Flush(d.clk.Now())
		}
		d.flushLocked()
	}
}

// Resync asks for a full resync: the sending half starts a new stream
// with a bulk sync of the table to each peer (Sender.Resync), the
// receiving half asks each peer for one (Receiver.RequestResync).
func (d *Driver) Resync() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	now := d.clk.Now()
	for _, l := range d.links {
		if l.s != nil {
			l.s.Resync(now)
		}
		if l.r != nil {
			l.r.RequestResync(now)
			l.r.Tick(now)
		}
	}
	d.flushLocked()
}

// InSync reports whether the receiving half holds the peers' tables
// (false when this driver does not receive): active-passive, that of the
// peer that sends, any; active-active, every peer's.
func (d *Driver) InSync() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.receiving {
		return false
	}
	for _, l := range d.links {
		if l.r.InSync() != d.cfg.ActiveActive {
			return !d.cfg.ActiveActive
		}
	}
	return d.cfg.ActiveActive
}

// Acked reports whether every peer acknowledged everything this driver
// sent and no bulk sync is running (false when this driver does not send).
func (d *Driver) Acked() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.sending {
		return false
	}
	for _, l := range d.links {
		if !l.s.Acked() {
			return false
		}
	}
	return true
}

// Commit applies everything received from the peers, including datagrams
// waiting beyond a gap, and turns the receiving half off (Receiving reports
// false; SetReceiving(true) starts a new one). The ordering contract of a
// takeover is: the election decides this unit becomes primary; the caller
// calls Commit; only after Commit returns does it bring up the virtual
// addresses and MACs and announce them, and then SetSending(true) to
// replicate to the peers. Datagrams the driver has not yet read from the
// transport when Commit is called are not included; by the time a peer is
// declared dead (heartbeat misses, hundreds of milliseconds), everything it
// sent has long been read. Without a receiving half it returns the zero
// CommitResult. With several peers the result adds theirs up (InSync: in
// sync with any).
func (d *Driver) Commit() CommitResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.receiving {
		return CommitResult{}
	}
	var res CommitResult
	now := d.clk.Now()
	for _, l := range d.links {
		r := l.r.Commit(now)
		res.Applied += r.Applied
		res.Lost += r.Lost
		res.InSync = res.InSync || r.InSync
	}
	d.takeEventsLocked()
	for _, l := range d.links {
		l.lastR, l.r = l.r, nil
	}
	d.receiving = false
	return res
}

// SenderStats returns the counters of the sending half (of the last one,
// when it is off), added up over the peers.
func (d *Driver) SenderStats() SenderStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var st SenderStats
	for _, l := range d.links {
		if s := l.sender(); s != nil {
			st.add(s.Stats())
		}
	}
	return st
}

// ReceiverStats returns the counters of the receiving half (of the last
// one, when it is off or committed), added up over the peers.
func (d *Driver) ReceiverStats() ReceiverStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var st ReceiverStats
	for _, l := range d.links {
		if r := l.receiver(); r != nil {
			st.add(r.Stats())
		}
	}
	return st
}

// Stats returns the driver's own counters.
func (d *Driver) Stats() DriverStats {
	d.mu.Lock()
	st := d.stats
	d.mu.Unlock()
	st.WriteErrors += d.werr.Load()
	if c, ok := d.cfg.Transport.(DropCounter); ok {
		st.Transport = c.Drops()
	}
	return st
}

// Progress returns the bulk sync progress of the sending half (of the last
// one, when it is off), added up over the peers.
func (d *Driver) Progress() (sent, total uint64, running bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.links {
		if s := l.sender(); s != nil {
			a, b, r := s.Progress()
			sent, total, running = sent+a, total+b, running || r
		}
	}
	return sent, total, running
}

// ReceiveProgress returns the bulk sync progress of the receiving half (of
// the last one, when it is off), added up over the peers: records applied
// since it began, the total announced, and whether it is running.
func (d *Driver) ReceiveProgress() (got, total uint64, running bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.links {
		if r := l.receiver(); r != nil {
			a, b, run := r.Progress()
			got, total, running = got+a, total+b, running || run
		}
	}
	return got, total, running
}

// PeerStatus is the state of the streams with one peer.
type PeerStatus struct {
	// Unit is the peer's unit ID (0 on an unnamed point-to-point link).
	Unit uint16
	// InSync: this unit holds the peer's table (its receiving half).
	// Acked: the peer acknowledged everything sent to it and no bulk
	// sync to it is running (the sending half).
	InSync, Acked bool
	// Sent and Total: the progress of the bulk sync to the peer;
	// Got and Announced: of the one from it.
	Sent, Total, Got, Announced uint64
	// Backlog is what the peer has not acknowledged yet of the stream
	// to it, and how old the oldest of it is (zero while the sending half
	// is off).
	Backlog Backlog
	// Sender and Receiver are the counters of the streams to and from
	// the peer (of the last ones, when a half is off).
	Sender   SenderStats
	Receiver ReceiverStats
}

// Peers returns the state of the streams with each peer, in the order of
// DriverConfig.Peers.
func (d *Driver) Peers() []PeerStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]PeerStatus, 0, len(d.links))
	now := d.clk.Now()
	for _, l := range d.links {
		p := PeerStatus{Unit: l.peer.Unit}
		if s := l.sender(); s != nil {
			p.Sender = s.Stats()
			p.Sent, p.Total, _ = s.Progress()
			p.Acked = l.s != nil && l.s.Acked()
		}
		if l.s != nil {
			p.Backlog = l.s.Backlog(now)
		}
		if r := l.receiver(); r != nil {
			p.Receiver = r.Stats()
			p.Got, p.Announced, _ = r.Progress()
			p.InSync = l.r != nil && l.r.InSync()
		}
		out = append(out, p)
	}
	return out
}

// Close stops the driver and closes the transport. No OnEvent call starts
// after it returns; it may be called from OnEvent (it then does not wait
// for that call).
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	if d.stop != nil {
		d.stop()
	}
	if d.async {
		close(d.wq)
	}
	d.mu.Unlock()
	if d.calls != nil {
		d.calls.Close()
	}
	if d.merges != nil {
		d.merges.Close()
	}
	if pt, ok := d.cfg.Transport.(PushTransport); ok && canPush(d.cfg.Transport) {
		pt.SetHandler(nil)
	}
	<-d.wdone
	err := d.cfg.Transport.Close()
	<-d.done
	return err
}
