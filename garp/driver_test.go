package garp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
)

var (
	macA    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	macC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0c}
	vmacTst = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x07}
)

// heard is an announcement a port received, and when.
type heard struct {
	At time.Duration
	A  Announcement
}

// listen records the announcements port p receives.
func listen(t *testing.T, sim *clock.Sim, p *simnet.Port) func() []heard {
	t.Helper()
	var mu sync.Mutex
	var log []heard
	p.SetHandler(func(frame []byte, _ net.HardwareAddr) {
		a, err := Parse(frame)
		if err != nil {
			return
		}
		mu.Lock()
		log = append(log, heard{sim.Now().Sub(clock.Epoch), a})
		mu.Unlock()
	})
	return func() []heard {
		mu.Lock()
		defer mu.Unlock()
		return append([]heard(nil), log...)
	}
}

// keep wraps a simulated port so that the Driver closing it does not
// detach it from the segment.
type keep struct{ *simnet.Port }

func (keep) Close() error { return nil }

// ports is an Open function over simulated ports.
func ports(ps map[string]*simnet.Port) func(string) (net.PacketConn, error) {
	return func(name string) (net.PacketConn, error) {
		p, ok := ps[name]
		if !ok {
			return nil, errors.New("no such network interface")
		}
		return keep{p}, nil
	}
}

func newDriver(t *testing.T, cfg *Config) *Driver {
	t.Helper()
	s, err := NewDriver(cfg)
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

func TestDriverTakeoverTimeline(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	c := seg.Attach("c", macC)
	got := listen(t, sim, c)

	// Before: the virtual MAC lives behind A.
	_, err := a.WriteTo(mustMarshal(t, Announcement{Kind: GARPRequest, MAC: vmacTst, Addr: testVIP4}), nil)
	require.NoError(t, err)
	sim.RunFor(time.Millisecond)
	require.Equal(t, "a", seg.FDB()[vmacTst.String()])
	start := sim.Now().Sub(clock.Epoch)

	s := newDriver(t, &Config{Clock: sim, Open: ports(map[string]*simnet.Port{"eth0": b})})
	require.NoError(t, s.Announce(context.Background(), Move{
		Interface: "eth0", MAC: vmacTst, Addrs: []netip.Addr{testVIP4, testVIP6},
	}))
	sim.RunFor(130 * time.Second)

	// The switch learned the virtual MAC on B's port from the first frame.
	require.Equal(t, "b", seg.FDB()[vmacTst.String()])

	var times []time.Duration
	log := got()[1:] // skip A's frame
	for i, h := range log {
		want := Announcement{Kind: GARPRequest, MAC: vmacTst, Addr: testVIP4}
		if i%2 == 1 {
			want = Announcement{Kind: UnsolicitedNA, MAC: vmacTst, Addr: testVIP6}
		} else {
			times = append(times, h.At-start)
		}
		require.Equal(t, want, h.A)
	}
	ms := time.Millisecond
	require.Equal(t, []time.Duration{
		0, 10 * ms, 20 * ms, 30 * ms, 40 * ms,
		5000 * ms, 5010 * ms, 5020 * ms, 5030 * ms, 5040 * ms,
		65 * time.Second, 125 * time.Second,
	}, times)
	st := s.Stats()
	require.Equal(t, Stats{Announces: 1, SentARP: 12, SentNA: 12}, st)
	require.Equal(t, uint64(24), st.Sent())
}

func mustMarshal(t *testing.T, a Announcement) []byte {
	t.Helper()
	b, err := Marshal(a)
	require.NoError(t, err)
	return b
}

func TestDriverStopIsImmediate(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	b := seg.Attach("b", macB)
	got := listen(t, sim, seg.Attach("c", macC))

	s := newDriver(t, &Config{Clock: sim, Open: ports(map[string]*simnet.Port{"eth0": b})})
	require.NoError(t, s.Announce(context.Background(), Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{testVIP4}}))
	sim.RunFor(15 * time.Millisecond)
	require.Len(t, got(), 2)

	s.Stop()
	require.Zero(t, sim.Pending(), "a timer survived Stop")
	sim.RunFor(10 * time.Minute)
	require.Len(t, got(), 2)

	// Promoted again: a new burst from pass 0.
	require.NoError(t, s.Announce(context.Background(), Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{testVIP4}}))
	sim.RunFor(time.Second)
	require.Len(t, got(), 2+5)
}

