package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// Conn carries VRRP messages, the payload of IP protocol 112, on one
// interface in one address family. Listen returns the Linux one; tests
// and simulations bring their own.
type Conn interface {
	// ReadFrom reads one message into b and returns it with its IP
	// source, destination and TTL or hop limit; Packet.Data aliases b.
	ReadFrom(b []byte) (Packet, error)
	// WriteTo sends b as the payload of an IP packet of protocol 112 from
	// src to dst, with TTL or hop limit 255.
	WriteTo(b []byte, src, dst netip.Addr) error
	// Close closes the Conn; a blocked ReadFrom returns an error wrapping
	// net.ErrClosed.
	Close() error
}

// Transition is a state change of a Driver's Machine, as its hook gets it.
type Transition struct {
	// Time is when it happened.
	Time time.Time
	// From and To are the states; Reason says why, in words.
	From, To State
	Reason   string
	// Accept reports whether, as Master, this router accepts packets
	// addressed to the virtual addresses (it owns them, or AcceptMode).
	Accept bool
	// Addrs are the virtual addresses. The slice is shared: do not modify it.
	Addrs []netip.Addr
}

// DriverConfig configures a Driver. A nil *DriverConfig means the real
// clock, no logs and no hook.
type DriverConfig struct {
	// Clock drives the timers; nil means the real clock.
	Clock hakit.Clock
	// Logger receives state changes, notices about peers and dropped
	// advertisements (at most one line per reason every 10 seconds); nil
	// discards them.
	Logger *slog.Logger
	// OnTransition, if set, is called on every state change, in order,
	// with no lock held. On a change to Master it is called after the
	// first advertisement was sent: it takes over (virtual MAC, addresses,
	// gratuitous ARP or unsolicited neighbour advertisements). On a change
	// from Master it releases them. It may call the Driver's methods. The
	// Driver keeps advertising while it runs; transitions that happen
	// meanwhile are delivered after it returns, in order.
	OnTransition func(Transition)
}

// logEvery is the shortest time between two log lines about dropped
// advertisements of one reason (RFC 9568 section 7.1: "SHOULD log the
// event (subject to rate-limiting)").
const logEvery = 10 * time.Second

// dropReasons are the sentinels the drop log lines are limited by.
var dropReasons = []error{ErrTTL, ErrVersion, ErrMalformed, ErrChecksum, ErrType, ErrVRID, ErrSource}

// Driver runs a Machine on a Conn: it reads and checks advertisements,
// sends its own on time (to the multicast group, or to each unicast peer,
// with the configured checksum form) and calls a hook on every state
// change. Its methods are safe for concurrent use.
type Driver struct {
	conn Conn
	clk  hakit.Clock
	log  *slog.Logger
	hook func(Transition)
	dsts []netip.Addr
	form ChecksumForm
	src  netip.Addr

	mu       sync.Mutex // guards what follows
	m        *Machine
	stop     func() bool // the armed timer
	armed    time.Time
	gen      uint64
	started  bool
	closed   bool
	counters Counters // Sent, SendErrors, ReadErrors
	buf      []byte

	lmu    sync.Mutex // guards logged
	logged map[error]time.Time

	qmu      sync.Mutex // guards queue and draining
	queue    []Transition
	draining bool

	closing chan struct{} // closed by Shutdown and Close
	readers sync.WaitGroup
	done    chan struct{}
	once    sync.Once
}

