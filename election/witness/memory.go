package witness

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// Memory is a lease arbiter in memory, for tests and simulations of code
// that uses a Witness: each unit gets a Store with Store(unit), and the
// test can make the arbiter unreachable, for everyone or for one unit, and
// end a lease early. Tokens count tenures from 1. It is safe for concurrent
// use.
type Memory struct {
	clk hakit.Clock

	mu     sync.Mutex
	holder uint16 // 0: free
	tenure uint64 // the current tenure's token
	expiry time.Time
	last   uint64 // the last token given out
	down   bool
	cutOff map[uint16]bool
}

// ErrUnreachable is returned by the Stores of a Memory that the test made
// unreachable.
var ErrUnreachable = errors.New("witness: memory arbiter unreachable")

// NewMemory returns a Memory that keeps time with clk (nil means the real
// clock, which inside a testing/synctest bubble is the bubble's).
func NewMemory(clk hakit.Clock) *Memory {
	if clk == nil {
		clk = hakit.RealClock()
	}
	return &Memory{clk: clk, cutOff: make(map[uint16]bool)}
}

// Store returns unit's handle on the arbiter.
func (m *Memory) Store(unit uint16) Store { return &memoryStore{m: m, unit: unit} }

// SetDown makes the arbiter unreachable for every unit (true) or reachable
// again. Leases keep expiring while it is down, as they would not on etcd
// (which extends every lease when it restarts): a test of the rule wants
// the strict case.
func (m *Memory) SetDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

// SetReachable makes the arbiter unreachable for unit alone (false), or
// reachable again.
func (m *Memory) SetReachable(unit uint16, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cutOff[unit] = !ok
}

// Expire ends the current lease now, as if its TTL had run out: the
// holder's Driver learns it at its next renewal, and meanwhile still
// reports Held. That is the stale holder fencing tokens guard against (a
// holder paused between checking Held and writing).
func (m *Memory) Expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holder = 0
}

// Holder returns the unit holding the lease now and its token (0, 0 when
// the lease is free).
func (m *Memory) Holder() (unit uint16, token uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lapse(m.clk.Now())
	if m.holder == 0 {
		return 0, 0
	}
	return m.holder, m.tenure
}

// lapse frees the lease if it has expired. It must be called with mu held.
func (m *Memory) lapse(now time.Time) {
	if m.holder != 0 && !now.Before(m.expiry) {
		m.holder = 0
	}
}

func (m *Memory) lease(tenure uint64) Lease {
	if m.holder == 0 {
		return Lease{}
	}
	return Lease{
		Mine:     tenure != 0 && tenure == m.tenure,
		Holder:   m.holder,
		Identity: strconv.Itoa(int(m.holder)),
		Token:    m.tenure,
	}
}

type memoryStore struct {
	m      *Memory
	unit   uint16
	tenure uint64 // this unit's current tenure, 0 for none
}

// enter checks that the arbiter is reachable for s and locks it.
func (s *memoryStore) enter(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	s.m.mu.Lock()
	if s.m.down || s.m.cutOff[s.unit] {
		s.m.mu.Unlock()
		return time.Time{}, ErrUnreachable
	}
	now := s.m.clk.Now()
	s.m.lapse(now)
	return now, nil
}

func (s *memoryStore) Acquire(ctx context.Context, ttl time.Duration) (Lease, error) {
	now, err := s.enter(ctx)
	if err != nil {
		return Lease{}, err
	}
	defer s.m.mu.Unlock()
	m := s.m
	switch {
	case m.holder == 0:
		m.last++
		m.holder, m.tenure, m.expiry = s.unit, m.last, now.Add(ttl)
		s.tenure = m.tenure
	case s.tenure != 0 && m.tenure == s.tenure:
		m.expiry = now.Add(ttl)
	}
	return m.lease(s.tenure), nil
}

func (s *memoryStore) Renew(ctx context.Context, ttl time.Duration) (Lease, error) {
	now, err := s.enter(ctx)
	if err != nil {
		return Lease{}, err
	}
	defer s.m.mu.Unlock()
	m := s.m
	if s.tenure == 0 || m.holder == 0 || m.tenure != s.tenure {
		lost := s.tenure
		s.tenure = 0
		return m.lease(0), fmt.Errorf("witness: memory: tenure %d of unit %d ended at the arbiter: %w", lost, s.unit, ErrLost)
	}
	m.expiry = now.Add(ttl)
	return m.lease(s.tenure), nil
}

func (s *memoryStore) Release(ctx context.Context) error {
	if _, err := s.enter(ctx); err != nil {
		return err
	}
	defer s.m.mu.Unlock()
	if s.tenure != 0 && s.m.holder != 0 && s.m.tenure == s.tenure {
		s.m.holder = 0
	}
	s.tenure = 0
	return nil
}
