package heartbeat

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/simnet"
)

// simUnit is one unit on a simulated segment: a port for heartbeats and a
// port for ARP (its "kernel": it probes and answers for the unit's address).
type simUnit struct {
	node *Driver
	hb   *simnet.Port
	arp  *simnet.Port
	mu   sync.Mutex
	reps []Report
}

func (u *simUnit) reports() []Report {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Report(nil), u.reps...)
}

func (u *simUnit) verdicts() []Report {
	var out []Report
	for _, r := range u.reports() {
		if r.State.Verdict() {
			out = append(out, r)
		}
	}
	return out
}

func mac(a, b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, a, b} }

// simNeighbour attaches a host at addr that answers ARP requests.
func simNeighbour(t *testing.T, seg *simnet.Segment, name string, hw net.HardwareAddr, addr netip.Addr) *simnet.Port {
	t.Helper()
	p := seg.Attach(name, hw)
	pr, err := NewPacketProber(p, hw, addr)
	require.NoError(t, err)
	go func() {
		for {
			if _, err := pr.ReadReply(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pr.Close() })
	return p
}

func simDriver(t *testing.T, seg *simnet.Segment, cfg Config, id uint16, neigh NeighbourSource) *simUnit {
	t.Helper()
	u := &simUnit{}
	u.hb = seg.Attach(fmt.Sprintf("hb%d", id), mac(1, byte(id)))
	u.arp = seg.Attach(fmt.Sprintf("arp%d", id), mac(2, byte(id)))
	addr := netip.AddrFrom4([4]byte{198, 18, 0, byte(id)})
	pr, err := NewPacketProber(u.arp, mac(2, byte(id)), addr)
	require.NoError(t, err)
	cfg.UnitID = id
	cfg.Neighbours = neigh
	cfg.OnReport = func(r Report) {
		u.mu.Lock()
		u.reps = append(u.reps, r)
		u.mu.Unlock()
	}
	n, err := NewDriver(&cfg, Interface{Name: "eth0", Addr: addr, Conn: NewEthernetConn(u.hb, cfg.EtherType), Prober: pr})
	require.NoError(t, err)
	u.node = n
	t.Cleanup(func() { n.Close() })
	return u
}

func simPair(t *testing.T, cfg Config) (a, b *simUnit, seg *simnet.Segment, router *simnet.Port) {
	t.Helper()
	seg = simnet.New(&simnet.Config{Seed: 1})
	gw := netip.MustParseAddr("198.18.0.254")
	router = simNeighbour(t, seg, "router", mac(3, 254), gw)
	ns := staticNeighbours{"eth0": {gw}}
	if cfg.EtherType == 0 {
		cfg.EtherType = DefaultEtherType
	}
	a = simDriver(t, seg, cfg, 1, ns)
	b = simDriver(t, seg, cfg, 2, ns)
	require.NoError(t, a.node.Start())
	require.NoError(t, b.node.Start())
	return a, b, seg, router
}

func TestDriverDetectsDeadPeer(t *testing.T) {
	tests := []struct {
		mode    Mode
		verdict time.Duration // after the last heartbeat
	}{
		{ModeStrict, 800 * ms},
		{ModeEarly, 225 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{ClusterID: 7, Mode: tt.mode, Keys: testRing(t)}
				a, b, _, _ := simPair(t, cfg)
				time.Sleep(time.Minute)
				require.Empty(t, a.verdicts())
				require.Empty(t, b.verdicts())
				// Unit 2 dies: its cables are pulled 30ms after a heartbeat.
				time.Sleep(50 * ms) // mid-interval
				synctest.Wait()
				last := a.node.Peers()[0].Links[0].LastHeard
				b.hb.Cut()
				b.arp.Cut()
				time.Sleep(2 * time.Second)
				v := a.verdicts()
				require.Len(t, v, 1)
				require.Equal(t, PeerDown, v[0].State)
				require.Equal(t, tt.verdict, v[0].At.Sub(last), v[0].Reason)
				var suspect Report
				for _, r := range a.reports() {
					if r.State == Suspect {
						suspect = r
					}
				}
				require.Equal(t, 200*ms, suspect.At.Sub(last))
				c := a.node.Counters()
				require.Zero(t, c.Dropped.Auth+c.Dropped.Malformed+c.Dropped.Replay)
				require.NotZero(t, c.Received)
			})
		})
	}
}

func TestDriverLocalFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _, _, _ := simPair(t, Config{ClusterID: 7})
		time.Sleep(10 * time.Second)
		time.Sleep(50 * ms) // mid-interval
		synctest.Wait()
		last := a.node.Peers()[0].Links[0].LastHeard
		a.hb.Cut()
		a.arp.Cut()
		time.Sleep(2 * time.Second)
		v := a.verdicts()
		require.Len(t, v, 1)
		require.Equal(t, LocalFault, v[0].State)
		require.Equal(t, 800*ms, v[0].At.Sub(last))
	})
}