// NewDriver returns a Driver for a new Machine of cfg on conn. Call Start
// to begin.
func NewDriver(conn Conn, cfg *Config, dc *DriverConfig) (*Driver, error) {
	if conn == nil {
		return nil, fmt.Errorf("vrrp: nil Conn: %w", hakit.ErrConfig)
	}
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if dc == nil {
		dc = &DriverConfig{}
	}
	d := &Driver{
		conn:    conn,
		clk:     dc.Clock,
		log:     dc.Logger,
		hook:    dc.OnTransition,
		m:       m,
		form:    m.cfg.Checksum,
		src:     m.cfg.Primary,
		buf:     make([]byte, 0, MaxLen),
		logged:  make(map[error]time.Time),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if d.clk == nil {
		d.clk = hakit.RealClock()
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("vrid", m.cfg.VRID)
	d.dsts = m.cfg.Peers
	if len(d.dsts) == 0 {
		d.dsts = []netip.Addr{GroupIPv4}
		if m.is6 {
			d.dsts = []netip.Addr{GroupIPv6}
		}
	}
	return d, nil
}

// Start starts the Machine (the Startup event) and reads advertisements
// until Shutdown or Close.
func (d *Driver) Start() error {
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return fmt.Errorf("vrrp: start: %w", ErrClosed)
	case d.started:
		d.mu.Unlock()
		return nil
	}
	d.started = true
	d.log.Info("vrrp: starting", "priority", d.m.priority, "interval", d.m.cfg.AdvertInterval,
		"addresses", d.m.cfg.Addrs, "source", d.src, "destinations", d.dsts, "checksum", d.form)
	d.apply(d.m.Start(d.clk.Now()))
	d.readers.Add(1)
	go d.read()
	d.mu.Unlock()
	d.drain()
	return nil
}

// Shutdown is the Shutdown event: a Master sends an advertisement of
// priority 0, so that a Backup takes over after its Skew_Time; the
// Machine goes to Initialize, the hook hears of it, and the Conn is
// closed. Done is closed once the reader stopped and the last transition
// was delivered.
func (d *Driver) Shutdown() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.apply(d.m.Shutdown(d.clk.Now()))
	d.mu.Unlock()
	return d.finish()
}

// Close stops the Driver without a word, as a crash would: no priority 0
// advertisement, no transition to Initialize. Whatever the hook took over
// stays until the caller releases it.
func (d *Driver) Close() error {
	return d.finish()
}

// finish stops the timer and the reader, closes the Conn and delivers what
// is queued.
func (d *Driver) finish() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.disarm()
	close(d.closing)
	d.mu.Unlock()
	err := d.conn.Close()
	go func() {
		d.readers.Wait()
		d.drain()
		d.once.Do(func() { close(d.done) })
	}()
	d.drain()
	if err != nil {
		return fmt.Errorf("vrrp: close: %w", err)
	}
	return nil
}

// Done is closed when the Driver has stopped after Shutdown or Close: its
// reader ended and every transition was delivered to the hook.
func (d *Driver) Done() <-chan struct{} { return d.done }

// State returns the Machine's state.
func (d *Driver) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.State()
}

// Status returns a snapshot of the Machine, with the Driver's counters.
func (d *Driver) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.m.Status()
	s.Counters.Sent = d.counters.Sent
	s.Counters.SendErrors = d.counters.SendErrors
	s.Counters.ReadErrors = d.counters.ReadErrors
	return s
}

// SetPriority changes the priority (see Machine.SetPriority).
func (d *Driver) SetPriority(p uint8) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return fmt.Errorf("vrrp: set priority: %w", ErrClosed)
	}
	o, err := d.m.SetPriority(d.clk.Now(), p)
	if err == nil {
		d.apply(o)
	}
	d.mu.Unlock()
	d.drain()
	return err
}

// read is the reader goroutine.
func (d *Driver) read() {
	defer d.readers.Done()
	b := make([]byte, 1<<16)
	for {
		p, err := d.conn.ReadFrom(b)
		select {
		case <-d.closing:
			return
		default:
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.mu.Lock()
			d.counters.ReadErrors++
			d.mu.Unlock()
			d.logLimited(errRead, "vrrp: read failed", "err", err)
			d.pause(10 * time.Millisecond) // a failing socket must not spin
			continue
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return
		}
		o, err := d.m.Receive(d.clk.Now(), p)
		if err == nil {
			d.apply(o)
		}
		d.mu.Unlock()
		if err != nil {
			d.logDrop(err)
		}
		d.drain()
	}
}

// pause waits for dt or until the Driver closes.
func (d *Driver) pause(dt time.Duration) {
	ch := make(chan struct{})
	stop := d.clk.AfterFunc(dt, func() { close(ch) })
	select {
	case <-ch:
	case <-d.closing:
		stop()
	}
}

