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
	// is turned on; nil means the defaults. Their Table and Keys fields are
	// ignored: the Driver's are used.
	Sender   *SenderConfig
	Receiver *ReceiverConfig
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
	Ignored    uint64 // datagrams for a half this driver does not run
	Errors     uint64 // datagrams a core rejected (see the cores' stats)
}

// Driver runs a Sender and/or a Receiver over a Transport: it owns the
// goroutine reading the transport (or the handler of a push transport), the
// tick timer and the lock that serialises the cores. Each half can be
// switched on and off while it runs (SetSending, SetReceiving), on the same
// transport and table: a unit becoming primary commits and starts sending,
// one demoted stops sending and receives the new primary's stream. It is
// safe for concurrent use.
type Driver struct {
	mu  sync.Mutex
	cfg DriverConfig
	clk hakit.Clock
	s   *Sender   // the sending half; nil: off
	r   *Receiver // the receiving half; nil: off (or committed)
	// The last half turned off, for its counters and progress.
	lastS *Sender
	lastR *Receiver
	// The last epochs used, so that a half turned on again starts above
	// them: the peer then takes its stream as a new one, never a replay.
	sEpoch, rEpoch uint64
	out            [][]byte
	stop           func() bool
	closed         bool
	stats          DriverStats
	done           chan struct{}
	events         []Event
	calls          *deliver.Queue[Event] // OnEvent, if set

	// With a pull transport, a writer goroutine does the writes, so that a
	// transport that blocks never holds the lock (and never delays Commit).
	async bool
	wq    chan []byte
	free  chan []byte
	wdone chan struct{}
	werr  atomic.Uint64
}

// NewDriver starts a driver. Zero fields of cfg take their defaults (see
// DefaultDriverConfig); Transport and Table are required.
func NewDriver(cfg *DriverConfig) (*Driver, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	d := &Driver{cfg: c, clk: c.Clock, done: make(chan struct{})}
	if c.OnEvent != nil {
		d.calls = deliver.New(c.OnEvent)
	}
	// Both halves' settings are checked now, so that switching one on
	// later cannot fail.
	if err := d.senderConfig(d.clk.Now()).validate(); err != nil {
		return nil, err
	}
	if err := d.receiverConfig(d.clk.Now()).validate(); err != nil {
		return nil, err
	}
	if c.Send {
		d.startSender()
	}
	if c.Receive {
		d.startReceiver()
	}
	d.wdone = make(chan struct{})
	if pt, ok := c.Transport.(PushTransport); ok && canPush(c.Transport) {
		pt.SetHandler(d.receive)
		close(d.done)
		close(d.wdone)
	} else {
		d.async = true
		d.wq = make(chan []byte, writeQueue)
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

// senderConfig returns the sending half's settings for a start at now.
func (d *Driver) senderConfig(now time.Time) *SenderConfig {
	c := d.cfg.Sender.withDefaults()
	c.Table, c.Keys = d.cfg.Table, d.cfg.Keys
	if c.Epoch == 0 || d.sEpoch != 0 {
		c.Epoch = max(uint64(now.UnixNano()), d.sEpoch+1, c.Epoch)
	}
	return &c
}

// receiverConfig returns the receiving half's settings for a start at now.
func (d *Driver) receiverConfig(now time.Time) *ReceiverConfig {
	c := d.cfg.Receiver.withDefaults()
	c.Table, c.Keys = d.cfg.Table, d.cfg.Keys
	if c.Epoch == 0 || d.rEpoch != 0 {
		c.Epoch = max(uint64(now.UnixNano()), d.rEpoch+1, c.Epoch)
	}
	return &c
}

// startSender turns the sending half on: a new stream, beginning with a
// bulk sync of the table.
func (d *Driver) startSender() {
	s, err := NewSender(d.clk.Now(), d.senderConfig(d.clk.Now()))
	if err != nil {
		panic("statesync: sender settings checked at NewDriver: " + err.Error())
	}
	d.s, d.sEpoch = s, s.Epoch()
}

// startReceiver turns the receiving half on: it follows the first stream
// it hears.
func (d *Driver) startReceiver() {
	c := d.receiverConfig(d.clk.Now())
	r, err := NewReceiver(d.clk.Now(), c)
	if err != nil {
		panic("statesync: receiver settings checked at NewDriver: " + err.Error())
	}
	d.r, d.rEpoch = r, c.Epoch
}

// SetSending turns the sending half on or off. Turned on, it starts a new
// stream to the peer with a bulk sync of the table (the peer's receiving
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
	case on && d.s == nil:
		d.startSender()
		d.flushLocked()
	case !on && d.s != nil:
		d.s.Output(nil) // dropped
		d.takeEventsLocked()
		d.lastS, d.s = d.s, nil
	}
	return nil
}

