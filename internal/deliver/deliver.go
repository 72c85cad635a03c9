// Package deliver calls a driver's callbacks the way every hakit driver
// promises: in order, one at a time, with no lock of the driver held, so
// that a callback may call any method of the driver, Close included.
//
// The calls run in callbacks of the driver's clock: on the real clock each
// batch in a goroutine of its own (time.AfterFunc), on a simulated clock in
// the goroutine that advances it, at the instant the values were pushed, so
// that a simulation on push-style transports stays deterministic.
package deliver

import (
	"sync"

	"github.com/hakit/hakit"
)

// Queue hands each value pushed to a function, in order, one at a time, in
// callbacks of its clock. Its methods are safe for concurrent use.
type Queue[T any] struct {
	clk hakit.Clock
	f   func(T)

	mu        sync.Mutex
	items     []T
	closed    bool
	scheduled bool // a drain is scheduled or running
}

// New returns a Queue calling f in callbacks of clk (nil: the real clock).
func New[T any](clk hakit.Clock, f func(T)) *Queue[T] {
	if clk == nil {
		clk = hakit.RealClock()
	}
	return &Queue[T]{clk: clk, f: f}
}

// Push queues vs, after everything pushed before. After Close it does
// nothing.
func (q *Queue[T]) Push(vs ...T) {
	if len(vs) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.items = append(q.items, vs...)
	if !q.scheduled {
		q.scheduled = true
		q.clk.AfterFunc(0, q.drain)
	}
}

// drain calls f with every value queued, then ends.
func (q *Queue[T]) drain() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) > 0 && !q.closed {
		v := q.items[0]
		var zero T
		q.items[0] = zero
		q.items = q.items[1:]
		q.mu.Unlock()
		q.f(v)
		q.mu.Lock()
	}
	q.scheduled = false
}

// Close drops what is queued: no call starts after Close returns (a call
// running at that moment, on another goroutine or the caller's own, ends
// in its own time). It is idempotent and never blocks on a call, so the
// function itself may call it.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.items = nil
}
