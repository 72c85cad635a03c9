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

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/statesync"
)

// These tests run Drivers on a simulated segment on the real clock inside
// testing/synctest bubbles, where time is virtual and exact.

func hw(a, b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, a, b} }

type neighbours map[string][]netip.Addr

func (n neighbours) Neighbours(ifname string) ([]netip.Addr, error) { return n[ifname], nil }

// segment is a LAN with a router that answers ARP.
type segment struct {
	t    *testing.T
	seg  *simnet.Segment
	sync *simnet.Segment // session sync, one port per pair of units
	n    int             // units with session sync (0: none)
	gw   netip.Addr
	keys *hakit.Keyring
}

func newSegment(t *testing.T) *segment {
	keys, err := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("0123456789abcdef0123456789abcdef")})
	require.NoError(t, err)
	s := &segment{t: t, seg: simnet.New(&simnet.Config{Seed: 1}), sync: simnet.New(&simnet.Config{Seed: 2}),
		gw: netip.MustParseAddr("198.18.0.254"), keys: keys}
	s.router("router", hw(3, 254), s.gw)
	return s
}

// router attaches a router that answers ARP for addr.
func (s *segment) router(name string, mac net.HardwareAddr, addr netip.Addr) *simnet.Port {
	p := s.seg.Attach(name, mac)
	pr, err := heartbeat.NewPacketProber(p, mac, addr)
	require.NoError(s.t, err)
	go func() {
		for {
			if _, err := pr.ReadReply(); err != nil {
				return
			}
		}
	}()
	s.t.Cleanup(func() { pr.Close() })
	return p
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
	return s.unitNamed(id, "", tweak)
}

// unitNamed is unit with suffix after the names of its ports: a unit
// started again gets new ones, with the same MACs.
func (s *segment) unitNamed(id uint16, suffix string, tweak func(*member.Config)) *simUnit {
	u := &simUnit{id: id, rec: &recorder{fail: map[string][]error{}}}
	hbp := s.seg.Attach(fmt.Sprintf("hb%d%s", id, suffix), hw(1, byte(id)))
	arp := s.seg.Attach(fmt.Sprintf("arp%d%s", id, suffix), hw(2, byte(id)))
	addr := netip.AddrFrom4([4]byte{198, 18, 0, byte(id)})
	pr, err := heartbeat.NewPacketProber(arp, hw(2, byte(id)), addr)
	require.NoError(s.t, err)
	cfg := &member.Config{
		ClusterID: 7, UnitID: id, Priority: uint8(200 - id),
		Keys: s.keys, Unauthenticated: s.keys == nil,
		Interfaces: []member.Interface{{Name: "eth0", Addr: addr, Conn: heartbeat.NewEthernetConn(hbp, heartbeat.DefaultEtherType), Prober: pr}},
		Heartbeat:  &heartbeat.Config{Neighbours: neighbours{"eth0": {s.gw}}},
		Steps:      []member.Step{u.rec.step("conntrack"), u.rec.step("addresses"), u.rec.step("announce")},
		OnEvent: func(e member.Event) {
			u.rec.mu.Lock()
			u.rec.events = append(u.rec.events, e)
			u.rec.mu.Unlock()
		},
	}
	if s.n > 0 {
		// One transport to every peer.
		cfg.Sync = &member.Sync{}
		var macs []net.HardwareAddr
		for peer := 1; peer <= s.n; peer++ {
			if peer != int(id) {
				macs = append(macs, hw(10+byte(peer), 0))
				cfg.Sync.Peers = append(cfg.Sync.Peers, statesync.Peer{Unit: uint16(peer), Addr: &packet.Addr{HardwareAddr: macs[len(macs)-1]}})
			}
		}
		p := s.sync.Attach(fmt.Sprintf("sync%d%s", id, suffix), hw(10+byte(id), 0))
		cfg.Sync.Transport = statesync.NewEthernetTransport(p, hw(10+byte(id), 0), macs[0], 0, macs[1:]...)
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
		if u.d.Role() == hakit.Primary {
			ps = append(ps, u.id)
		}
	}
	return ps
}

func sessionKey(i int) statesync.Key {
	return statesync.Key{Proto: 6,
		Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.5.1"), uint16(10000+i)),
		Dst: netip.AddrPortFrom(netip.MustParseAddr("198.19.0.1"), 443)}
}