// SetReceiving turns the receiving half on or off. Turned on, it is a new
// Receiver on the same table, following the first stream it hears (the
// peer's new stream starts with a bulk sync, whose end removes the entries
// the peer no longer has). Turned off, datagrams of the peer's stream are
// ignored; nothing is committed (see Commit). It returns an error wrapping
// ErrClosed once the Driver is closed.
func (d *Driver) SetReceiving(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("statesync: set receiving: %w", ErrClosed)
	}
	switch {
	case on && d.r == nil:
		d.startReceiver()
	case !on && d.r != nil:
		d.r.Output(nil)
		d.takeEventsLocked()
		d.lastR, d.r = d.r, nil
	}
	return nil
}

// Sending reports whether the sending half is on.
func (d *Driver) Sending() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.s != nil
}

// Receiving reports whether the receiving half is on (it is off after
// Commit).
func (d *Driver) Receiving() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r != nil
}

// writeQueue is how many datagrams may wait for a slow transport.
const writeQueue = 1024

func (d *Driver) writeLoop() {
	defer close(d.wdone)
	for b := range d.wq {
		if _, err := d.cfg.Transport.WriteTo(b, nil); err != nil {
			if n := d.werr.Add(1); d.cfg.Logger != nil && n%1000 == 1 {
				d.cfg.Logger.Warn("statesync: write", "err", err, "failed", n)
			}
		}
		select {
		case d.free <- b[:0]:
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

// receive hands a received datagram to the right core. The read loop and
// push transports call it; b is not kept.
func (d *Driver) receive(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	now := d.clk.Now()
	var err error
	switch {
	case len(b) > 3 && dgramType(b[3]) == typeAck && d.s != nil:
		err = d.s.Step(now, b)
	case len(b) > 3 && dgramType(b[3]) != typeAck && d.r != nil:
		err = d.r.Step(now, b)
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

func (d *Driver) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	now := d.clk.Now()
	if d.s != nil {
		d.s.Tick(now)
	}
	if d.r != nil {
		d.r.Tick(now)
	}
	d.flushLocked()
	d.stop = d.clk.AfterFunc(d.cfg.TickInterval, d.tick)
}

// takeEventsLocked queues the cores' events for OnEvent.
func (d *Driver) takeEventsLocked() {
	d.events = d.events[:0]
	if d.s != nil {
		d.events = d.s.Events(d.events)
	}
	if d.r != nil {
		d.events = d.r.Events(d.events)
	}
	if d.calls != nil {
		d.calls.Push(d.events...)
	}
}

// flushLocked writes the cores' output to the transport and queues their
// events for OnEvent.
func (d *Driver) flushLocked() {
	d.takeEventsLocked()
	// Start empty whichever halves run: a receive-only Driver must not
	// write the previous flush's datagrams again.
	d.out = d.out[:0]
	if d.s != nil {
		d.out = d.s.Output(d.out)
	}
	if d.r != nil {
		d.out = d.r.Output(d.out)
	}
	for i, b := range d.out {
		d.out[i] = nil
		if d.async {
			var c []byte
			select {
			case c = <-d.free:
			default:
			}
			c = append(c, b...)
			select {
			case d.wq <- c:
			default:
				d.stats.WriteDrops++
			}
			continue
		}
		if _, err := d.cfg.Transport.WriteTo(b, nil); err != nil {
			d.stats.WriteErrors++
			if d.cfg.Logger != nil && d.stats.WriteErrors%1000 == 1 {
				d.cfg.Logger.Warn("statesync: write", "err", err, "failed", d.stats.WriteErrors)
			}
		}
	}
}

// Upsert stores s in the table (Table.Upsert) and sends it to the peer;
// it returns the session as stored. Changes go out when a datagram fills or
// at the next tick.
func (d *Driver) Upsert(s Session) Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	s = d.cfg.Table.Upsert(s)
	if d.s != nil && !d.closed {
		d.s.Upsert(d.clk.Now(), s)
		if len(d.s.out) > 0 {
			d.flushLocked()
		}
	}
	return s
}

// Delete removes the session with key k from the table and sends the
// deletion to the peer.
func (d *Driver) Delete(k Key) (Session, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.cfg.Table.Delete(k)
	if ok && d.s != nil && !d.closed {
		d.s.Delete(d.clk.Now(), k)
		if len(d.s.out) > 0 {
			d.flushLocked()
		}
	}
	return s, ok
}

// Replicate sends s, already stored in the table, to the peer: for a unit
// replicating to several peers, with one Driver per peer, only one of
// which calls Upsert.
func (d *Driver) Replicate(s Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s != nil && !d.closed {
		d.s.Upsert(d.clk.Now(), s)
		if len(d.s.out) > 0 {
			d.flushLocked()
		}
	}
}

// Expire removes the expired sessions from the table and sends their
// deletions to the peer; it returns how many it removed.
func (d *Driver) Expire() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clk.Now()
	var fn func(Session)
	if d.s != nil && !d.closed {
		fn = func(s Session) { d.s.Delete(now, s.Key) }
	}
	n := d.cfg.Table.Expire(now, fn)
	d.flushLocked()
	return n
}

// Flush sends the partly filled datagram now.
func (d *Driver) Flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s != nil && !d.closed {
		d.s.Flush(d.clk.Now())
		d.flushLocked()
	}
}

// Resync asks for a full resync: the sending half starts a new stream
// with a bulk sync of the table (Sender.Resync), the receiving half asks
// the peer for one (Receiver.RequestResync).
func (d *Driver) Resync() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	now := d.clk.Now()
	if d.s != nil {
		d.s.Resync(now)
	}
	if d.r != nil {
		d.r.RequestResync(now)
		d.r.Tick(now)
	}
	d.flushLocked()
}

