// Package clock is a simulated clock for the drivers of hakit's protocol
// cores: a deterministic discrete-event scheduler over virtual time that
// implements hakit.Clock (the real clock is hakit.RealClock).
package clock

import (
	"container/heap"
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// Epoch is the virtual time at which a Sim created with a zero start begins:
// 2000-01-01 00:00:00 UTC, so that timelines read as offsets from a round
// instant.
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var _ hakit.Clock = (*Sim)(nil)

// Sim is a simulated clock: a discrete-event scheduler over virtual time.
// Time stands still until Step, RunFor or RunUntil advance it; each runs the
// due callbacks in order of their due time, and callbacks due at the same
// instant in the order they were scheduled. Callbacks run on the goroutine
// that advances the clock and may schedule further callbacks. The methods are
// safe for concurrent use.
type Sim struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	events eventHeap
}

// NewSim returns a simulated clock reading start, or Epoch if start is zero.
func NewSim(start time.Time) *Sim {
	if start.IsZero() {
		start = Epoch
	}
	return &Sim{now: start}
}

// Now returns the current virtual time.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Since returns the virtual time elapsed since t.
func (s *Sim) Since(t time.Time) time.Duration { return s.Now().Sub(t) }

// AfterFunc schedules f at Now()+d (a negative d counts as zero) and returns
// a function that cancels it.
func (s *Sim) AfterFunc(d time.Duration, f func()) func() bool {
	if d < 0 {
		d = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	e := &event{at: s.now.Add(d), seq: s.seq, f: f, index: -1}
	heap.Push(&s.events, e)
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if e.index < 0 {
			return false
		}
		heap.Remove(&s.events, e.index)
		return true
	}
}

// Pending returns the number of scheduled callbacks.
func (s *Sim) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// Next returns the due time of the earliest scheduled callback.
func (s *Sim) Next() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return time.Time{}, false
	}
	return s.events[0].at, true
}

// Step advances virtual time to the earliest scheduled callback and runs it.
// It reports false, leaving time unchanged, when nothing is scheduled.
func (s *Sim) Step() bool {
	s.mu.Lock()
	if len(s.events) == 0 {
		s.mu.Unlock()
		return false
	}
	e := heap.Pop(&s.events).(*event)
	if e.at.After(s.now) {
		s.now = e.at
	}
	s.mu.Unlock()
	e.f()
	return true
}

// RunUntil runs, in order, every callback due at or before t (including the
// ones those callbacks schedule), then sets the time to t if it is later.
func (s *Sim) RunUntil(t time.Time) {
	for {
		s.mu.Lock()
		if len(s.events) == 0 || s.events[0].at.After(t) {
			if t.After(s.now) {
				s.now = t
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.Step()
	}
}

// RunFor is RunUntil(Now().Add(d)).
func (s *Sim) RunFor(d time.Duration) { s.RunUntil(s.Now().Add(d)) }

type event struct {
	at    time.Time
	seq   uint64
	f     func()
	index int
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *eventHeap) Push(x any) {
	e := x.(*event)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}
