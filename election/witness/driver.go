package witness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// Driver is a Witness on a Store: it contends for the lease, renews it in
// the background while it holds it, and computes Held by the rule in the
// package documentation. Its methods are safe for concurrent use.
type Driver struct {
	store Store
	cfg   Config

	// op is held by whoever calls the Store, so calls never overlap.
	op chan struct{}

	mu        sync.Mutex
	want      bool      // contending: between Acquire and Release
	dirty     bool      // an acquisition was tried since the last successful release
	release   bool      // the Store must release before anything else
	held      bool      // in a tenure (Held is held && now < until)
	token     uint64    // the latest tenure's token
	renewed   time.Time // start of the last call the arbiter confirmed for this tenure
	until     time.Time
	reachable bool
	holder    uint16
	self      uint16 // this unit, as its Store reported it when it acquired
	reason    string
	ended     string // how the last tenure ended, until the next begins
	since     time.Time
	counters  Counters
	closed    bool

	stop   func() bool // the pending step's timer
	due    time.Time   // when it is due
	cancel context.CancelFunc

	wasHeld    bool // held and token at the last set
	wasToken   uint64
	version    uint64 // bumped on every change OnChange hears of
	delivered  uint64
	delivering bool
}

// Counters count what a Driver did. They only grow.
type Counters struct {
	// Attempts counts acquisition attempts.
	Attempts uint64
	// Acquired counts tenures begun.
	Acquired uint64
	// Renewals counts renewals the arbiter confirmed.
	Renewals uint64
	// Lost counts tenures the arbiter ended: the lease expired there, was
	// revoked, or was taken by another unit.
	Lost uint64
	// Expired counts tenures given up here because no renewal was
	// confirmed in time (the arbiter unreachable).
	Expired uint64
	// Released counts tenures given up by Release or Close.
	Released uint64
	// Errors counts calls to the arbiter that failed.
	Errors uint64
}

var _ Witness = (*Driver)(nil)

// New returns a Driver on store. It does not contend until Acquire.
func New(store Store, cfg *Config) (*Driver, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("witness: nil store: %w", hakit.ErrConfig)
	}
	return &Driver{
		store:  store,
		cfg:    c,
		op:     make(chan struct{}, 1),
		reason: "not contending for the lease",
		since:  c.Clock.Now(),
	}, nil
}

// Status returns the current status (see Witness).
func (d *Driver) Status() Status {
	d.mu.Lock()
	before := d.version
	d.expire(d.cfg.Clock.Now())
	s := d.status()
	changed := d.version != before
	d.mu.Unlock()
	if changed {
		d.schedule(0)
		d.notify()
	}
	return s
}

// Counters returns the counters.
func (d *Driver) Counters() Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counters
}

// Acquire starts contending for the lease (see Witness).
func (d *Driver) Acquire(ctx context.Context) (Status, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return d.Status(), ErrClosed
	}
	if d.want {
		d.mu.Unlock()
		return d.Status(), nil
	}
	d.want = true
	d.stopWaiting()
	d.mu.Unlock()

	if err := d.lock(ctx); err != nil {
		d.schedule(0)
		d.notify()
		return d.Status(), err
	}
	next, tried, err := d.once(ctx, false)
	if !tried && err == nil && next == 0 {
		// That was a release left over from an earlier tenure; now the
		// attempt.
		next, _, err = d.once(ctx, false)
	}
	d.unlock(next)
	d.notify()
	return d.Status(), err
}

// Release stops contending and gives the lease up (see Witness).
func (d *Driver) Release(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.letGo(d.cfg.Clock.Now(), "released")
	d.stopWaiting()
	d.mu.Unlock()
	d.notify()

	if err := d.lock(ctx); err != nil {
		d.schedule(0)
		return err
	}
	next, _, err := d.once(ctx, false)
	d.unlock(next)
	d.notify()
	return err
}

// Close gives the lease up as Release does, waiting at most Timeout for the
// arbiter, and stops the Driver. Status keeps reporting the last status;
// the other methods return ErrClosed.
func (d *Driver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
	defer cancel()
	err := d.Release(ctx)
	if errors.Is(err, ErrClosed) {
		return nil
	}
	d.mu.Lock()
	d.closed = true
	if d.stop != nil {
		d.stop()
		d.stop = nil
	}
	d.stopWaiting()
	d.mu.Unlock()
	return err
}

