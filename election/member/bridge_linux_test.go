package member

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/internal/testbed"
)

// bridgeBed is two transparent units, a and b, each bridging its eth0
// (switch left) and eth1 (switch right) with br0, ports isolated.
type bridgeBed struct {
	bed         *testbed.Bed
	left, right *testbed.Bridge
	a, b        *testbed.Host
	links       map[*testbed.Host][2]*testbed.Link
	keys        *hakit.Keyring // for the steps opened, if set
}

func newBridgeBed(t *testing.T) *bridgeBed {
	bed := testbed.New(t)
	bb := &bridgeBed{bed: bed, left: bed.Bridge("left"), right: bed.Bridge("right"), links: map[*testbed.Host][2]*testbed.Link{}}
	bb.a, bb.b = bed.Host("a"), bed.Host("b")
	for _, h := range []*testbed.Host{bb.a, bb.b} {
		h.Sysctl("net.ipv6.conf.default.disable_ipv6", "1")
		bb.links[h] = [2]*testbed.Link{bed.Link(h, bb.left, "eth0"), bed.Link(h, bb.right, "eth1")}
		h.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
		h.Sysctl("net.ipv6.conf.eth1.disable_ipv6", "1")
		for _, args := range [][]string{
			{"ip", "link", "add", "br0", "type", "bridge"},
			{"ip", "link", "set", "eth0", "master", "br0"},
			{"ip", "link", "set", "eth1", "master", "br0"},
			{"bridge", "link", "set", "dev", "eth0", "isolated", "on"},
			{"bridge", "link", "set", "dev", "eth1", "isolated", "on"},
			{"ip", "link", "set", "br0", "up"},
		} {
			out, err := h.Run(args[0], args[1:]...)
			require.NoError(t, err, "%v: %s", args, out)
		}
	}
	return bb
}

