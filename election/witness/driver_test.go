package witness_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/witness"
)

// testConfig: a 2 s lease renewed every 250 ms, given up 500 ms before it
// can expire.
func testConfig() *witness.Config {
	return &witness.Config{TTL: 2 * time.Second, Interval: 250 * time.Millisecond, Margin: 500 * time.Millisecond}
}

func newUnit(t *testing.T, m *witness.Memory, unit uint16, cfg *witness.Config) *witness.Driver {
	t.Helper()
	d, err := witness.New(m.Store(unit), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// settle lets the Drivers' timers and goroutines run for dt of virtual time.
func settle(dt time.Duration) {
	time.Sleep(dt)
	synctest.Wait()
}

func TestOneHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		a, b := newUnit(t, m, 1, testConfig()), newUnit(t, m, 2, testConfig())
		ctx := context.Background()

		s, err := a.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, s.Held)
		require.Equal(t, uint64(1), s.Token)
		require.Equal(t, uint16(1), s.Holder)
		require.Equal(t, "holding the lease (token 1)", s.Reason)

		s, err = b.Acquire(ctx)
		require.NoError(t, err)
		require.False(t, s.Held)
		require.True(t, s.Reachable)
		require.Equal(t, uint16(1), s.Holder)
		require.Equal(t, "lease held by unit 1 (token 1)", s.Reason)

		// A minute of renewals changes nothing.
		for range 240 {
			settle(250 * time.Millisecond)
			require.True(t, a.Status().Held)
			require.False(t, b.Status().Held)
		}
		require.GreaterOrEqual(t, a.Counters().Renewals, uint64(230))
		require.Equal(t, uint64(1), a.Counters().Acquired)

		// A hands over: B takes the lease at its next attempt, with a
		// larger token.
		require.NoError(t, a.Release(ctx))
		require.False(t, a.Status().Held)
		require.Equal(t, "released the lease (token 1)", a.Status().Reason)
		settle(250 * time.Millisecond)
		s = b.Status()
		require.True(t, s.Held)
		require.Equal(t, uint64(2), s.Token)
		require.Equal(t, uint16(2), s.Holder)
	})
}

// The arbiter goes down under the holder: Reachable turns false at the
// first unanswered call, Held stays true until exactly Until (the start of
// the last confirmed renewal + TTL − Margin), then turns false; when the
// arbiter is back the lease is taken again with a new, larger token.
func TestArbiterDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		a := newUnit(t, m, 1, testConfig())
		ctx := context.Background()
		_, err := a.Acquire(ctx)
		require.NoError(t, err)
		settle(time.Second)

		m.SetDown(true)
		down := time.Now()
		last := a.Status().Until.Add(-1500 * time.Millisecond) // start of the last renewal
		require.False(t, last.After(down))
		settle(250 * time.Millisecond)
		s := a.Status()
		require.False(t, s.Reachable)
		require.True(t, s.Held, s.Reason)
		require.Contains(t, s.Reason, "witness unreachable: "+witness.ErrUnreachable.Error())
		require.Contains(t, s.Reason, "holding the lease until")
		until := s.Until
		require.Equal(t, last.Add(1500*time.Millisecond), until)

		// Held until the bound, not an instant longer.
		time.Sleep(time.Until(until) - time.Nanosecond)
		require.True(t, a.Status().Held)
		time.Sleep(time.Nanosecond)
		s = a.Status()
		require.False(t, s.Held)
		require.Contains(t, s.Reason, "lease given up (token 1): no renewal confirmed since", "whether or not a release was tried since")
		require.Equal(t, uint64(1), a.Counters().Expired)
		synctest.Wait()

		settle(5 * time.Second)
		require.False(t, a.Status().Held)
		m.SetDown(false)
		settle(250 * time.Millisecond)
		s = a.Status()
		require.True(t, s.Held, s.Reason)
		require.True(t, s.Reachable)
		require.Equal(t, uint64(2), s.Token, "a tenure that ended is never resumed")
	})
}

