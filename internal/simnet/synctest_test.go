package simnet_test

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
)

// These tests run on the real clock inside testing/synctest bubbles, where
// time is virtual and exact, with blocking ReadFrom instead of handlers.

func read(t *testing.T, p *simnet.Port) (seq uint32, src net.HardwareAddr) {
	t.Helper()
	buf := make([]byte, 1600)
	n, addr, err := p.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, simnet.HeaderLen+4, n)
	pa, ok := addr.(*packet.Addr)
	require.True(t, ok, "addr is a *packet.Addr, got %T", addr)
	return seqOf(buf[:n]), pa.HardwareAddr
}

func requireTimeout(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
}

func TestBubbleReadFrom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seg := simnet.New(nil)
		a := seg.Attach("a", macA)
		b := seg.Attach("b", macB)
		c := seg.Attach("c", macC)
		require.Equal(t, &packet.Addr{HardwareAddr: macA}, a.LocalAddr())

		write(t, a, frame(bcast, macA, 1))
		seq, src := read(t, b)
		require.Equal(t, uint32(1), seq)
		require.Equal(t, macA, src)
		seq, _ = read(t, c)
		require.Equal(t, uint32(1), seq)

		// Known unicast reaches b only; in order.
		for i := range uint32(100) {
			write(t, a, frame(macB, macA, 10+i))
		}
		for i := range uint32(100) {
			seq, _ := read(t, b)
			require.Equal(t, 10+i, seq)
		}
		require.NoError(t, c.SetReadDeadline(time.Now()))
		_, _, err := c.ReadFrom(make([]byte, 100))
		requireTimeout(t, err)

		// A short buffer gets the start of the frame.
		write(t, a, frame(macB, macA, 2))
		buf := make([]byte, 8)
		n, _, err := b.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, 8, n)
		require.Equal(t, []byte(macB), buf[:6])
	})
}

func TestBubbleLatencyAndReorder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seg := simnet.New(&simnet.Config{Seed: 3})
		a := seg.Attach("a", macA)
		b := seg.Attach("b", macB)
		a.SetLatency(4 * time.Millisecond)
		b.SetLatency(1 * time.Millisecond)
		start := time.Now()
		write(t, a, frame(macB, macA, 1))
		read(t, b)
		require.Equal(t, 5*time.Millisecond, time.Since(start))

		// Every frame delayed by 10ms more with probability 1/2: the
		// delayed ones arrive after the others.
		a.SetReorder(0.5, 10*time.Millisecond)
		start = time.Now()
		for i := range uint32(20) {
			write(t, a, frame(macB, macA, i))
		}
		var got []uint32
		var at []time.Duration
		for range 20 {
			seq, _ := read(t, b)
			got = append(got, seq)
			at = append(at, time.Since(start))
		}
		require.ElementsMatch(t, []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, got)
		require.NotEqual(t, []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, got)
		for _, d := range at {
			require.Contains(t, []time.Duration{5 * time.Millisecond, 15 * time.Millisecond}, d)
		}
	})
}

func TestBubbleDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seg := simnet.New(nil)
		a := seg.Attach("a", macA)
		b := seg.Attach("b", macB)

		// A deadline in the past fails at once, even with frames queued.
		write(t, a, frame(macB, macA, 1))
		require.NoError(t, b.SetReadDeadline(time.Now().Add(-time.Second)))
		_, _, err := b.ReadFrom(make([]byte, 100))
		requireTimeout(t, err)

		// Clearing it delivers the queued frame.
		require.NoError(t, b.SetReadDeadline(time.Time{}))
		seq, _ := read(t, b)
		require.Equal(t, uint32(1), seq)

		// A future deadline expires exactly on time.
		start := time.Now()
		require.NoError(t, b.SetReadDeadline(start.Add(100*time.Millisecond)))
		_, _, err = b.ReadFrom(make([]byte, 100))
		requireTimeout(t, err)
		require.Equal(t, 100*time.Millisecond, time.Since(start))

		// Extending the deadline while a read is blocked takes effect.
		start = time.Now()
		require.NoError(t, b.SetReadDeadline(start.Add(10*time.Millisecond)))
		done := make(chan error)
		go func() {
			_, _, err := b.ReadFrom(make([]byte, 100))
			done <- err
		}()
		synctest.Wait()
		require.NoError(t, b.SetReadDeadline(start.Add(50*time.Millisecond)))
		requireTimeout(t, <-done)
		require.Equal(t, 50*time.Millisecond, time.Since(start))

		// A frame arriving before the deadline wins.
		require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Second)))
		a.SetLatency(20 * time.Millisecond)
		write(t, a, frame(macB, macA, 2))
		seq, _ = read(t, b)
		require.Equal(t, uint32(2), seq)

		// Write deadlines: only a passed one matters, since writes never block.
		require.NoError(t, a.SetWriteDeadline(time.Now().Add(-time.Millisecond)))
		_, err = a.WriteTo(frame(macB, macA, 3), nil)
		requireTimeout(t, err)
		require.NoError(t, a.SetDeadline(time.Time{}))
		write(t, a, frame(macB, macA, 3))
	})
}

func TestBubbleClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seg := simnet.New(nil)
		a := seg.Attach("a", macA)
		b := seg.Attach("b", macB)
		done := make(chan error)
		go func() {
			_, _, err := b.ReadFrom(make([]byte, 100))
			done <- err
		}()
		synctest.Wait()
		require.NoError(t, b.Close())
		err := <-done
		require.ErrorIs(t, err, net.ErrClosed)
		var opErr *net.OpError
		require.ErrorAs(t, err, &opErr)
		require.Equal(t, "read", opErr.Op)

		_, err = b.WriteTo(frame(macA, macB, 1), nil)
		require.ErrorIs(t, err, net.ErrClosed)
		require.ErrorIs(t, b.Close(), net.ErrClosed)
		// b is gone from the switch: a's broadcast reaches nobody.
		write(t, a, frame(bcast, macA, 2))
		require.Nil(t, seg.Port("b"))
		require.Zero(t, b.Stats().Received)
	})
}

func TestBubbleOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seg := simnet.New(&simnet.Config{QueueLen: 4})
		a := seg.Attach("a", macA)
		b := seg.Attach("b", macB)
		for i := range uint32(10) {
			write(t, a, frame(macB, macA, i))
		}
		for i := range uint32(4) {
			seq, _ := read(t, b)
			require.Equal(t, i, seq)
		}
		require.Equal(t, simnet.Stats{Received: 4, Dropped: simnet.Drops{Overflow: 6}}, b.Stats())
	})
}

func TestBubbleHandlersAndConcurrentWriters(t *testing.T) {
	// Handlers on the real clock run on timer goroutines; several writers at
	// once must be race-free, and per-writer order is kept.
	synctest.Test(t, func(t *testing.T) {
		seg := simnet.New(nil)
		sink := seg.Attach("sink", macD)
		var mu sync.Mutex
		last := map[string]uint32{}
		total := 0
		sink.SetHandler(func(f []byte, src net.HardwareAddr) {
			mu.Lock()
			defer mu.Unlock()
			s := seqOf(f)
			if prev, ok := last[src.String()]; ok && s != prev+1 {
				panic("out of order")
			}
			last[src.String()] = s
			total++
		})
		var wg sync.WaitGroup
		for i, hw := range []net.HardwareAddr{macA, macB, macC} {
			p := seg.Attach(string(rune('a'+i)), hw)
			wg.Go(func() {
				for s := range uint32(500) {
					if _, err := p.WriteTo(frame(macD, hw, s), nil); err != nil {
						panic(err)
					}
				}
			})
		}
		wg.Wait()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, 1500, total)
	})
}

func TestSimDeadline(t *testing.T) {
	// On a clock.Sim a read deadline passes when the simulation reaches it.
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim})
	a := seg.Attach("a", macA)
	require.NoError(t, a.SetReadDeadline(sim.Now().Add(time.Second)))
	done := make(chan error, 1)
	go func() {
		_, _, err := a.ReadFrom(make([]byte, 100))
		done <- err
	}()
	sim.RunFor(999 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("read returned early: %v", err)
	default:
	}
	sim.RunFor(time.Millisecond)
	err := <-done
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
}
