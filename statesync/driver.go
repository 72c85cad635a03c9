package statesync

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit/internal/clock"
)

// Clock is what a Driver needs from time; clock.Real() and a simulated
// clock both satisfy it.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// DriverConfig configures a Driver.
type DriverConfig struct {
	// Transport carries datagrams to and from the peer (required).
	Transport Transport
	// Table is this unit's session table (required).
	Table *Table
	// Send, if not nil, makes this unit send its changes to the peer; its
	// Table field is set to Table.
	Send *SenderConfig
	// Receive, if not nil, makes this unit apply the peer's changes to
	// Table; its Table field is set to Table.
	Receive *ReceiverConfig
	// Clock drives the ticks; nil means the real clock.
	Clock Clock
	// TickInterval is how often the cores' Tick runs (default 1 ms): the
	// longest a change waits in a partly filled datagram.
	TickInterval time.Duration
	// Logger receives transport errors and foreign-version warnings; nil
	// discards. The cores log through their own configs' Logger.
	Logger *slog.Logger
}

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
// tick timer and the lock that serialises the cores. It is safe for
// concurrent use.
type Driver struct {
	mu     sync.Mutex
	cfg    DriverConfig
	clk    Clock
	s      *Sender
	r      *Receiver
	out    [][]byte
	stop   func() bool
	closed bool
	stats  DriverStats
	done   chan struct{}

	// With a pull transport, a writer goroutine does the writes, so that a
	// transport that blocks never holds the lock (and never delays Commit).
	async bool
	wq    chan []byte
	free  chan []byte
	wdone chan struct{}
	werr  atomic.Uint64
}

// NewDriver starts a driver.
func NewDriver(cfg *DriverConfig) (*Driver, error) {
	c := *cfg
	if c.Transport == nil || c.Table == nil {
		return nil, errors.New("statesync: DriverConfig needs a Transport and a Table")
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.TickInterval <= 0 {
		c.TickInterval = time.Millisecond
	}
	d := &Driver{cfg: c, clk: c.Clock, done: make(chan struct{})}
	now := d.clk.Now()
	if c.Send != nil {
		sc := *c.Send
		sc.Table = c.Table
		s, err := NewSender(now, &sc)
		if err != nil {
			return nil, err
		}
		d.s = s
	}
	if c.Receive != nil {
		rc := *c.Receive
		rc.Table = c.Table
		r, err := NewReceiver(now, &rc)
		if err != nil {
			return nil, err
		}
		d.r = r
	}
	d.wdone = make(chan struct{})
	if pt, ok := c.Transport.(PushTransport); ok && canPush(c.Transport) {
		pt.SetHandler(d.Deliver)
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
		d.Deliver(buf[:n])
	}
}

// Deliver hands a received datagram to the right core. The read loop and
// push transports call it; b is not kept.
func (d *Driver) Deliver(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	now := d.clk.Now()
	var err error
	switch {
	case len(b) > 3 && Type(b[3]) == TypeAck && d.s != nil:
		err = d.s.Step(now, b)
	case len(b) > 3 && Type(b[3]) != TypeAck && d.r != nil:
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

// flushLocked writes the cores' output to the transport.
func (d *Driver) flushLocked() {
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
// waiting beyond a gap, and stops receiving. The ordering contract of a
// takeover is: the election decides this unit becomes primary; the caller
// calls Commit; only after Commit returns does it bring up the virtual
// addresses and MACs and announce them. Datagrams the driver has not yet
// read from the transport when Commit is called are not included; by the
// time a peer is declared dead (heartbeat misses, hundreds of
// milliseconds), everything it sent has long been read.
func (d *Driver) Commit() CommitResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.r == nil {
		return CommitResult{}
	}
	return d.r.Commit(d.clk.Now())
}

// SenderStats returns the sending half's counters.
func (d *Driver) SenderStats() SenderStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s == nil {
		return SenderStats{}
	}
	return d.s.Stats()
}

// ReceiverStats returns the receiving half's counters.
func (d *Driver) ReceiverStats() ReceiverStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.r == nil {
		return ReceiverStats{}
	}
	return d.r.Stats()
}

// Stats returns the driver's own counters.
func (d *Driver) Stats() DriverStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stats
	st.WriteErrors += d.werr.Load()
	return st
}

// Progress returns the sending half's bulk sync progress.
func (d *Driver) Progress() (sent, total uint64, running bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s == nil {
		return 0, 0, false
	}
	return d.s.Progress()
}

// ReceiveProgress returns the receiving half's bulk sync progress: records
// applied since it began, the total announced, and whether it is running.
func (d *Driver) ReceiveProgress() (got, total uint64, running bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.r == nil {
		return 0, 0, false
	}
	return d.r.Progress()
}

// Close stops the driver and closes the transport.
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
	if pt, ok := d.cfg.Transport.(PushTransport); ok && canPush(d.cfg.Transport) {
		pt.SetHandler(nil)
	}
	<-d.wdone
	err := d.cfg.Transport.Close()
	<-d.done
	return err
}