// The arbiter goes down for less than the lease allows: nothing changes but
// Reachable.
func TestArbiterBlip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		a := newUnit(t, m, 1, testConfig())
		_, err := a.Acquire(context.Background())
		require.NoError(t, err)
		m.SetDown(true)
		settle(time.Second)
		require.False(t, a.Status().Reachable)
		require.True(t, a.Status().Held)
		m.SetDown(false)
		settle(250 * time.Millisecond)
		s := a.Status()
		require.True(t, s.Reachable)
		require.True(t, s.Held)
		require.Equal(t, uint64(1), s.Token)
		require.Equal(t, "holding the lease (token 1)", s.Reason)
	})
}

// The holder is cut off from the arbiter, the other unit is not: the holder
// gives the lease up at Until, the other takes it no earlier than
// Until + Margin, with a larger token.
func TestStaleHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		a, b := newUnit(t, m, 1, testConfig()), newUnit(t, m, 2, testConfig())
		ctx := context.Background()
		_, err := a.Acquire(ctx)
		require.NoError(t, err)
		_, err = b.Acquire(ctx)
		require.NoError(t, err)
		settle(time.Second)

		m.SetReachable(1, false)
		settle(250 * time.Millisecond)
		until := a.Status().Until
		for !b.Status().Held {
			require.False(t, a.Status().Held && !time.Now().Before(until), "held past its bound")
			settle(10 * time.Millisecond)
		}
		require.False(t, a.Status().Held)
		took := b.Status().Since
		require.False(t, took.Before(until.Add(500*time.Millisecond)), "B took over %v after A gave up", took.Sub(until))
		require.Less(t, took.Sub(until), time.Second)
		require.Greater(t, b.Status().Token, a.Status().Token)

		m.SetReachable(1, true)
		settle(time.Second)
		s := a.Status()
		require.False(t, s.Held)
		require.True(t, s.Reachable)
		require.Equal(t, uint16(2), s.Holder)
		require.Equal(t, "lease held by unit 2 (token 2)", s.Reason)
	})
}

// The arbiter ends the lease behind the holder's back (Memory.Expire):
// the holder still reports Held until its next renewal, which is exactly
// when fencing tokens matter; then it reports the loss.
func TestLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		var reasons []string
		cfg := testConfig()
		cfg.OnChange = func(s witness.Status) { reasons = append(reasons, s.Reason) }
		a, b := newUnit(t, m, 1, cfg), newUnit(t, m, 2, testConfig())
		ctx := context.Background()
		_, err := a.Acquire(ctx)
		require.NoError(t, err)
		m.Expire()
		_, err = b.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, b.Status().Held)
		require.True(t, a.Status().Held, "A has not renewed yet")
		settle(250 * time.Millisecond)
		s := a.Status()
		require.False(t, s.Held)
		require.Equal(t, uint16(2), s.Holder)
		require.Equal(t, "lease held by unit 2 (token 2)", s.Reason)
		require.Equal(t, []string{
			"holding the lease (token 1)",
			"lease lost (token 1): witness: memory: tenure 1 of unit 1 ended at the arbiter: lease lost",
			"lease held by unit 2 (token 2)",
		}, reasons)
		require.Equal(t, uint64(1), a.Counters().Lost)
		require.Equal(t, uint64(1), s.Token, "the token of the last tenure is kept")
		require.Equal(t, uint64(2), b.Status().Token)
	})
}

func TestAcquireUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		m.SetDown(true)
		a := newUnit(t, m, 1, testConfig())
		s, err := a.Acquire(context.Background())
		require.ErrorIs(t, err, witness.ErrUnreachable)
		require.False(t, s.Held)
		require.False(t, s.Reachable)
		// Contending goes on in the background.
		m.SetDown(false)
		settle(250 * time.Millisecond)
		require.True(t, a.Status().Held)
		// A second Acquire returns at once.
		s, err = a.Acquire(context.Background())
		require.NoError(t, err)
		require.True(t, s.Held)
		require.Equal(t, uint64(1), a.Counters().Acquired)
	})
}

func TestCanceledAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		a := newUnit(t, m, 1, testConfig())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := a.Acquire(ctx)
		require.ErrorIs(t, err, context.Canceled)
		settle(250 * time.Millisecond)
		require.True(t, a.Status().Held, "contending goes on")
	})
}

// OnChange runs with no lock held: it may call Status and Release.
func TestOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		var mu sync.Mutex
		var seen []witness.Status
		var d *witness.Driver
		cfg := testConfig()
		cfg.OnChange = func(s witness.Status) {
			mu.Lock()
			seen = append(seen, s)
			mu.Unlock()
			require.Equal(t, s.Held, d.Status().Held)
			if s.Held {
				require.NoError(t, d.Release(context.Background()))
			}
		}
		d = newUnit(t, m, 1, cfg)
		_, err := d.Acquire(context.Background())
		require.NoError(t, err)
		settle(time.Second)
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, seen, 2)
		require.True(t, seen[0].Held)
		require.False(t, seen[1].Held)
		require.Equal(t, "released the lease (token 1)", seen[1].Reason)
		h, _ := m.Holder()
		require.Zero(t, h)
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		d, err := witness.New(m.Store(1), testConfig())
		require.NoError(t, err)
		_, err = d.Acquire(context.Background())
		require.NoError(t, err)
		require.NoError(t, d.Close())
		h, _ := m.Holder()
		require.Zero(t, h, "Close releases")
		_, err = d.Acquire(context.Background())
		require.ErrorIs(t, err, witness.ErrClosed)
		require.ErrorIs(t, d.Release(context.Background()), witness.ErrClosed)
		require.NoError(t, d.Close())
		settle(10 * time.Second)
		require.Equal(t, uint64(1), d.Counters().Attempts)
	})
}

func TestConfig(t *testing.T) {
	require.NoError(t, (*witness.Config)(nil).Validate())
	for _, c := range []witness.Config{
		{TTL: time.Second},
		{TTL: 2500 * time.Millisecond},
		{Interval: -1},
		{Timeout: -1},
		{Margin: -1},
		{TTL: 2 * time.Second, Interval: time.Second, Margin: 500 * time.Millisecond},
	} {
		err := c.Validate()
		require.ErrorIs(t, err, hakit.ErrConfig, "%+v", c)
		_, err = witness.New(witness.NewMemory(nil).Store(1), &c)
		require.ErrorIs(t, err, hakit.ErrConfig)
	}
	_, err := witness.New(nil, nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
}

// Random partitions of a pair from the arbiter, checked at every step: at
// no instant do two units report Held, and tokens only grow.
func TestExclusionSoak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := witness.NewMemory(nil)
		units := []*witness.Driver{newUnit(t, m, 1, testConfig()), newUnit(t, m, 2, testConfig())}
		for _, u := range units {
			_, _ = u.Acquire(context.Background())
		}
		var last uint64
		cut := [3]bool{}
		x := uint32(1)
		for i := range 20000 {
			x = x*1664525 + 1013904223
			if x>>24 < 8 { // about 3% of steps flip one unit's reachability
				u := uint16(1 + (x>>8)%2)
				cut[u] = !cut[u]
				m.SetReachable(u, !cut[u])
			}
			settle(50 * time.Millisecond)
			held := 0
			for _, u := range units {
				if s := u.Status(); s.Held {
					held++
					require.GreaterOrEqual(t, s.Token, last, "step %d", i)
					last = s.Token
				}
			}
			require.LessOrEqual(t, held, 1, "step %d", i)
		}
		require.Greater(t, last, uint64(10), "the lease changed hands")
	})
}