func TestDriverWithdrawOneMove(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	b := seg.Attach("b", macB)
	got := listen(t, sim, seg.Attach("c", macC))
	s := newDriver(t, &Config{Clock: sim, Open: ports(map[string]*simnet.Port{"eth0": b})})

	ctx := context.Background()
	v1 := Move{Interface: "eth0", MAC: vmacTst, Addrs: []netip.Addr{testVIP4}}
	v2 := Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.20")}}
	require.NoError(t, s.Announce(ctx, v1))
	require.NoError(t, s.Announce(ctx, v2))
	sim.RunFor(5 * time.Millisecond)
	require.NoError(t, s.Withdraw(ctx, Move{Interface: "eth0", MAC: vmacTst}))
	require.NoError(t, s.Withdraw(ctx, Move{Interface: "eth0", MAC: vmacTst}), "withdrawing twice is fine")
	sim.RunFor(time.Second)

	var n1, n2 int
	for _, h := range got() {
		switch h.A.Addr {
		case testVIP4:
			n1++
		default:
			n2++
		}
	}
	require.Equal(t, 1, n1)
	require.Equal(t, 5, n2)
	require.Equal(t, uint64(1), s.Stats().Withdraws)
}

// TestDriverTransparent: a bridge-mode cluster sits between segments L and
// R. After takeover, B makes R's switch learn L's MACs through B's R port,
// and L's switch learn R's MACs through B's L port.
func TestDriverTransparent(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	segL := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	segR := simnet.New(&simnet.Config{Clock: sim, Seed: 2})
	hostL1 := net.HardwareAddr{0x02, 0x11, 0, 0, 0, 1}
	hostL2 := net.HardwareAddr{0x02, 0x11, 0, 0, 0, 2}
	hostR1 := net.HardwareAddr{0x02, 0x22, 0, 0, 0, 1}
	segL.Attach("hostL1", hostL1)
	segL.Attach("hostL2", hostL2)
	r1 := segR.Attach("hostR1", hostR1)
	got := listen(t, sim, r1)
	aL := segL.Attach("a-l", macA)
	aR := segR.Attach("a-r", macA)
	bL := segL.Attach("b-l", macB)
	bR := segR.Attach("b-r", macB)

	// A was forwarding: each switch learned the far side's MACs on A.
	for _, w := range []struct {
		p   *simnet.Port
		src net.HardwareAddr
	}{{aR, hostL1}, {aR, hostL2}, {aL, hostR1}} {
		_, err := w.p.WriteTo(mustMarshal(t, Announcement{Kind: Learn, MAC: w.src}), nil)
		require.NoError(t, err)
	}
	sim.RunFor(time.Millisecond)
	require.Equal(t, "a-r", segR.FDB()[hostL1.String()])
	require.Equal(t, "a-l", segL.FDB()[hostR1.String()])
	before := len(got())

	s := newDriver(t, &Config{Clock: sim, Open: ports(map[string]*simnet.Port{"l": bL, "r": bR})})
	ctx := context.Background()
	require.NoError(t, s.Announce(ctx, Move{Interface: "r", Learn: []net.HardwareAddr{hostL1, hostL2}}))
	require.NoError(t, s.Announce(ctx, Move{Interface: "l", Learn: []net.HardwareAddr{hostR1}}))
	sim.RunFor(time.Millisecond)

	require.Equal(t, "b-r", segR.FDB()[hostL1.String()])
	require.Equal(t, "b-r", segR.FDB()[hostL2.String()])
	require.Equal(t, "b-l", segL.FDB()[hostR1.String()])

	// Learning frames follow the schedule like the rest.
	sim.RunFor(10 * time.Second)
	require.Len(t, got()[before:], 2*10)
	require.Equal(t, uint64(3*10), s.Stats().SentLearn)
}

