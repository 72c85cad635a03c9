package etcd_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/witness"
	"github.com/hakit/hakit/election/witness/etcd"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/loopback"
)

// The cases of a cloud pair, composed with election/member: two units
// with heartbeats over loopback UDP (which the tests can cut), a witness
// on the real etcd server each, and an announcer that moves an address in
// a "cloud" that refuses writes with an older fencing token than the
// newest it has seen. Real clock, real sockets: each case takes a few
// seconds.

// cloud is the provider's record of where the address is, updated only
// by writes whose token is not older than the newest it took.
type cloud struct {
	mu     sync.Mutex
	target uint16
	token  uint64
	writes []write
}

type write struct {
	unit  uint16
	token uint64
	err   error
}

func (c *cloud) set(unit uint16, token uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if token < c.token {
		err = fmt.Errorf("refused: token %d is older than the record's %d", token, c.token)
	} else {
		c.target, c.token = unit, token
	}
	c.writes = append(c.writes, write{unit, token, err})
	return err
}

func (c *cloud) state() (uint16, uint64, []write) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.target, c.token, append([]write(nil), c.writes...)
}

// announcer is unit's garp.Announcer on the cloud.
type announcer struct {
	c    *cloud
	unit uint16
}

func (a announcer) Announce(_ context.Context, m garp.Move) error { return a.c.set(a.unit, m.Token) }
func (a announcer) Withdraw(context.Context, garp.Move) error     { return nil }

type cloudUnit struct {
	id    uint16
	d     *member.Driver
	w     *witness.Driver
	hb    *loopback.Cuttable
	relay *relay
}

func (u *cloudUnit) verdict() string { return u.d.Status().Witness.Verdict }

// pairLease is a 3 s lease renewed every 500 ms, each call given 1 s,
// given up 1 s before it can expire: short for quick cases, with room for
// slow calls on a loaded machine.
func pairLease() *witness.Config {
	return &witness.Config{TTL: 3 * time.Second, Interval: 500 * time.Millisecond,
		Timeout: time.Second, Margin: time.Second}
}

// startCloudPair starts units 1 (preferred) and 2 on srv and c, with
// witness settings cfg, and waits until unit 1 is primary and has
// announced with its token.
func startCloudPair(t *testing.T, srv *server, c *cloud, cfg *witness.Config) (a, b *cloudUnit) {
	t.Helper()
	var ports [2]netip.AddrPort
	conns := [2]*net.UDPConn{}
	for i := range ports {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		conns[i] = pc
		ports[i] = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	for _, pc := range conns {
		pc.Close() // free a moment ago: the units listen there now
	}
	keys, err := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("0123456789abcdef0123456789abcdef")})
	require.NoError(t, err)
	units := make([]*cloudUnit, 2)
	for i := range units {
		id := uint16(i + 1)
		r := newRelay(t, srv)
		w, err := etcd.New(newClient(t, r), key, id, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { w.Close() })
		conn, err := heartbeat.ListenUDP(ports[i], ports[1-i])
		require.NoError(t, err)
		hb := &loopback.Cuttable{Conn: conn}
		var mu sync.Mutex
		var events []member.Event
		t.Cleanup(func() {
			if t.Failed() {
				mu.Lock()
				defer mu.Unlock()
				for _, e := range events {
					t.Logf("unit %d: %s %v", id, e.Time.Format("15:04:05.000"), e)
				}
			}
		})
		d, err := member.New(&member.Config{
			OnEvent: func(e member.Event) {
				if e.Kind == member.EventHeartbeat && !e.State.Verdict() {
					return
				}
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			},
			ClusterID: 7, UnitID: id, Priority: uint8(200 - id), Keys: keys,
			Interfaces: []member.Interface{{Name: "udp", Conn: hb, ClusterOnly: true}},
			// A peer is lost after 1.5 s of silence rather than 0.8 s: on
			// a machine shared with other test binaries a unit starved of
			// CPU for 0.8 s is not a partition this test wants.
			Heartbeat: &heartbeat.Config{Misses: 5, ProbeWindow: time.Second},
			Witness:   w,
			Steps: []member.Step{member.Announce(announcer{c, id},
				garp.Move{Interface: "udp", Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.100")}})},
		})
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		units[i] = &cloudUnit{id: id, d: d, w: w, hb: hb, relay: r}
	}
	for _, u := range units {
		require.NoError(t, u.d.Start())
	}
	a, b = units[0], units[1]
	eventually(t, 20*time.Second, func() bool {
		target, token, _ := c.state()
		return a.d.Role() == hakit.Primary && b.d.Role() == hakit.Secondary && target == 1 && token != 0
	}, "unit 1 primary, its announcement in the cloud")
	require.True(t, a.w.Status().Held)
	return a, b
}

func (u *cloudUnit) cutHeartbeats(cut bool) { u.hb.Cut.Store(cut) }

// onePrimary fails if both units are primary, and returns the primaries.
func onePrimary(t *testing.T, us ...*cloudUnit) []uint16 {
	t.Helper()
	var ps []uint16
	for _, u := range us {
		if u.d.Role() == hakit.Primary {
			ps = append(ps, u.id)
		}
	}
	require.LessOrEqual(t, len(ps), 1, "both primary")
	return ps
}

// Partitioned, etcd reachable by both: exactly one primary, the other
// standby with the reason in words.
func TestPairPartition(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := &cloud{}
	a, b := startCloudPair(t, srv, c, nil)
	token := a.w.Status().Token
	a.cutHeartbeats(true)
	b.cutHeartbeats(true)
	eventually(t, 10*time.Second, func() bool { return b.d.Status().Witness.CutOff }, "unit 2 notices the partition")
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		onePrimary(t, a, b)
	}
	require.Equal(t, []uint16{1}, onePrimary(t, a, b))
	want := fmt.Sprintf("kept standby: cut off from every peer, and the lease held by unit 1 (token %d)", token)
	eventually(t, 10*time.Second, func() bool { return b.verdict() == want }, want) // an attempt may time out on a loaded machine
	require.Equal(t, []uint16{1}, onePrimary(t, a, b))
	require.Contains(t, a.verdict(), fmt.Sprintf("cut off from every peer: staying primary, holding the lease (token %d)", token))
	target, _, writes := c.state()
	require.Equal(t, uint16(1), target)
	for _, w := range writes {
		require.Equal(t, uint16(1), w.unit, "only the lease holder announces")
	}

	a.cutHeartbeats(false)
	b.cutHeartbeats(false)
	eventually(t, 5*time.Second, func() bool { return !b.d.Status().Witness.Contending }, "unit 2 hears unit 1 and stops contending")
	require.Equal(t, []uint16{1}, onePrimary(t, a, b))
}

// etcd down, the pair healthy: no role change; the primary says it keeps
// the role; once etcd is back it holds the lease again, with a new token.
func TestPairEtcdDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := &cloud{}
	a, b := startCloudPair(t, srv, c, pairLease())
	first := a.w.Status().Token
	changes := a.d.Status().Counters.Election.RoleChanges + b.d.Status().Counters.Election.RoleChanges
	srv.stop()
	eventually(t, 10*time.Second, func() bool { return !a.w.Status().Held }, "the lease lapses")
	eventually(t, 10*time.Second, func() bool {
		return strings.HasPrefix(a.verdict(), "peers heard, keeping the role: witness unreachable")
	}, "unit 1 says it keeps the role with the witness unreachable") // once a call to etcd has failed
	time.Sleep(time.Second)
	as := a.d.Status()
	require.Equal(t, hakit.Primary, as.Role)
	require.Equal(t, hakit.Secondary, b.d.Role())
	require.Equal(t, changes, as.Counters.Election.RoleChanges+b.d.Status().Counters.Election.RoleChanges, "no role change")

	srv.start()
	eventually(t, 15*time.Second, func() bool { return a.w.Status().Held }, "the lease taken again")
	require.Greater(t, a.w.Status().Token, first)
	require.Equal(t, hakit.Primary, a.d.Role())
}

