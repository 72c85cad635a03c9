// Package deliver calls a driver's callbacks the way every hakit driver
// promises: in order, one at a time, from a goroutine of its own, with no
// lock of the driver held, so that a callback may call any method of the
// driver, Close included.
package deliver

import "sync"

// Queue hands each value pushed to a function, in order, on the queue's own
// goroutine. Its methods are safe for concurrent use.
type Queue[T any] struct {
	f    func(T)
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	items  []T
	closed bool
	inCall bool
}

// New starts a Queue calling f.
func New[T any](f func(T)) *Queue[T] {
	q := &Queue[T]{f: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// Push queues vs, after everything pushed before. After Close it does
// nothing.
func (q *Queue[T]) Push(vs ...T) {
	if len(vs) == 0 {
		return
	}
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, vs...)
	}
	q.mu.Unlock()
	q.poke()
}

func (q *Queue[T]) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue[T]) run() {
	defer close(q.done)
	var batch []T
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !q.closed {
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		batch, q.items = q.items, batch[:0]
		q.mu.Unlock()
		for _, v := range batch {
			q.mu.Lock()
			if q.closed {
				q.mu.Unlock()
				return
			}
			q.inCall = true
			q.mu.Unlock()
			q.f(v)
			q.mu.Lock()
			q.inCall = false
			q.mu.Unlock()
		}
		clear(batch)
	}
}

// Close drops what is queued: no call starts after Close returns. It waits
// for the goroutine to end, unless a call is running (Close may be called
// from the function itself: it then returns at once, and the goroutine ends
// when that call returns). It is idempotent.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	already, inCall := q.closed, q.inCall
	q.closed = true
	q.items = nil
	q.mu.Unlock()
	q.poke()
	if !already && !inCall {
		<-q.done
	}
}