func TestDriverBadMoves(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	s := newDriver(t, &Config{Clock: sim, Open: ports(map[string]*simnet.Port{"eth0": seg.Attach("b", macB)})})
	ctx := context.Background()
	tests := []struct {
		name string
		m    Move
	}{
		{"no interface", Move{MAC: macB, Addrs: []netip.Addr{testVIP4}}},
		{"nothing", Move{Interface: "eth0", MAC: macB}},
		{"no MAC", Move{Interface: "eth0", Addrs: []netip.Addr{testVIP4}}},
		{"multicast MAC", Move{Interface: "eth0", MAC: allNodesMAC, Addrs: []netip.Addr{testVIP4}}},
		{"zero address", Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{{}}}},
		{"multicast address", Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{netip.MustParseAddr("224.0.0.1")}}},
		{"unspecified", Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{netip.IPv6Unspecified()}}},
		{"bad learn MAC", Move{Interface: "eth0", Learn: []net.HardwareAddr{{1, 2, 3}}}},
		{"group learn MAC", Move{Interface: "eth0", Learn: []net.HardwareAddr{broadcastMAC}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Announce(ctx, tt.m)
			require.ErrorIs(t, err, ErrMove)
			require.Equal(t, uint64(i+1), s.Stats().Invalid)
		})
	}
	require.ErrorIs(t, s.Withdraw(ctx, Move{}), ErrMove)

	err := s.Announce(ctx, Move{Interface: "eth9", MAC: macB, Addrs: []netip.Addr{testVIP4}})
	require.ErrorIs(t, err, ErrInterface)
	require.ErrorContains(t, err, "eth9")
	require.Equal(t, uint64(1), s.Stats().OpenErrors)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, s.Announce(cctx, Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{testVIP4}}), context.Canceled)

	require.Zero(t, s.Stats().Sent())
	require.Zero(t, sim.Pending(), "nothing scheduled")

	// Normalization: 4in6 unmapped, zones dropped, duplicates removed.
	rec := listen(t, sim, seg.Attach("c", macC))
	require.NoError(t, s.Announce(ctx, Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{
		netip.MustParseAddr("::ffff:198.18.0.10"), testVIP4, netip.MustParseAddr("fe80::1%eth0"),
	}}))
	sim.RunFor(time.Millisecond)
	require.Equal(t, []heard{
		{sim.Now().Sub(clock.Epoch) - time.Millisecond, Announcement{Kind: GARPRequest, MAC: macB, Addr: testVIP4}},
		{sim.Now().Sub(clock.Epoch) - time.Millisecond, Announcement{Kind: UnsolicitedNA, MAC: macB, Addr: netip.MustParseAddr("fe80::1")}},
	}, rec())
}

// flaky is a conn whose writes fail while down is set, as an interface that
// was removed.
type flaky struct {
	net.PacketConn
	down   *atomic.Bool
	closed *atomic.Int32
}

func (f flaky) WriteTo(b []byte, addr net.Addr) (int, error) {
	if f.down.Load() {
		return 0, &net.OpError{Op: "write", Net: "packet", Err: errors.New("no such device")}
	}
	return f.PacketConn.WriteTo(b, addr)
}

func (f flaky) Close() error { f.closed.Add(1); return nil }

func TestDriverInterfaceGoesAway(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	b := seg.Attach("b", macB)
	got := listen(t, sim, seg.Attach("c", macC))
	var down, gone atomic.Bool
	var closed atomic.Int32
	var opens int
	s := newDriver(t, &Config{Clock: sim, Open: func(name string) (net.PacketConn, error) {
		opens++
		if gone.Load() {
			return nil, errors.New("no such network interface")
		}
		return flaky{b, &down, &closed}, nil
	}})
	require.NoError(t, s.Announce(context.Background(), Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{testVIP4, testVIP6}}))
	sim.RunFor(0)
	require.Len(t, got(), 2)

	// Pass 1: the interface disappears mid-announcement.
	down.Store(true)
	sim.RunFor(10 * time.Millisecond)
	st := s.Stats()
	require.Equal(t, uint64(1), st.SendErrors, "the first failed write closes the conn")
	require.Equal(t, uint64(1), st.Dropped, "the rest of the pass is not retried")
	require.Equal(t, int32(1), closed.Load())

	// Passes 2 and 3: reopening fails while it is gone; frames are dropped.
	gone.Store(true)
	sim.RunFor(20 * time.Millisecond)
	st = s.Stats()
	require.Equal(t, uint64(1+4), st.Dropped)
	require.Equal(t, uint64(2), st.OpenErrors, "one attempt per run")

	// It comes back: pass 4 goes out on a reopened conn.
	gone.Store(false)
	down.Store(false)
	sim.RunFor(10 * time.Millisecond)
	require.Len(t, got(), 4)
	require.Equal(t, 1+2+1, opens)
}

