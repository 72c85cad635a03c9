package member_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/simnet"
)

// These tests run Drivers on a simulated segment on the real clock inside
// testing/synctest bubbles, where time is virtual and exact.

func hw(a, b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, a, b} }

type neighbours map[string][]netip.Addr

func (n neighbours) Neighbours(ifname string) ([]netip.Addr, error) { return n[ifname], nil }

// segment is a LAN with a router that answers ARP.
type segment struct {
	t   *testing.T
	seg *simnet.Segment
	gw  netip.Addr
}

func newSegment(t *testing.T) *segment {
	s := &segment{t: t, seg: simnet.New(&simnet.Config{Seed: 1}), gw: netip.MustParseAddr("198.18.0.254")}
	p := s.seg.Attach("router", hw(3, 254))
	pr, err := heartbeat.NewPacketProber(p, hw(3, 254), s.gw)
	require.NoError(t, err)
	go func() {
		for {
			if _, err := pr.ReadReply(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pr.Close() })
	return s
}

// recorder records a unit's step calls and events; its steps fail on
// demand.
type recorder struct {
	mu     sync.Mutex
	ops    []string
	events []member.Event
	fail   map[string][]error
}

func (r *recorder) op(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, name)
	if errs := r.fail[name]; len(errs) > 0 {
		r.fail[name] = errs[1:]
		return errs[0]
	}
	return nil
}

func (r *recorder) takeOps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

func (r *recorder) eventsOf(k member.EventKind) []member.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []member.Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) step(name string) member.Step {
	return member.Func(name,
		func(context.Context) error { return r.op(name + " up") },
		func(context.Context) error { return r.op(name + " down") })
}

type simUnit struct {
	id  uint16
	d   *member.Driver
	rec *recorder
}

// unit starts unit id on s with the steps conntrack, addresses, announce.
func (s *segment) unit(id uint16, tweak func(*member.Config)) *simUnit {
	u := &simUnit{id: id, rec: &recorder{fail: map[string][]error{}}}
	hbp := s.seg.Attach(fmt.Sprintf("hb%d", id), hw(1, byte(id)))
	arp := s.seg.Attach(fmt.Sprintf("arp%d", id), hw(2, byte(id)))
	addr := netip.AddrFrom4([4]byte{198, 18, 0, byte(id)})
	pr, err := heartbeat.NewPacketProber(arp, hw(2, byte(id)), addr)
	require.NoError(s.t, err)
	cfg := &member.Config{
		ClusterID: 7, UnitID: id, Priority: uint8(200 - id),
		Key:        []byte("0123456789abcdef0123456789abcdef"),
		Interfaces: []member.Interface{{Name: "eth0", Addr: addr, Conn: heartbeat.NewEthernetConn(hbp, heartbeat.DefaultEtherType), Prober: pr}},
		Heartbeat:  &heartbeat.Config{Neighbours: neighbours{"eth0": {s.gw}}},
		Steps:      []member.Step{u.rec.step("conntrack"), u.rec.step("addresses"), u.rec.step("announce")},
		OnEvent: func(e member.Event) {
			u.rec.mu.Lock()
			u.rec.events = append(u.rec.events, e)
			u.rec.mu.Unlock()
		},
	}
	if tweak != nil {
		tweak(cfg)
	}
	u.d, err = member.New(cfg)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { u.d.Close() })
	return u
}

var (
	userUp   = []string{"conntrack up", "addresses up", "announce up"}
	userDown = []string{"announce down", "addresses down", "conntrack down"}
)

func primaries(us ...*simUnit) []uint16 {
	var ps []uint16
	for _, u := range us {
		if u.d.Role() == election.Primary {
			ps = append(ps, u.id)
		}
	}
	return ps
}

func TestDriverPrimaryKilled(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprint(n, " units"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSegment(t)
				var us []*simUnit
				for id := range n {
					us = append(us, s.unit(uint16(id+1), nil))
				}
				for _, u := range us {
					require.NoError(t, u.d.Start())
				}
				time.Sleep(2 * time.Second)
				require.Equal(t, []uint16{1}, primaries(us...))
				require.Equal(t, userUp, us[0].rec.takeOps())

				require.NoError(t, us[0].d.Close())
				killed := time.Now()
				require.Equal(t, userDown, us[0].rec.takeOps())
				time.Sleep(time.Second)
				require.Equal(t, []uint16{2}, primaries(us[1:]...))
				require.Equal(t, userUp, us[1].rec.takeOps())
				for _, u := range us[2:] {
					require.Empty(t, u.rec.takeOps())
				}
				tk := us[1].rec.eventsOf(member.EventTakeover)
				require.Len(t, tk, 1)
				// Early verdict: 0.225 s after the last heartbeat at most.
				require.WithinDuration(t, killed, tk[0].Takeover.Done, 300*time.Millisecond)
				require.False(t, tk[0].Takeover.Fault.IsZero())
				st := us[1].d.Status()
				require.Equal(t, election.Primary, st.Role)
				require.Equal(t, []string{"conntrack", "addresses", "announce"}, st.Held)
				require.NotNil(t, st.LastTakeover)
			})
		})
	}
}

func TestDriverFailingStepInTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		a, b := s.unit(1, nil), s.unit(2, nil)
		boom := errors.New("device busy")
		b.rec.fail["addresses up"] = []error{boom}
		require.NoError(t, a.d.Start())
		require.NoError(t, b.d.Start())
		time.Sleep(2 * time.Second)
		a.rec.takeOps()
		require.NoError(t, a.d.Close())
		time.Sleep(time.Second)
		require.Equal(t, election.Primary, b.d.Role())
		require.Equal(t, []string{"conntrack up", "addresses up", "conntrack down", "conntrack up", "addresses up", "announce up"}, b.rec.takeOps())
		f := b.rec.eventsOf(member.EventStepFailed)
		require.Len(t, f, 1)
		require.ErrorIs(t, f[0].Err, boom)
		require.Len(t, b.rec.eventsOf(member.EventRolledBack), 1)
		tk := b.rec.eventsOf(member.EventTakeover)
		require.Len(t, tk, 1)
		require.Equal(t, 2, tk[0].Takeover.Attempts)
		require.Equal(t, f[0].Retry, tk[0].Takeover.Steps[0].Done, "retried after the pause")
		require.Equal(t, uint64(1), b.d.Status().Counters.StepFailures)
	})
}

func TestDriverHandover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		a, b := s.unit(1, nil), s.unit(2, nil)
		require.NoError(t, a.d.Start())
		require.NoError(t, b.d.Start())
		time.Sleep(2 * time.Second)
		a.rec.takeOps()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		begin := time.Now()
		require.NoError(t, a.d.Handover(ctx))
		require.Less(t, time.Since(begin), time.Second) // TODO(phase 2): per-frame payloads make it one heartbeat
		require.Equal(t, election.Secondary, a.d.Role())
		require.Equal(t, election.Primary, b.d.Role())
		require.Equal(t, userDown, a.rec.takeOps())
		require.Equal(t, userUp, b.rec.takeOps())
		require.NoError(t, a.d.Close())
		require.Empty(t, a.rec.takeOps(), "nothing left to release")

		// Alone, there is nobody to hand over to.
		time.Sleep(time.Second)
		require.ErrorIs(t, b.d.Handover(ctx), member.ErrNoPeer)
	})
}

// TestDriverCallbackCallsEveryMethod: OnEvent runs with no lock held and
// may call any Driver method, Close included.
func TestDriverCallbackCallsEveryMethod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		var b *simUnit
		calls := map[string]int{}
		var mu sync.Mutex
		count := func(name string) {
			mu.Lock()
			calls[name]++
			mu.Unlock()
		}
		b = s.unit(2, func(c *member.Config) {
			c.OnEvent = func(e member.Event) {
				d := b.d
				_ = d.Role()
				count("Role")
				_ = d.Status()
				count("Status")
				switch e.Kind {
				case member.EventTakeover:
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					err := d.Handover(ctx)
					cancel()
					count(fmt.Sprint("Handover ", err))
					d.Resume(false)
					count("Resume")
					require.ErrorIs(t, d.Start(), election.ErrConfig)
					count("Start")
					require.NoError(t, d.Close())
					count("Close")
				}
			}
		})
		a := s.unit(1, nil)
		require.NoError(t, a.d.Start())
		require.NoError(t, b.d.Start())
		time.Sleep(2 * time.Second)
		require.NoError(t, a.d.Close())
		time.Sleep(2 * time.Second)
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, 1, calls["Handover "+member.ErrNoPeer.Error()])
		require.Equal(t, 1, calls["Close"])
		require.Positive(t, calls["Status"])
		require.Equal(t, []string{"conntrack up", "addresses up", "announce up", "announce down", "addresses down", "conntrack down"}, b.rec.takeOps())
	})
}