// TestDriverPrimaryKilled: the primary holds sessions and dies (Close,
// no handover); the best standby takes over with every session, and the
// others mirror it.
func TestDriverPrimaryKilled(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprint(n, " units"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSegment(t)
				s.n = n
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
				for i := range 1000 {
					us[0].d.Upsert(statesync.Session{Key: sessionKey(i), State: 3})
				}
				time.Sleep(time.Second)
				for _, u := range us[1:] {
					st := u.d.Status()
					require.True(t, st.InSync, "unit %d", u.id)
					require.Equal(t, 1000, st.Sync.Sessions, "unit %d", u.id)
				}

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
				require.Equal(t, []string{"sessions", "conntrack", "addresses", "announce", "replication"}, us[1].d.Status().Held)
				tab := us[1].d.Table()
				for i := range 1000 {
					_, ok := tab.Get(sessionKey(i))
					require.True(t, ok, "session %d kept", i)
				}
				st := us[1].d.Status()
				require.Equal(t, hakit.Primary, st.Role)
				require.True(t, st.Sync.LastCommit.InSync)
				require.NotNil(t, st.LastTakeover)
				// A session of the new primary reaches the others.
				us[1].d.Upsert(statesync.Session{Key: sessionKey(1000), State: 3})
				time.Sleep(time.Second)
				for _, u := range us[2:] {
					_, ok := u.d.Table().Get(sessionKey(1000))
					require.True(t, ok, "unit %d mirrors the new primary", u.id)
					require.Equal(t, 1001, u.d.Table().Len())
				}
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
		require.Equal(t, hakit.Primary, b.d.Role())
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
		s.n = 2
		a, b := s.unit(1, nil), s.unit(2, nil)
		require.NoError(t, a.d.Start())
		require.NoError(t, b.d.Start())
		time.Sleep(2 * time.Second)
		a.rec.takeOps()
		for i := range 100 {
			a.d.Upsert(statesync.Session{Key: sessionKey(i), State: 3})
		}
		time.Sleep(100 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		begin := time.Now()
		require.NoError(t, a.d.Handover(ctx))
		t.Log("handover took", time.Since(begin))
		require.Less(t, time.Since(begin), 50*time.Millisecond, "heartbeats go out at once on every change")
		require.Equal(t, hakit.Secondary, a.d.Role())
		require.Equal(t, hakit.Primary, b.d.Role())
		require.Equal(t, userDown, a.rec.takeOps())
		synctest.Wait() // the new primary's steps, at the same instant
		require.Equal(t, userUp, b.rec.takeOps())
		require.Equal(t, 100, b.d.Table().Len())
		time.Sleep(100 * time.Millisecond)
		require.True(t, a.d.Status().InSync, "the old primary mirrors the new one")
		require.Equal(t, 100, a.d.Table().Len())
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
		s.n = 2
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
				_ = d.Table()
				d.Upsert(statesync.Session{Key: sessionKey(1), State: 3})
				d.Delete(sessionKey(1))
				count("Sessions")
				d.Witness(true)
				count("Witness")
				switch e.Kind {
				case member.EventTakeover:
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					err := d.Handover(ctx)
					cancel()
					count(fmt.Sprint("Handover ", err))
					d.Yield()
					d.Resume(false)
					count("Resume")
					require.ErrorIs(t, d.Start(), hakit.ErrConfig)
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
		require.Empty(t, b.d.Status().Held, "closed: every step down")
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, 1, calls["Handover "+member.ErrNoPeer.Error()])
		require.Equal(t, 1, calls["Close"])
		for _, m := range []string{"Role", "Status", "Sessions", "Witness", "Resume", "Start"} {
			require.Positive(t, calls[m], m)
		}
		require.Equal(t, []string{"conntrack up", "addresses up", "announce up", "announce down", "addresses down", "conntrack down"}, b.rec.takeOps())
	})
}

func TestConfigValidate(t *testing.T) {
	_, err := member.New(nil)
	require.ErrorIs(t, err, hakit.ErrConfig, "a nil config has no unit ID")
	conn := heartbeat.NewEthernetConn(simnet.New(nil).Attach("p", hw(1, 1)), heartbeat.DefaultEtherType)
	tr := statesync.NewEthernetTransport(simnet.New(nil).Attach("s", hw(1, 2)), hw(1, 2), hw(2, 2), 0)
	for _, c := range []member.Config{
		{UnitID: 1},
		{UnitID: 1, Interfaces: []member.Interface{{Name: "eth0"}}},
		{UnitID: 1, Interfaces: []member.Interface{{Name: "eth0", Conn: conn}}, Sync: &member.Sync{}},
		{UnitID: 1, Interfaces: []member.Interface{{Name: "eth0", Conn: conn}}, Sync: &member.Sync{Transport: tr, Peers: []statesync.Peer{{Unit: 1}}}},
		{UnitID: 1, Interfaces: []member.Interface{{Name: "eth0", Conn: conn}}, Heartbeat: &heartbeat.Config{Interval: time.Microsecond}},
		{UnitID: 1, Interfaces: []member.Interface{{Name: "eth0", Conn: conn}, {Name: "eth0", Conn: conn}}},
		{UnitID: 1, Interfaces: []member.Interface{{Name: "eth0", Conn: conn}}, StepTimeout: -1, Unauthenticated: true},
		{UnitID: 1, Interfaces: []member.Interface{{Name: "eth0", Conn: conn}}}, // no key and not Unauthenticated
	} {
		require.ErrorIs(t, c.Validate(), hakit.ErrConfig, "%+v", c)
	}
	ok := member.Config{UnitID: 1, Interfaces: []member.Interface{{Name: "eth0", Conn: conn}}, Unauthenticated: true,
		Heartbeat: &heartbeat.Config{Interval: 10 * time.Millisecond, Misses: 3, ProbeWindow: 60 * time.Millisecond}}
	require.NoError(t, ok.Validate())
	ec := ok.ElectionConfig()
	require.Equal(t, 90*time.Millisecond, ec.DetectTime, "3 × 10 ms + 60 ms")
	require.Equal(t, ec.DetectTime, ec.InitialWait)
	require.Equal(t, uint8(128), ec.Priority)
	require.Equal(t, time.Second, ec.HandoverTimeout)
}