// InSync reports whether the receiving half holds the peer's whole table
// (false when this driver does not receive).
func (d *Driver) InSync() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r != nil && d.r.InSync()
}

// Acked reports whether the peer acknowledged everything this driver sent
// and no bulk sync is running (false when this driver does not send).
func (d *Driver) Acked() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.s != nil && d.s.Acked()
}

// Commit applies everything received from the peer, including datagrams
// waiting beyond a gap, and turns the receiving half off (Receiving reports
// false; SetReceiving(true) starts a new one). The ordering contract of a
// takeover is: the election decides this unit becomes primary; the caller
// calls Commit; only after Commit returns does it bring up the virtual
// addresses and MACs and announce them, and then SetSending(true) to
// replicate to the peer. Datagrams the driver has not yet read from the
// transport when Commit is called are not included; by the time a peer is
// declared dead (heartbeat misses, hundreds of milliseconds), everything it
// sent has long been read. Without a receiving half it returns the zero
// CommitResult.
func (d *Driver) Commit() CommitResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.r == nil {
		return CommitResult{}
	}
	res := d.r.Commit(d.clk.Now())
	d.takeEventsLocked()
	d.lastR, d.r = d.r, nil
	return res
}

// sender returns the sending half, or the last one turned off.
func (d *Driver) sender() *Sender {
	if d.s != nil {
		return d.s
	}
	return d.lastS
}

// receiver returns the receiving half, or the last one turned off.
func (d *Driver) receiver() *Receiver {
	if d.r != nil {
		return d.r
	}
	return d.lastR
}

// SenderStats returns the counters of the sending half (of the last one,
// when it is off).
func (d *Driver) SenderStats() SenderStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.sender(); s != nil {
		return s.Stats()
	}
	return SenderStats{}
}

// ReceiverStats returns the counters of the receiving half (of the last
// one, when it is off or committed).
func (d *Driver) ReceiverStats() ReceiverStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r := d.receiver(); r != nil {
		return r.Stats()
	}
	return ReceiverStats{}
}

// Stats returns the driver's own counters.
func (d *Driver) Stats() DriverStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stats
	st.WriteErrors += d.werr.Load()
	return st
}

// Progress returns the bulk sync progress of the sending half (of the last
// one, when it is off).
func (d *Driver) Progress() (sent, total uint64, running bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.sender(); s != nil {
		return s.Progress()
	}
	return 0, 0, false
}

// ReceiveProgress returns the bulk sync progress of the receiving half (of
// the last one, when it is off): records applied since it began, the total
// announced, and whether it is running.
func (d *Driver) ReceiveProgress() (got, total uint64, running bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r := d.receiver(); r != nil {
		return r.Progress()
	}
	return 0, 0, false
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
	if pt, ok := d.cfg.Transport.(PushTransport); ok && canPush(d.cfg.Transport) {
		pt.SetHandler(nil)
	}
	<-d.wdone
	err := d.cfg.Transport.Close()
	<-d.done
	return err
}