// etcd down and the primary dead: the standby cannot tell a dead primary
// from a partitioned one, so it stays standby (and says so) until etcd is
// back and the dead primary's lease has expired there; then it takes over
// with a newer token.
func TestPairEtcdDownPrimaryDead(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := &cloud{}
	a, b := startCloudPair(t, srv, c, pairLease())
	first := a.w.Status().Token
	srv.stop()
	require.NoError(t, a.d.Close()) // its release cannot reach etcd
	eventually(t, 10*time.Second, func() bool { return b.d.Status().Witness.CutOff }, "unit 2 notices")
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		require.NotEqual(t, hakit.Primary, b.d.Role())
	}
	eventually(t, 10*time.Second, func() bool {
		return strings.Contains(b.verdict(), "kept standby: cut off from every peer, and witness unreachable: ")
	}, "unit 2 says the witness is unreachable")
	require.Contains(t, b.verdict(), "nobody becomes primary until the witness answers")
	require.NotEqual(t, hakit.Primary, b.d.Role())

	srv.start()
	back := time.Now()
	eventually(t, 15*time.Second, func() bool { return b.d.Role() == hakit.Primary }, "unit 2 primary once etcd is back")
	t.Logf("unit 2 primary %v after etcd came back (the dead unit's lease runs its TTL from the restart)", time.Since(back))
	eventually(t, 5*time.Second, func() bool { target, _, _ := c.state(); return target == 2 }, "unit 2's announcement")
	_, token, _ := c.state()
	require.Greater(t, token, first)
}

// The primary cut off from its peer and from etcd: it stands down when its
// lease lapses, unit 2 takes the lease after that and announces with a
// newer token; the stale primary's late write is refused.
func TestPairStalePrimary(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := &cloud{}
	a, b := startCloudPair(t, srv, c, pairLease())
	old := a.w.Status().Token
	a.relay.freeze()
	a.cutHeartbeats(true)
	b.cutHeartbeats(true)
	eventually(t, 10*time.Second, func() bool {
		onePrimary(t, a, b)
		return b.d.Role() == hakit.Primary
	}, "unit 2 takes over")
	as, bs := a.d.Status(), b.d.Status()
	require.Equal(t, hakit.Secondary, as.Role)
	require.Contains(t, as.Reason, "cut off from every peer, and the witness's lease is not held: ")
	require.True(t, bs.Since.After(as.Since), "unit 2 became primary after unit 1 stood down")
	t.Logf("unit 2 primary %v after unit 1 stood down (the margin is %v)", bs.Since.Sub(as.Since), pairLease().Margin)
	eventually(t, 5*time.Second, func() bool { target, _, _ := c.state(); return target == 2 }, "unit 2's announcement")
	_, token, writes := c.state()
	require.Greater(t, token, old)
	for _, w := range writes {
		if w.unit == 1 {
			require.Less(t, w.token, token, "every announcement of the stale primary carries an older token")
		}
	}
	// Its write held back in the frozen network arrives now: refused.
	require.ErrorContains(t, announcer{c, 1}.Announce(context.Background(), garp.Move{Token: old}), "refused")
	target, _, _ := c.state()
	require.Equal(t, uint16(2), target)
	a.relay.thaw()
}
