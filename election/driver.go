package election

import (
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// Driver runs a Machine on a clock: it ticks it every Interval and after
// every input, and hands each non-empty Output to a handler. Its methods
// are safe for concurrent use.
//
// The handler is called with no lock of the Driver held, one call at a
// time, in the order the Outputs were produced, from the goroutine of an
// input method or of the timer: it may call any method of the Driver, the
// input methods and Close included (an Output such an input produces is
// handed over after the handler returns).
type Driver struct {
	clk    hakit.Clock
	handle func(Output)

	mu         sync.Mutex // guards everything below
	m          *Machine
	queue      []Output // to hand to the handler, in order
	delivering bool     // a goroutine is handing the queue over
	stop       func() bool
	closed     bool
}

// NewDriver returns a Driver for a new Machine of cfg (see New), started now
// on cfg.Clock. handle (nil: none) receives every Output that changed the
// role, asks for a heartbeat or a re-announcement, or carries events; it
// should not block. Call Start to begin ticking.
func NewDriver(cfg *Config, handle func(Output)) (*Driver, error) {
	var clk hakit.Clock = hakit.RealClock()
	if cfg != nil && cfg.Clock != nil {
		clk = cfg.Clock
	}
	if handle == nil {
		handle = func(Output) {}
	}
	m, err := New(clk.Now(), cfg)
	if err != nil {
		return nil, err
	}
	return &Driver{clk: clk, handle: handle, m: m}, nil
}

// Start begins ticking every Interval.
func (d *Driver) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop == nil && !d.closed {
		d.stop = d.clk.AfterFunc(d.m.cfg.Interval, d.tick)
	}
}

// Close stops ticking; inputs are then ignored and no handler call starts.
// It may be called from the handler.
func (d *Driver) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.queue = nil
	if d.stop != nil {
		d.stop()
		d.stop = nil
	}
}

func (d *Driver) tick() {
	d.do(func(*Machine, time.Time) {})
	d.mu.Lock()
	if !d.closed {
		d.stop = d.clk.AfterFunc(d.m.cfg.Interval, d.tick)
	}
	d.mu.Unlock()
}

// do applies an input then ticks, queues the output, and hands the queue to
// the handler unless another goroutine is doing so.
func (d *Driver) do(input func(m *Machine, now time.Time)) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	now := d.clk.Now()
	input(d.m, now)
	if o := d.m.Tick(now); o.Changed || o.Send || o.ReAnnounce || len(o.Events) > 0 {
		d.queue = append(d.queue, o)
	}
	if d.delivering {
		d.mu.Unlock()
		return
	}
	d.delivering = true
	for len(d.queue) > 0 && !d.closed {
		o := d.queue[0]
		d.queue = d.queue[1:]
		d.mu.Unlock()
		d.handle(o)
		d.mu.Lock()
	}
	d.delivering = false
	d.mu.Unlock()
}

// ObserveBinary hands a peer's encoded candidate to the Machine.
func (d *Driver) ObserveBinary(b []byte) error {
	var err error
	d.do(func(m *Machine, now time.Time) { err = m.ObserveBinary(now, b) })
	return err
}

// PeerLost tells the Machine that the heartbeat layer declared unit lost.
func (d *Driver) PeerLost(unit uint16) {
	d.do(func(m *Machine, now time.Time) { m.PeerLost(now, unit) })
}

// Local tells the Machine the local unit's status.
func (d *Driver) Local(s Status) {
	d.do(func(m *Machine, now time.Time) { m.Local(now, s) })
}

// Verdict hands a heartbeat verdict to the Machine.
func (d *Driver) Verdict(v Verdict) error {
	var err error
	d.do(func(m *Machine, now time.Time) { err = m.Verdict(now, v) })
	return err
}

// Witness hands the answer of an outside witness to the Machine (see
// Machine.Witness).
func (d *Driver) Witness(ok bool) {
	d.do(func(m *Machine, now time.Time) { m.Witness(now, ok) })
}

// Handover starts a planned handover (see Machine.Handover).
func (d *Driver) Handover() {
	d.do(func(m *Machine, now time.Time) { m.Handover(now) })
}

// Resume ends a planned handover (see Machine.Resume).
func (d *Driver) Resume(reclaim bool) {
	d.do(func(m *Machine, now time.Time) { m.Resume(now, reclaim) })
}

// AppendCandidate appends the encoded local candidate to b, for the payload
// of a heartbeat.
func (d *Driver) AppendCandidate(b []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.AppendCandidate(b, d.clk.Now())
}

// Candidate returns the local candidate.
func (d *Driver) Candidate() Candidate {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.Candidate(d.clk.Now())
}

// Role returns the current role.
func (d *Driver) Role() hakit.Role {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.Role()
}

// Counters returns the Machine's counters.
func (d *Driver) Counters() Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.Counters()
}