// open opens the bridge step on h; with speak, with a garp.Driver for the
// learning frames.
func (bb *bridgeBed) open(t *testing.T, h *testbed.Host, unit uint16, priority uint8, speak ...bool) *BridgeStep {
	var s *BridgeStep
	var a garp.Announcer
	if len(speak) > 0 && speak[0] {
		d, err := garp.NewDriver(&garp.Config{Open: func(name string) (net.PacketConn, error) {
			var c net.PacketConn
			err := h.Do(func() error {
				ifi, err := net.InterfaceByName(name)
				if err == nil {
					c, err = garp.Listen(ifi)
				}
				return err
			})
			return c, err
		}})
		require.NoError(t, err)
		t.Cleanup(d.Stop)
		a = d
	}
	require.NoError(t, h.Do(func() error {
		var err error
		s, err = Bridge(&BridgeConfig{Bridge: "br0", Ports: [2]string{"eth0", "eth1"}, Announcer: a, Keys: bb.keys,
			Guard: &LoopGuardConfig{ClusterID: 7, UnitID: unit, Priority: priority}})
		return err
	}))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// isolated reports whether both of h's ports are isolated, from the
// kernel's own report.
func isolated(t *testing.T, h *testbed.Host) bool {
	out, err := h.Run("bridge", "-d", "link", "show")
	require.NoError(t, err)
	n := strings.Count(out, "isolated on")
	require.True(t, n == 0 || n == 2, "one port isolated, one not: %s", out)
	return n == 2
}

// TestBridgeSplitBrain needs root: two units that are both primary (a
// split brain: nothing but the probes between them, authenticated). The
// first forwards; the second stays blocked while the first forwards, and
// forwards once it stops.
func TestBridgeSplitBrain(t *testing.T) {
	bb := newBridgeBed(t)
	var err error
	bb.keys, err = hakit.NewKeyring(hakit.Key{ID: 3, Secret: bytes.Repeat([]byte{1}, 32)})
	require.NoError(t, err)
	a := bb.open(t, bb.a, 2, 200)
	b := bb.open(t, bb.b, 3, 100)
	ctx := context.Background()
	require.True(t, isolated(t, bb.a) && isolated(t, bb.b), "blocked when opened")

	require.NoError(t, a.Up(ctx))
	require.Eventually(t, func() bool { return a.Stats().Forwarding }, time.Second, 5*time.Millisecond, "a forwards: nothing else does")
	require.False(t, isolated(t, bb.a))
	require.NoError(t, b.Up(ctx))
	st := b.Stats()
	require.False(t, st.Forwarding, "b must not forward while a does: %+v", st)
	require.True(t, isolated(t, bb.b))
	time.Sleep(100 * time.Millisecond)
	require.False(t, b.Stats().Forwarding)
	require.True(t, isolated(t, bb.b))

	// a stops (demoted): b takes the traffic, a is blocked first.
	require.NoError(t, a.Down(ctx))
	require.True(t, isolated(t, bb.a))
	require.Eventually(t, func() bool { return b.Stats().Forwarding }, 2*time.Second, 5*time.Millisecond)
	require.False(t, isolated(t, bb.b))
	t.Logf("a: %+v", a.Stats())
	t.Logf("b: %+v", b.Stats())
	require.Zero(t, a.Stats().BadProbes+b.Stats().BadProbes, "every probe authenticated")
}

// TestBridgeHungForwarder needs root: a unit whose bridge forwards but
// that sends no probes (a hung daemon; here, a bridge hakit does not run
// on) is found by the crossing of b's own probes: b stays blocked.
func TestBridgeHungForwarder(t *testing.T) {
	bb := newBridgeBed(t)
	for _, p := range []string{"eth0", "eth1"} {
		out, err := bb.a.Run("bridge", "link", "set", "dev", p, "isolated", "off")
		require.NoError(t, err, out)
	}
	b := bb.open(t, bb.b, 3, 100)
	require.NoError(t, b.Up(context.Background()))
	for range 20 {
		st := b.Stats()
		require.False(t, st.Forwarding, "%+v", st)
		require.True(t, isolated(t, bb.b))
		time.Sleep(10 * time.Millisecond)
	}
	require.NotZero(t, b.Stats().Crossed)
}

// fdbPort returns the host at the end of the port br learnt mac on.
func fdbPort(br *testbed.Bridge, mac net.HardwareAddr) string {
	for _, e := range br.FDB() {
		if !e.Local && bytes.Equal(e.MAC, mac) {
			return e.Port
		}
	}
	return ""
}

// TestBridgeLearning needs root: the standby learns from the primary's
// probes which MACs are on which side; when it takes over it makes each
// switch learn the other side's hosts through its own ports, before any
// host sends a frame.
func TestBridgeLearning(t *testing.T) {
	bb := newBridgeBed(t)
	hl, hr := bb.bed.Host("hl"), bb.bed.Host("hr")
	lhl, lhr := bb.bed.Link(hl, bb.left, "eth0"), bb.bed.Link(hr, bb.right, "eth0")
	hl.AddAddr("eth0", netip.MustParsePrefix("198.18.1.1/24"))
	hr.AddAddr("eth0", netip.MustParsePrefix("198.18.1.2/24"))
	a := bb.open(t, bb.a, 2, 200)
	b := bb.open(t, bb.b, 3, 100, true)
	ctx := context.Background()
	require.NoError(t, a.Up(ctx))
	out, err := hl.Run("ping", "-c1", "-W1", "198.18.1.2")
	require.NoError(t, err, out)
	require.Equal(t, "a", fdbPort(bb.right, lhl.MAC()))
	require.Equal(t, "a", fdbPort(bb.left, lhr.MAC()))
	// a's table is read once a second, then paged into its probes.
	require.Eventually(t, func() bool { return b.Stats().Learn == [2]int{1, 1} }, 3*time.Second, 10*time.Millisecond,
		"b learns hr's MAC for its left port and hl's for its right one: a %+v, b %+v; left %+v; right %+v", a.Stats(), b.Stats(), bb.left.FDB(), bb.right.FDB())

	require.NoError(t, a.Down(ctx))
	require.NoError(t, b.Up(ctx))
	require.Eventually(t, func() bool { return b.Stats().Forwarding }, time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		return fdbPort(bb.right, lhl.MAC()) == "b" && fdbPort(bb.left, lhr.MAC()) == "b"
	}, 2*time.Second, 5*time.Millisecond, "the switches learn each side's host through b")
	require.Equal(t, "hl", fdbPort(bb.left, lhl.MAC()), "the hosts' own ports are unchanged")
	require.Equal(t, "hr", fdbPort(bb.right, lhr.MAC()))
	out, err = hl.Run("ping", "-c1", "-W1", "198.18.1.2")
	require.NoError(t, err, out)
}