// TestDriverLossSoak is the required soak on the simulated segment: 10
// virtual minutes, 100ms interval, 20% of frames lost (every frame crosses
// two cables, each losing 1-sqrt(0.8)), defaults: no verdict on either unit.
func TestDriverLossSoak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, _, router := simPair(t, Config{ClusterID: 7})
		time.Sleep(time.Minute)
		p := 1 - math.Sqrt(0.8)
		for _, port := range []*simnet.Port{a.hb, a.arp, b.hb, b.arp, router} {
			port.SetLoss(p)
		}
		before := []Counters{a.node.Counters(), b.node.Counters()}
		time.Sleep(10 * time.Minute)
		for i, u := range []*simUnit{a, b} {
			c := u.node.Counters()
			t.Logf("%+v", c)
			require.Empty(t, u.verdicts())
			require.NotZero(t, c.Suspicions)
			// The peer sent as many as this unit did.
			sent, recv := c.Sent-before[i].Sent, c.Received-before[i].Received
			require.InDelta(t, 0.2, 1-float64(recv)/float64(sent), 0.02)
		}
	})
}

func TestDriverRoleAndPayload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, _, _ := simPair(t, Config{ClusterID: 7})
		require.NoError(t, b.node.SetRole(hakit.Primary))
		require.NoError(t, b.node.SetPayload([]byte("prio=200")))
		require.ErrorIs(t, b.node.SetRole(0), hakit.ErrConfig)
		require.ErrorIs(t, b.node.SetPayload(make([]byte, MaxPayload+1)), ErrTooLarge)
		time.Sleep(time.Second)
		ps := a.node.Peers()
		require.Len(t, ps, 1)
		require.Equal(t, hakit.Primary, ps[0].Role)
		require.Equal(t, []byte("prio=200"), ps[0].Payload)
		require.Equal(t, netip.MustParseAddr("198.18.0.2"), ps[0].Links[0].Addr)
		require.Equal(t, []string{"eth0:alive"}, states(a.node.Reports()))
		require.Error(t, a.node.Start())
		require.NoError(t, a.node.Close())
		require.NoError(t, a.node.Close())
		require.ErrorIs(t, a.node.Start(), ErrClosed)
	})
}

// TestDriverOnHeard: a peer's payloads arrive through OnHeard once per
// round, each a copy, in the order the peer set them; nobody polls Peers.
func TestDriverOnHeard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []string
		cfg := Config{ClusterID: 7, OnHeard: func(h Heard) {
			if h.Peer != 1 {
				return // unit 1 hearing unit 2
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) == 0 || got[len(got)-1] != string(h.Payload) {
				got = append(got, string(h.Payload))
			}
			if len(h.Payload) > 0 {
				h.Payload[0] = 'X' // the callback's own copy
			}
		}}
		a, b, _, _ := simPair(t, cfg)
		for _, p := range []string{"one", "two", "three"} {
			require.NoError(t, a.node.SetPayload([]byte(p)))
			require.NoError(t, a.node.SendNow())
			time.Sleep(250 * ms)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, []string{"", "one", "two", "three"}, got, "unit 1's payloads at unit 2")
		require.Equal(t, []byte("three"), b.node.Peers()[0].Payload)
		rounds := b.node.Counters().Received // one interface: one frame a round
		require.NotZero(t, rounds)
	})
}

// TestDriverSendNow: a payload change sent with SendNow reaches the peer at
// once, not at the next interval; the schedule restarts from then, with no
// sequence gap (no loss counted).
func TestDriverSendNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, _, _ := simPair(t, Config{ClusterID: 7})
		time.Sleep(time.Second + 30*ms) // between two heartbeats
		synctest.Wait()
		require.NoError(t, b.node.SetPayload([]byte("new")))
		sent := b.node.Counters().Sent
		require.NoError(t, b.node.SendNow())
		require.Equal(t, sent+1, b.node.Counters().Sent)
		time.Sleep(5 * ms)
		synctest.Wait()
		require.Equal(t, []byte("new"), a.node.Peers()[0].Payload)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Zero(t, a.node.Peers()[0].Links[0].Loss)
		require.Equal(t, []string{"eth0:alive"}, states(a.node.Reports()))
		require.NoError(t, b.node.Close())
		require.ErrorIs(t, b.node.SendNow(), ErrClosed)
	})
	u := simDriver(t, simnet.New(nil), Config{ClusterID: 7, EtherType: DefaultEtherType}, 1, staticNeighbours{})
	require.ErrorIs(t, u.node.SendNow(), hakit.ErrConfig, "before Start")
	require.NoError(t, u.node.Close())
}

func TestMachineSendNow(t *testing.T) {
	m, err := NewMachine(&Config{ClusterID: 7, UnitID: 1}, Interface{Name: "eth0"}, Interface{Name: "eth1"})
	require.NoError(t, err)
	t0 := time.Unix(1000, 0)
	require.Len(t, m.SendNow(t0).Frames, 2, "before the first Tick: a Tick")
	require.Equal(t, t0.Add(100*ms), m.Next())
	out := m.SendNow(t0.Add(30 * ms))
	require.Len(t, out.Frames, 2)
	require.Equal(t, t0.Add(130*ms), m.Next(), "the schedule restarts")
	require.Empty(t, m.Tick(t0.Add(100*ms)).Frames, "nothing due at the old time")
	require.Len(t, m.Tick(t0.Add(130*ms)).Frames, 2)
}

func TestNewDriverErrors(t *testing.T) {
	_, err := NewDriver(nil, Interface{Name: "eth0"})
	require.ErrorIs(t, err, hakit.ErrConfig)
	_, err = NewDriver(&Config{Misses: -1}, Interface{Name: "eth0", Conn: NewEthernetConn(nil, 1)})
	require.ErrorIs(t, err, hakit.ErrConfig)
}