// letGo stops contending and ends the tenure, if any; the Store is told at
// the next call. It must be called with mu held.
func (d *Driver) letGo(now time.Time, why string) {
	d.want = false
	if d.dirty {
		d.release = true
	}
	if d.held {
		d.held = false
		d.until = time.Time{}
		d.counters.Released++
		d.ended = fmt.Sprintf("%s the lease (token %d)", why, d.token)
		d.set(now, d.reachable, d.holder, d.ended)
	} else {
		d.set(now, d.reachable, d.holder, "not contending for the lease")
	}
}

// lock takes op, or gives up when ctx is done.
func (d *Driver) lock(ctx context.Context) error {
	select {
	case d.op <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlock releases op and schedules the next step after next (negative:
// none).
func (d *Driver) unlock(next time.Duration) {
	<-d.op
	d.schedule(next)
}

// schedule makes the next background step due after next, unless one is
// due sooner; a negative next schedules nothing.
func (d *Driver) schedule(next time.Duration) {
	if next < 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	at := d.cfg.Clock.Now().Add(next)
	if d.stop != nil {
		if !d.due.After(at) {
			return
		}
		d.stop()
	}
	d.due = at
	d.stop = d.cfg.Clock.AfterFunc(next, d.step)
}

// stopWaiting interrupts a step waiting for the lease to change hands. It
// must be called with mu held.
func (d *Driver) stopWaiting() {
	if d.cancel != nil {
		d.cancel()
		d.cancel = nil
	}
}

// step is the background work: one call to the Store, then, when the
// lease is held by another and the Store can, a wait for it to change
// hands.
func (d *Driver) step() {
	d.mu.Lock()
	d.stop = nil
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return
	}
	d.op <- struct{}{}
	next, _, _ := d.once(context.Background(), true)
	d.unlock(next)
	d.notify()
}

// once makes the one call to the Store that the state asks for, and
// returns when the next step is due (negative: nothing to do until
// Acquire), whether it was an acquisition attempt, and the call's error.
// wait lets it wait for the lease to change hands after a failed attempt.
// The caller holds op.
func (d *Driver) once(ctx context.Context, wait bool) (next time.Duration, tried bool, err error) {
	d.mu.Lock()
	start := d.cfg.Clock.Now()
	d.expire(start)
	var call func(context.Context) (Lease, error)
	kind := ""
	switch {
	case d.closed:
		d.mu.Unlock()
		return -1, false, ErrClosed
	case d.release:
		kind = "release"
		call = func(ctx context.Context) (Lease, error) { return Lease{}, d.store.Release(ctx) }
	case d.want && d.held:
		kind = "renew"
		call = func(ctx context.Context) (Lease, error) { return d.store.Renew(ctx, d.cfg.TTL) }
	case d.want:
		kind = "acquire"
		d.dirty = true
		d.counters.Attempts++
		call = func(ctx context.Context) (Lease, error) { return d.store.Acquire(ctx, d.cfg.TTL) }
	default:
		d.mu.Unlock()
		return -1, false, nil
	}
	d.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	l, err := call(cctx)
	cancel()

	d.mu.Lock()
	now := d.cfg.Clock.Now()
	d.expire(now)
	next = d.cfg.Interval
	waitNow := false
	switch {
	case err != nil && !(kind == "renew" && errors.Is(err, ErrLost)):
		d.counters.Errors++
		more := ""
		switch {
		case d.held:
			more = fmt.Sprintf("; holding the lease until %s (token %d)", d.until.Format(timeFormat), d.token)
		case d.ended != "":
			more = "; " + d.ended
		}
		d.set(now, false, d.holder, fmt.Sprintf("witness unreachable: %v%s", err, more))
	case kind == "release":
		d.release, d.dirty = false, false
		holder := d.holder
		if holder == d.self {
			holder = 0 // it was ours, and is free now
		}
		d.set(now, true, holder, d.reason)
		if d.want {
			next = 0
		} else {
			next = -1
		}
	case kind == "renew" && err != nil: // lost
		d.counters.Lost++
		d.held, d.until, d.release = false, time.Time{}, true
		d.ended = fmt.Sprintf("lease lost (token %d): %v", d.token, err)
		d.set(now, true, l.Holder, d.ended)
		next = 0
	case kind == "renew":
		if d.held && d.want {
			d.counters.Renewals++
			d.renewed, d.until = start, start.Add(d.cfg.TTL-d.cfg.Margin)
			d.set(now, true, l.Holder, d.heldReason())
		}
	case l.Mine: // acquire
		if !d.want {
			break // released meanwhile: the release is pending
		}
		if until := start.Add(d.cfg.TTL - d.cfg.Margin); now.Before(until) {
			if !d.held || d.token != l.Token {
				d.counters.Acquired++
			}
			d.held, d.token, d.renewed, d.until, d.self = true, l.Token, start, until, l.Holder
			d.ended = ""
			d.set(now, true, l.Holder, d.heldReason())
		} else {
			// The answer came too late to hold on to: give it back.
			d.release = true
			d.set(now, true, l.Holder, "lease acquired too late to use: giving it back")
			next = 0
		}
	default: // acquire: held by another, or free but not taken
		d.set(now, true, l.Holder, otherReason(l))
		waitNow = wait
	}
	if d.held {
		next = min(next, max(d.until.Sub(now), 0))
	}
	var wctx context.Context
	w, ok := d.store.(Waiter)
	if ok && waitNow && d.want {
		wctx, d.cancel = context.WithTimeout(context.Background(), next)
	}
	d.mu.Unlock()

	if wctx != nil {
		d.notify()
		changed := w.Wait(wctx)
		d.mu.Lock()
		if d.cancel != nil {
			d.cancel()
			d.cancel = nil
		}
		d.mu.Unlock()
		if deadline, _ := wctx.Deadline(); changed || wctx.Err() != nil {
			next = 0
		} else {
			// The Store could not wait: try again when the interval is over.
			next = max(time.Until(deadline), 0)
		}
	}
	return next, kind == "acquire", err
}

const timeFormat = "15:04:05.000"

func (d *Driver) heldReason() string {
	return fmt.Sprintf("holding the lease (token %d)", d.token)
}

func otherReason(l Lease) string {
	switch {
	case l.Holder != 0:
		return fmt.Sprintf("lease held by unit %d (token %d)", l.Holder, l.Token)
	case l.Identity != "":
		return fmt.Sprintf("lease held by %q, not a unit of this cluster (token %d)", l.Identity, l.Token)
	}
	return "lease free but not taken"
}

// expire ends the tenure if its bound has passed. It must be called with mu
// held.
func (d *Driver) expire(now time.Time) {
	if !d.held || now.Before(d.until) {
		return
	}
	d.held, d.until, d.release = false, time.Time{}, true
	d.counters.Expired++
	d.ended = fmt.Sprintf(
		"lease given up (token %d): no renewal confirmed since %s, and the witness may let it expire from %s (TTL %v)",
		d.token, d.renewed.Format(timeFormat), d.renewed.Add(d.cfg.TTL).Format(timeFormat), d.cfg.TTL)
	d.set(now, d.reachable, d.holder, d.ended)
}

// set records the state; it bumps the version when something OnChange
// hears of changed. It must be called with mu held.
func (d *Driver) set(now time.Time, reachable bool, holder uint16, reason string) {
	switch {
	case reachable != d.reachable || holder != d.holder || d.held != d.wasHeld:
		d.since = now
		d.version++
	case reason != d.reason || d.token != d.wasToken:
		d.version++
	}
	d.reachable, d.holder, d.reason = reachable, holder, reason
	d.wasHeld, d.wasToken = d.held, d.token
}

// status returns the status. It must be called with mu held.
func (d *Driver) status() Status {
	return Status{
		Held:      d.held,
		Token:     d.token,
		Until:     d.until,
		Reachable: d.reachable,
		Holder:    d.holder,
		Reason:    d.reason,
		Since:     d.since,
	}
}

// notify delivers the latest status to OnChange and the log if it changed,
// with no lock held. A call made while another is delivering (from
// OnChange itself, or another goroutine) leaves the delivery to it.
func (d *Driver) notify() {
	d.mu.Lock()
	if d.delivering {
		d.mu.Unlock()
		return
	}
	d.delivering = true
	for d.delivered != d.version {
		d.delivered = d.version
		s := d.status()
		d.mu.Unlock()
		d.log(s)
		if d.cfg.OnChange != nil {
			d.cfg.OnChange(s)
		}
		d.mu.Lock()
	}
	d.delivering = false
	d.mu.Unlock()
}

func (d *Driver) log(s Status) {
	level := slog.LevelInfo
	if !s.Reachable {
		level = slog.LevelWarn
	}
	d.cfg.Logger.Log(context.Background(), level, "witness: "+s.Reason,
		"held", s.Held, "token", s.Token, "reachable", s.Reachable, "holder", s.Holder)
}
