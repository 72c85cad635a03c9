package election

import (
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// Driver runs a Machine on a clock: it ticks it every Interval and after
// every input, and hands each non-empty Output to a handler. Its methods
// are safe for concurrent use.
type Driver struct {
	clk    hakit.Clock
	handle func(Output)

	out sync.Mutex // serialises handler calls, in order
	mu  sync.Mutex // guards m, stop, closed
	m   *Machine

	stop   func() bool
	closed bool
}

// NewDriver returns a Driver for a new Machine of cfg (see New), started now
// on cfg.Clock. handle receives every Output that changed the
// role, asks for a heartbeat or a re-announcement, or carries events; calls
// are serialised and in order. handle may call Candidate, AppendCandidate,
// Role and Counters, but not the input methods, and should not block.
// Call Start to begin ticking.
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

// Close stops ticking; inputs are then ignored.
func (d *Driver) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
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

// do applies an input then ticks, and hands the output to the handler.
func (d *Driver) do(input func(m *Machine, now time.Time)) {
	d.out.Lock()
	defer d.out.Unlock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	now := d.clk.Now()
	input(d.m, now)
	o := d.m.Tick(now)
	d.mu.Unlock()
	if o.Changed || o.Send || o.ReAnnounce || len(o.Events) > 0 {
		d.handle(o)
	}
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