// apply acts on an Output: sends, re-arms the timer, queues a transition
// and logs. d.mu is held.
func (d *Driver) apply(o Output) {
	if o.Send {
		d.send(o.Advert)
	}
	if !d.closed {
		d.arm(o.Next)
	}
	if o.Notice != "" {
		d.log.Info("vrrp: " + o.Notice)
	}
	if o.Changed {
		d.log.Info("vrrp: entering "+o.State.String()+" state", "from", o.From.String(), "reason", o.Reason)
		s := d.m.Status()
		d.qmu.Lock()
		d.queue = append(d.queue, Transition{Time: d.clk.Now(), From: o.From, To: o.State, Reason: o.Reason,
			Accept: s.Accept, Addrs: d.m.cfg.Addrs})
		d.qmu.Unlock()
	}
}

// send seals a for each destination and writes it. d.mu is held.
func (d *Driver) send(a Advertisement) {
	for _, dst := range d.dsts {
		if err := a.Seal(d.form, d.src, dst); err != nil {
			d.counters.SendErrors++
			d.logLimited(errSend, "vrrp: cannot build the advertisement", "err", err)
			continue
		}
		var err error
		d.buf, err = a.AppendBinary(d.buf[:0])
		if err == nil {
			err = d.conn.WriteTo(d.buf, d.src, dst)
		}
		if err != nil {
			d.counters.SendErrors++
			d.logLimited(errSend, "vrrp: send failed", "to", dst, "err", err)
			continue
		}
		d.counters.Sent++
	}
}

// errSend and errRead key the rate limits of send and read failure logs.
var (
	errSend = errors.New("send")
	errRead = errors.New("read")
)

// arm sets the timer for next (zero: none). d.mu is held.
func (d *Driver) arm(next time.Time) {
	if next.Equal(d.armed) && d.stop != nil {
		return
	}
	d.disarm()
	if next.IsZero() {
		return
	}
	d.armed = next
	g := d.gen
	d.stop = d.clk.AfterFunc(next.Sub(d.clk.Now()), func() { d.fire(g) })
}

// disarm cancels the timer. d.mu is held.
func (d *Driver) disarm() {
	if d.stop != nil {
		d.stop()
		d.stop = nil
	}
	d.armed = time.Time{}
	d.gen++
}

// fire is the timer's callback.
func (d *Driver) fire(gen uint64) {
	d.mu.Lock()
	if d.closed || gen != d.gen {
		d.mu.Unlock()
		return
	}
	d.stop, d.armed = nil, time.Time{}
	d.apply(d.m.Tick(d.clk.Now()))
	d.mu.Unlock()
	d.drain()
}

// drain delivers the queued transitions, in order, unless another
// goroutine is already doing so (then it delivers these too).
func (d *Driver) drain() {
	d.qmu.Lock()
	if d.draining {
		d.qmu.Unlock()
		return
	}
	d.draining = true
	for len(d.queue) > 0 {
		t := d.queue[0]
		d.queue = d.queue[1:]
		d.qmu.Unlock()
		if d.hook != nil {
			d.hook(t)
		}
		d.qmu.Lock()
	}
	d.draining = false
	d.qmu.Unlock()
}

// logDrop logs a dropped advertisement, at most once per reason every
// logEvery; other virtual routers' advertisements only at debug level.
func (d *Driver) logDrop(err error) {
	if errors.Is(err, ErrVRID) {
		d.log.Debug("vrrp: dropped an advertisement", "err", err)
		return
	}
	key := errMalformedOther
	for _, r := range dropReasons {
		if errors.Is(err, r) {
			key = r
			break
		}
	}
	d.logLimited(key, "vrrp: dropped an advertisement", "err", err)
}

// errMalformedOther keys drops that wrap no sentinel (short messages).
var errMalformedOther = errors.New("short")

// logLimited logs msg at warning level unless a line of the same key was
// logged less than logEvery ago (then at debug level).
func (d *Driver) logLimited(key error, msg string, args ...any) {
	now := d.clk.Now()
	d.lmu.Lock()
	last, ok := d.logged[key]
	quiet := ok && now.Sub(last) < logEvery
	if !quiet {
		d.logged[key] = now
	}
	d.lmu.Unlock()
	if quiet {
		d.log.Debug(msg, args...)
		return
	}
	d.log.Warn(msg, args...)
}
