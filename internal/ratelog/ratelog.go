// Package ratelog spaces out log lines that repeat: the first line of a
// kind is written, then at most one every interval, each telling how many
// like it were held back since the one before.
package ratelog

import (
	"sync"
	"time"
)

// Limiter decides which lines of each key are written. Its methods are
// safe for concurrent use.
type Limiter struct {
	every   time.Duration
	maxKeys int
	mu      sync.Mutex
	keys    map[any]*entry
}

type entry struct {
	last time.Time
	held uint64
}

// New returns a Limiter that writes one line of a key every every, and
// remembers at most maxKeys keys (then it forgets them all: the next line
// of each is written).
func New(every time.Duration, maxKeys int) *Limiter {
	return &Limiter{every: every, maxKeys: max(maxKeys, 1), keys: map[any]*entry{}}
}

// Allow reports whether a line of key may be written at now and, if so,
// how many lines of key were held back since the last one written.
func (l *Limiter) Allow(now time.Time, key any) (ok bool, held uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= l.maxKeys {
			clear(l.keys)
		}
		l.keys[key] = &entry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < l.every {
		e.held++
		return false, 0
	}
	held, e.held, e.last = e.held, 0, now
	return true, held
}
