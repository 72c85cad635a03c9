package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSimOrdersByTimeThenSchedule(t *testing.T) {
	s := NewSim(time.Time{})
	var got []string
	rec := func(name string) func() { return func() { got = append(got, name) } }
	s.AfterFunc(30*time.Millisecond, rec("c"))
	s.AfterFunc(10*time.Millisecond, rec("a1"))
	s.AfterFunc(10*time.Millisecond, rec("a2"))
	s.AfterFunc(20*time.Millisecond, func() {
		got = append(got, "b")
		// Scheduled from a callback, due at the same instant as "c" but later.
		s.AfterFunc(10*time.Millisecond, rec("c2"))
		// Zero delay runs after everything already due now.
		s.AfterFunc(0, rec("b2"))
	})
	s.RunFor(time.Second)
	require.Equal(t, []string{"a1", "a2", "b", "b2", "c", "c2"}, got)
	require.Equal(t, Epoch.Add(time.Second), s.Now())
}

func TestSimRunUntilStopsAtBoundary(t *testing.T) {
	s := NewSim(time.Time{})
	var at []time.Duration
	var tick func()
	tick = func() {
		at = append(at, s.Since(Epoch))
		s.AfterFunc(100*time.Millisecond, tick)
	}
	s.AfterFunc(100*time.Millisecond, tick)
	s.RunFor(350 * time.Millisecond)
	require.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}, at)
	require.Equal(t, 350*time.Millisecond, s.Since(Epoch))
	next, ok := s.Next()
	require.True(t, ok)
	require.Equal(t, Epoch.Add(400*time.Millisecond), next)
	require.Equal(t, 1, s.Pending())
}

func TestSimStop(t *testing.T) {
	s := NewSim(time.Time{})
	fired := false
	stop := s.AfterFunc(time.Millisecond, func() { fired = true })
	require.True(t, stop())
	require.False(t, stop(), "second stop reports nothing prevented")
	s.RunFor(time.Second)
	require.False(t, fired)
	stop2 := s.AfterFunc(time.Millisecond, func() {})
	require.True(t, s.Step())
	require.False(t, stop2(), "stop after firing reports false")
	require.False(t, s.Step(), "nothing left")
}
