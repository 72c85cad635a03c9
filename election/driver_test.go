package election

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/clock"
)

// TestDriver runs two Drivers on the real clock inside a synctest bubble,
// wired by channels, as a caller would wire them to heartbeats.
func TestDriver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		done := make(chan struct{})
		stop := sync.OnceFunc(func() { close(done); wg.Wait() })
		defer stop() // also when a require fails, so the bubble can end
		wires := [2]chan []byte{make(chan []byte, 64), make(chan []byte, 64)}
		var ds [2]*Driver
		var mu sync.Mutex
		changes := map[uint16][]Output{}
		for i := range ds {
			unit := uint16(i + 1)
			out := wires[i]
			d, err := NewDriver(unitConfig(unit), func(o Output) {
				if o.Changed {
					mu.Lock()
					changes[unit] = append(changes[unit], o)
					mu.Unlock()
				}
				if o.Send {
					out <- ds[unit-1].AppendCandidate(nil)
				}
			})
			require.NoError(t, err)
			ds[i] = d
		}
		for i, d := range ds {
			d.Local(Status{Monitored: 1, InSync: true})
			d.Start()
			wg.Add(2)
			go func() { // periodic heartbeats
				defer wg.Done()
				tk := time.NewTicker(100 * time.Millisecond)
				defer tk.Stop()
				for {
					select {
					case <-done:
						return
					case <-tk.C:
						wires[i] <- d.AppendCandidate(nil)
					}
				}
			}()
			go func() { // delivery to the other unit
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					case b := <-wires[i]:
						require.NoError(t, ds[1-i].ObserveBinary(b))
					}
				}
			}()
		}
		time.Sleep(2 * time.Second)
		require.Equal(t, hakit.Primary, ds[0].Role())
		require.Equal(t, hakit.Secondary, ds[1].Role())
		ds[0].Handover()
		time.Sleep(time.Second)
		require.Equal(t, hakit.Secondary, ds[0].Role())
		require.Equal(t, hakit.Primary, ds[1].Role())
		require.Equal(t, uint64(1), ds[0].Counters().Handovers)
		time.Sleep(time.Second) // the old primary names its successor for HandoverTimeout
		require.Equal(t, Candidate{Unit: 1, Role: hakit.Secondary, Priority: 128, Monitored: 1, InSync: true,
			Age: 4 * time.Second, Tenure: ds[0].Candidate().Tenure, Maintenance: true}, ds[0].Candidate())
		stop()
		for _, d := range ds {
			d.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, changes[1], 2)
		require.Len(t, changes[2], 2)
	})
}

func TestDriverRejectsBadConfig(t *testing.T) {
	_, err := NewDriver(&Config{}, nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
}

func BenchmarkTick8(b *testing.B) {
	now := time.Unix(0, 0)
	m, err := New(now, unitConfig(1))
	require.NoError(b, err)
	m.Local(now, Status{Monitored: 2, InSync: true})
	for u := uint16(2); u <= 8; u++ {
		require.NoError(b, m.Observe(now, Candidate{Unit: u, Role: hakit.Secondary, Priority: 128, Monitored: 2, InSync: true}))
	}
	now = now.Add(time.Second)
	m.Tick(now)
	enc, _ := Candidate{Unit: 2, Role: hakit.Secondary, Priority: 128, Monitored: 2, InSync: true}.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(100 * time.Millisecond)
		_ = m.ObserveBinary(now, enc)
		m.Tick(now)
	}
}

// TestDriverHandlerMayCallEveryMethod: the handler runs with no lock of the
// Driver held, so it may call every method, the inputs and Close included.
// It runs on the real clock so that a deadlock fails instead of hanging.
func TestDriverHandlerMayCallEveryMethod(t *testing.T) {
	calls := make(chan Output, 100)
	var d *Driver
	var err error
	d, err = NewDriver(&Config{Unit: 1, Interval: 10 * time.Millisecond, DetectTime: 20 * time.Millisecond}, func(o Output) {
		d.Local(Status{Monitored: 1, InSync: true})
		d.Witness(true)
		_ = d.Verdict(Verdict{Kind: LocalRecovered, Interface: "eth0"})
		d.PeerLost(9)
		_ = d.ObserveBinary([]byte("not a candidate"))
		_ = d.AppendCandidate(nil)
		_ = d.Candidate()
		_ = d.Role()
		_ = d.Counters()
		d.Resume(false)
		if o.Changed && o.Role == hakit.Primary {
			d.Handover() // an input from the handler: its Output comes after
			d.Close()
		}
		calls <- o
	})
	require.NoError(t, err)
	d.Start()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case o := <-calls:
			if o.Changed && o.Role == hakit.Primary {
				require.Equal(t, hakit.Primary, d.Role())
				d.PeerLost(2) // closed: ignored, returns
				return
			}
		case <-deadline:
			t.Fatal("the Driver is stuck: a handler call deadlocked it")
		}
	}
}

// TestMachineWitness: a unit whose witness fails does not become primary,
// and does when it answers again.
func TestMachineWitness(t *testing.T) {
	now := clock.Epoch
	m, err := New(now, unitConfig(1))
	require.NoError(t, err)
	m.Local(now, Status{Monitored: 1, InSync: true})
	m.Witness(now, false)
	for range 20 {
		now = now.Add(100 * time.Millisecond)
		m.Tick(now)
	}
	require.Equal(t, hakit.Secondary, m.Role(), "alone, but its witness is unreachable")
	require.True(t, m.Candidate(now).Degraded)
	require.Equal(t, uint64(1), m.Counters().WitnessVetoes)
	m.Witness(now, true)
	require.Equal(t, hakit.Primary, m.Tick(now).Role)
}

// TestMachineStandDown: a lone primary told to stand down does so with the
// reason given, and, its witness failing, stays secondary; a secondary
// ignores it.
func TestMachineStandDown(t *testing.T) {
	now := clock.Epoch
	m, err := New(now, unitConfig(1))
	require.NoError(t, err)
	m.Local(now, Status{Monitored: 1, InSync: true})
	for m.Role() != hakit.Primary {
		now = now.Add(100 * time.Millisecond)
		m.Tick(now)
	}
	m.StandDown(now, CauseWitness, "lease lapsed")
	m.Witness(now, false)
	out := m.Tick(now)
	require.True(t, out.Changed)
	require.Equal(t, hakit.Secondary, out.Role)
	require.Equal(t, "lease lapsed", out.Reason)
	require.Equal(t, CauseWitness, out.Cause)
	for range 10 {
		now = now.Add(100 * time.Millisecond)
		require.Equal(t, hakit.Secondary, m.Tick(now).Role)
	}
	m.StandDown(now, 0, "ignored")
	m.Witness(now, true)
	out = m.Tick(now)
	require.Equal(t, hakit.Primary, out.Role)
	require.NotEqual(t, "ignored", out.Reason)
}