// TestDriverNoFrameAfterStop races Stop against the timer on the real clock
// (in a synctest bubble): a write after Stop returned fails the test.
func TestDriverNoFrameAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for i := range 50 {
			var stopped atomic.Bool
			var late atomic.Int32
			conn := &countConn{write: func() {
				if stopped.Load() {
					late.Add(1)
				}
			}}
			sc := Schedule{Burst: 100, Spacing: time.Microsecond, Rate: 1e6, RateBurst: 1}
			s, err := NewDriver(&Config{Schedule: &sc, Open: func(string) (net.PacketConn, error) { return conn, nil }})
			require.NoError(t, err)
			require.NoError(t, s.Announce(context.Background(), Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{testVIP4}}))
			done := make(chan struct{})
			go func() {
				time.Sleep(time.Duration(i) * time.Microsecond)
				s.Stop()
				stopped.Store(true)
				close(done)
			}()
			<-done
			time.Sleep(time.Second)
			synctest.Wait()
			require.Zero(t, late.Load())
		}
	})
}

type countConn struct {
	net.PacketConn
	write func()
}

func (c *countConn) WriteTo(b []byte, _ net.Addr) (int, error) { c.write(); return len(b), nil }
func (c *countConn) Close() error                              { return nil }

func TestNewDriverInvalid(t *testing.T) {
	_, err := NewDriver(&Config{Schedule: &Schedule{}})
	require.ErrorIs(t, err, hakit.ErrConfig)
	_, err = NewDriver(&Config{ARP: 7})
	require.ErrorIs(t, err, hakit.ErrConfig)
	require.ErrorIs(t, (&Config{ARP: 7}).Validate(), hakit.ErrConfig)
	require.NoError(t, DefaultConfig().Validate())
	require.NoError(t, (*Config)(nil).Validate())
	s, err := NewDriver(nil)
	require.NoError(t, err)
	s.Stop()
}

func TestDriverARPForms(t *testing.T) {
	for _, tt := range []struct {
		form ARPForm
		want []Kind
	}{
		{RequestForm, []Kind{GARPRequest}},
		{ReplyForm, []Kind{GARPReply}},
		{BothForms, []Kind{GARPRequest, GARPReply}},
	} {
		sim := clock.NewSim(time.Time{})
		seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
		b := seg.Attach("b", macB)
		got := listen(t, sim, seg.Attach("c", macC))
		sc := Schedule{Burst: 1, Rate: 100, RateBurst: 10}
		s := newDriver(t, &Config{Clock: sim, ARP: tt.form, Router: true, Schedule: &sc, Open: ports(map[string]*simnet.Port{"eth0": b})})
		require.NoError(t, s.Announce(context.Background(), Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{testVIP4, testVIP6}}))
		sim.RunFor(time.Second)
		var kinds []Kind
		for _, h := range got() {
			kinds = append(kinds, h.A.Kind)
			require.Equal(t, h.A.Kind == UnsolicitedNA, h.A.Router)
		}
		require.Equal(t, append(tt.want, UnsolicitedNA), kinds)
	}
}

// TestDriverRealClockInBubble drives the Driver with its default (real)
// clock inside a synctest bubble, where time is virtual and exact.
func TestDriverRealClockInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		conn := &countConn{write: func() {
			mu.Lock()
			at = append(at, time.Since(start))
			mu.Unlock()
		}}
		sc := Schedule{Burst: 3, Spacing: 10 * time.Millisecond, Repeat: 1, Delay: time.Second, Refresh: time.Minute, Rate: 1000, RateBurst: 8}
		s, err := NewDriver(&Config{Schedule: &sc, Open: func(string) (net.PacketConn, error) { return conn, nil }})
		require.NoError(t, err)
		require.NoError(t, s.Announce(context.Background(), Move{Interface: "eth0", MAC: macB, Addrs: []netip.Addr{testVIP4}}))
		time.Sleep(2*time.Minute + 1500*time.Millisecond)
		s.Stop()
		synctest.Wait()
		ms := time.Millisecond
		require.Equal(t, []time.Duration{0, 10 * ms, 20 * ms, time.Second, time.Minute + time.Second, 2*time.Minute + time.Second}, at)
	})
}

// TestDriverLogsMACsAsText: a JSON log shows MACs as text, not as the
// base64 of their bytes.
func TestDriverLogsMACsAsText(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	var buf bytes.Buffer
	s := newDriver(t, &Config{Clock: sim, Open: ports(map[string]*simnet.Port{"eth0": seg.Attach("b", macB)}),
		Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	m := Move{Interface: "eth0", MAC: vmacTst, Addrs: []netip.Addr{testVIP4}}
	require.NoError(t, s.Announce(context.Background(), m))
	require.NoError(t, s.Withdraw(context.Background(), m))
	require.Equal(t, 2, strings.Count(buf.String(), `"mac":"`+vmacTst.String()+`"`), buf.String())
}
