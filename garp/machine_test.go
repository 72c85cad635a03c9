package garp

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

var t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

type sent struct {
	At    time.Duration // since t0
	Iface string
	Key   string
	Pass  int
	Frame int
}

func (s sent) String() string {
	return fmt.Sprintf("%v %s/%s pass %d frame %d", s.At, s.Iface, s.Key, s.Pass, s.Frame)
}

func frames(n int) [][]byte {
	fs := make([][]byte, n)
	for i := range fs {
		fs[i] = []byte{byte(i), byte(i >> 8)}
	}
	return fs
}

// drive runs c as a driver would, from now until the next wake-up is after
// until, and returns what it sent.
func drive(t *testing.T, c *Machine, now time.Time, until time.Duration) []sent {
	t.Helper()
	var log []sent
	var out []Send
	for {
		var next time.Time
		out, next = c.Tick(now, out[:0])
		for _, s := range out {
			log = append(log, sent{now.Sub(t0), s.Interface, s.Key, s.Pass, int(s.Frame[0]) | int(s.Frame[1])<<8})
		}
		if next.IsZero() || next.Sub(t0) > until {
			return log
		}
		require.True(t, next.After(now), "next %v not after now %v", next, now)
		now = next
	}
}

func newMachine(t *testing.T, s Schedule) *Machine {
	t.Helper()
	c, err := NewMachine(s)
	require.NoError(t, err)
	return c
}

func passTimes(log []sent) []time.Duration {
	var ts []time.Duration
	for _, s := range log {
		if s.Frame == 0 {
			ts = append(ts, s.At)
		}
	}
	return ts
}

func TestMachineDefaultTimeline(t *testing.T) {
	c := newMachine(t, DefaultSchedule())
	c.Start(t0, "eth0", "m", frames(2))
	log := drive(t, c, t0, 200*time.Second)
	ms := time.Millisecond
	require.Equal(t, []time.Duration{
		0, 10 * ms, 20 * ms, 30 * ms, 40 * ms, // takeover burst
		5000 * ms, 5010 * ms, 5020 * ms, 5030 * ms, 5040 * ms, // second burst
		65 * time.Second, 125 * time.Second, 185 * time.Second, // refresh
	}, passTimes(log))
	for i, s := range log {
		require.Equal(t, i/2, s.Pass)
		require.Equal(t, i%2, s.Frame)
		require.Equal(t, "eth0", s.Iface)
	}
}

func TestMachineShapes(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		s     Schedule
		until time.Duration
		want  []time.Duration
	}{
		{"one shot", Schedule{Burst: 1, Rate: 1000, RateBurst: 10}, time.Hour, []time.Duration{0}},
		{"back to back", Schedule{Burst: 3, Rate: 1000, RateBurst: 10}, time.Hour, []time.Duration{0, 0, 0}},
		{"no second burst, refresh", Schedule{Burst: 2, Spacing: ms, Refresh: time.Second, Rate: 1000, RateBurst: 10},
			3 * time.Second, []time.Duration{0, ms, time.Second, 2 * time.Second, 3 * time.Second}},
		{"second burst, no refresh", Schedule{Burst: 1, Repeat: 2, Delay: time.Second, Spacing: 5 * ms, Rate: 1000, RateBurst: 10},
			time.Hour, []time.Duration{0, time.Second, time.Second + 5*ms}},
		{"refresh shorter than burst", Schedule{Burst: 3, Spacing: 10 * ms, Refresh: 5 * ms, Rate: 1000, RateBurst: 10},
			25 * ms, []time.Duration{0, 10 * ms, 20 * ms, 20 * ms, 25 * ms}}, // missed refreshes collapse into one
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newMachine(t, tt.s)
			c.Start(t0, "eth0", "m", frames(2))
			require.Equal(t, tt.want, passTimes(drive(t, c, t0, tt.until)))
		})
	}
}

func TestMachineRateLimit(t *testing.T) {
	s := DefaultSchedule()
	s.Rate, s.RateBurst = 1000, 256
	c := newMachine(t, s)
	c.Start(t0, "eth0", "vips", frames(256))
	log := drive(t, c, t0, 2*time.Second)
	require.Len(t, log, 256*5)

	// The first pass leaves at once, on the bucket's depth.
	for _, x := range log[:256] {
		require.Zero(t, x.At)
		require.Zero(t, x.Pass)
	}
	// Then at most Rate per second: 10 tokens accrued by the second pass's
	// due time at 10 ms, one per millisecond after.
	require.Equal(t, 10*time.Millisecond, log[256].At)
	require.Equal(t, 10*time.Millisecond, log[265].At)
	require.Equal(t, 11*time.Millisecond, log[266].At)
	last := log[len(log)-1]
	require.Equal(t, 4, last.Pass)
	require.Equal(t, 255, last.Frame)
	require.Equal(t, (1280-256)*time.Millisecond, last.At)

	checkRate(t, log, s)
}

