package member

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// checkRunner runs one check's Probe on the Driver's clock: at once when
// started, then Interval after the end of each run, each run in a clock
// callback of its own (on the real clock, a goroutine: a slow probe holds
// up nothing else).
type checkRunner struct {
	d *Driver
	c Check // with defaults

	mu      sync.Mutex
	stopped bool
	stop    func() bool
	cancel  context.CancelFunc
}

func (r *checkRunner) arm(delay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.stop = r.d.clk.AfterFunc(delay, r.run)
	}
}

func (r *checkRunner) run() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.c.Timeout)
	r.cancel = cancel
	r.mu.Unlock()
	err := r.c.Probe(ctx)
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.DeadlineExceeded)) {
		err = fmt.Errorf("timed out after %v", r.c.Timeout)
	}
	cancel()
	r.d.input(func(m *Machine, now time.Time) {
		if !r.halted() { // a result of a check replaced meanwhile is dropped
			_ = m.CheckResult(now, r.c.Name, err) // configured: the runner is halted first
		}
	})
	r.arm(r.c.Interval)
}

func (r *checkRunner) halted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// halt stops the runner; a run under way is cancelled and its result
// dropped.
func (r *checkRunner) halt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.stop != nil {
		r.stop()
	}
	if r.cancel != nil {
		r.cancel()
	}
}

// newRunnersLocked makes the runners of cs and, once the Driver is
// started, starts them.
func (d *Driver) newRunnersLocked(cs []Check) {
	for _, r := range d.runners {
		r.halt()
	}
	d.runners = d.runners[:0]
	for _, c := range cs {
		r := &checkRunner{d: d, c: c.withDefaults()}
		d.runners = append(d.runners, r)
		if d.started {
			r.arm(0)
		}
	}
}

// startChecks starts the runners of the configured checks.
func (d *Driver) startChecks() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.newRunnersLocked(d.cfg.Checks)
	}
}

// stopChecksLocked stops every runner.
func (d *Driver) stopChecksLocked() {
	for _, r := range d.runners {
		r.halt()
	}
	d.runners = nil
}

// SetChecks replaces the health checks while the unit runs (a reloaded
// configuration): a check kept by name keeps its state, a removed one
// takes its weight or its fault with it, and every new check runs at
// once. Invalid checks return an error wrapping hakit.ErrConfig and
// change nothing.
func (d *Driver) SetChecks(cs []Check) error {
	if err := validateChecks(cs, true); err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return fmt.Errorf("member: set checks: %w", ErrClosed)
	}
	if err := d.m.SetChecks(d.clk.Now(), cs); err != nil {
		d.mu.Unlock()
		return err
	}
	d.cfg.Checks = append([]Check(nil), cs...)
	d.newRunnersLocked(d.cfg.Checks)
	d.dirty = true
	d.mu.Unlock()
	d.kick()
	return nil
}

// SetPriority changes the configured priority while the unit runs (a
// reloaded configuration); the heartbeats carry the new effective
// priority at once (see Machine.SetPriority).
func (d *Driver) SetPriority(p uint8) {
	d.input(func(m *Machine, now time.Time) { m.SetPriority(now, p) })
}