// checkRate checks the bucket's promise on a log: per interface, any n
// frames sent within a time w satisfy n <= RateBurst + w*Rate.
func checkRate(t *testing.T, log []sent, s Schedule) {
	t.Helper()
	per := map[string][]time.Duration{}
	for _, x := range log {
		per[x.Iface] = append(per[x.Iface], x.At)
	}
	period := time.Second / time.Duration(s.Rate)
	for iface, ts := range per {
		for i := range ts {
			for j := i + s.RateBurst; j < len(ts); j++ {
				n := j - i + 1
				if ts[j]-ts[i] < time.Duration(n-s.RateBurst)*period {
					t.Fatalf("%s: %d frames between %v and %v", iface, n, ts[i], ts[j])
				}
			}
		}
	}
}

func TestMachineSharesBucketPerInterface(t *testing.T) {
	s := Schedule{Burst: 2, Spacing: 0, Rate: 100, RateBurst: 2}
	c := newMachine(t, s)
	c.Start(t0, "eth0", "a", frames(2))
	c.Start(t0, "eth0", "b", frames(2))
	c.Start(t0, "eth1", "c", frames(2))
	log := drive(t, c, t0, time.Minute)
	ms := time.Millisecond
	want := []sent{
		{0, "eth0", "a", 0, 0}, {0, "eth0", "a", 0, 1},
		{0, "eth1", "c", 0, 0}, {0, "eth1", "c", 0, 1},
		// eth0 waits for tokens, 10 ms each, and serves first passes
		// before repeats: b's first pass before a's second.
		{10 * ms, "eth0", "b", 0, 0},
		{10 * ms, "eth1", "c", 1, 0},
		{20 * ms, "eth0", "b", 0, 1},
		{20 * ms, "eth1", "c", 1, 1},
		{30 * ms, "eth0", "a", 1, 0}, {40 * ms, "eth0", "a", 1, 1},
		{50 * ms, "eth0", "b", 1, 0}, {60 * ms, "eth0", "b", 1, 1},
	}
	require.Equal(t, want, log)
}

func TestMachineStopAndRestart(t *testing.T) {
	c := newMachine(t, DefaultSchedule())
	c.Start(t0, "eth0", "m", frames(1))
	log := drive(t, c, t0, 15*time.Millisecond)
	require.Len(t, log, 2)
	require.True(t, c.Running("eth0", "m"))

	// Demotion: nothing more, and nothing scheduled.
	require.True(t, c.Stop("eth0", "m"))
	require.False(t, c.Stop("eth0", "m"))
	require.False(t, c.Running("eth0", "m"))
	require.Zero(t, c.Interfaces())
	out, next := c.Tick(t0.Add(time.Hour), nil)
	require.Empty(t, out)
	require.True(t, next.IsZero())

	// A new takeover starts from pass 0 again; restarting a running move
	// resets it.
	at := t0.Add(time.Minute)
	c.Start(at, "eth0", "m", frames(1))
	c.Start(at.Add(time.Millisecond), "eth0", "m", frames(1))
	log = drive(t, c, at.Add(time.Millisecond), time.Minute+25*time.Millisecond)
	require.Equal(t, []time.Duration{time.Minute + time.Millisecond, time.Minute + 11*time.Millisecond, time.Minute + 21*time.Millisecond}, passTimes(log))

	c.StopAll()
	require.Zero(t, c.Interfaces())
	c.Start(at, "eth0", "empty", nil)
	require.False(t, c.Running("eth0", "empty"))
}

func TestScheduleValidate(t *testing.T) {
	require.NoError(t, DefaultSchedule().Validate())
	for name, f := range map[string]func(*Schedule){
		"burst":     func(s *Schedule) { s.Burst = 0 },
		"spacing":   func(s *Schedule) { s.Spacing = -1 },
		"repeat":    func(s *Schedule) { s.Repeat = -1 },
		"delay":     func(s *Schedule) { s.Delay = -1 },
		"refresh":   func(s *Schedule) { s.Refresh = -1 },
		"rate":      func(s *Schedule) { s.Rate = 0 },
		"rate high": func(s *Schedule) { s.Rate = 2e9 },
		"rateburst": func(s *Schedule) { s.RateBurst = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			s := DefaultSchedule()
			f(&s)
			_, err := NewMachine(s)
			require.ErrorIs(t, err, hakit.ErrConfig)
		})
	}
}
