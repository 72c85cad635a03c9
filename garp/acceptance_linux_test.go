package garp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// The acceptance tests run on the test bed (root only): a client namespace
// c and two unit namespaces a and b, cabled to one Linux bridge, with the
// client's kernel neighbour table and the bridge's forwarding table as the
// observers.

var (
	vip4 = netip.MustParseAddr("198.18.0.100")
	vip6 = netip.MustParseAddr("2001:db8::100")
)

type lan struct {
	bed     *testbed.Bed
	br      *testbed.Bridge
	c, a, b *testbed.Host
	lc      *testbed.Link
	la, lb  *testbed.Link
}

func newLAN(t *testing.T) *lan {
	t.Helper()
	bed := testbed.New(t)
	l := &lan{bed: bed, br: bed.Bridge("lan"), c: bed.Host("c"), a: bed.Host("a"), b: bed.Host("b")}
	l.lc = bed.Link(l.c, l.br, "eth0")
	l.la = bed.Link(l.a, l.br, "eth0")
	l.lb = bed.Link(l.b, l.br, "eth0")
	for i, h := range []*testbed.Host{l.c, l.a, l.b} {
		h.AddAddr("eth0", netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), 24))
		h.AddAddr("eth0", netip.MustParsePrefix("2001:db8::"+strconv.Itoa(i+1)+"/64"))
	}
	return l
}

func do(t *testing.T, h *testbed.Host, f func() error) {
	t.Helper()
	require.NoError(t, h.Do(f))
}

// speaker returns a Driver whose interfaces are h's, opened inside h's
// namespace with garp.Listen.
func speaker(t *testing.T, h *testbed.Host, cfg garp.Config) *garp.Driver {
	t.Helper()
	cfg.Open = func(name string) (net.PacketConn, error) {
		var c net.PacketConn
		err := h.Do(func() error {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return err
			}
			c, err = garp.Listen(ifi)
			return err
		})
		return c, err
	}
	s, err := garp.NewDriver(&cfg)
	require.NoError(t, err)
	t.Cleanup(s.Stop) // closes the sockets before the namespaces go
	return s
}

// neighbour returns the MAC of ip in h's neighbour table on eth0, or nil.
func neighbour(t *testing.T, h *testbed.Host, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	for _, n := range h.Neighbours("eth0") {
		if n.IP == ip {
			return n.MAC
		}
	}
	return nil
}

// fdbPort returns the host behind the port on which br learnt mac, or "".
func fdbPort(t *testing.T, br *testbed.Bridge, mac net.HardwareAddr) string {
	t.Helper()
	for _, e := range br.FDB() {
		if !e.Local && bytes.Equal(e.MAC, mac) {
			return e.Port
		}
	}
	return ""
}

// echoReplies returns how many ICMP (or ICMPv6) echo replies h has sent.
func echoReplies(t *testing.T, h *testbed.Host, v6 bool) int {
	t.Helper()
	if v6 {
		out, err := h.Run("cat", "/proc/net/snmp6")
		require.NoError(t, err)
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Icmp6OutEchoReplies" {
				n, err := strconv.Atoi(f[1])
				require.NoError(t, err)
				return n
			}
		}
		t.Fatal("no Icmp6OutEchoReplies in /proc/net/snmp6")
	}
	out, err := h.Run("cat", "/proc/net/snmp")
	require.NoError(t, err)
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "Icmp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "OutEchoReps" {
				n, err := strconv.Atoi(f[i])
				require.NoError(t, err)
				return n
			}
		}
	}
	t.Fatal("no Icmp OutEchoReps in /proc/net/snmp")
	return 0
}

func ping(t *testing.T, h *testbed.Host, ip netip.Addr) {
	t.Helper()
	out, err := h.Run("ping", "-c", "1", "-W", "2", ip.String())
	require.NoError(t, err, out)
}

func addVIP(t *testing.T, h *testbed.Host, ip netip.Addr) *vmac.Handle {
	t.Helper()
	var hd *vmac.Handle
	do(t, h, func() (err error) { hd, err = vmac.AddVIPs("eth0", ip); return err })
	return hd
}

func release(t *testing.T, h *testbed.Host, hd *vmac.Handle) {
	t.Helper()
	do(t, h, hd.Release)
}

// TestAcceptIPMove: the VIP moves from unit a to unit b, each answering with
// its own MAC. After b's burst the client's existing neighbour entry holds
// b's MAC, and b answers the client's ping.
//
// Linux updates an existing entry from any ARP it gets from the address, but
// within locktime (net.ipv4.neigh.*.locktime, 1 s by default) of the last
// update only if the ARP is gratuitous: arp_is_garp wants sender IP ==
// target IP, and for the reply form target MAC == sender MAC, which is how
// Marshal builds them. No sysctl is needed on the client for that; we raise
// the client's locktime to 10 s so that the test fails if the update came
// from the lock expiring rather than from the gratuitous-ARP override. New
// entries are another matter (arp_accept, off by default, governs them), but
// a client that never talked to the VIP has no stale entry to fix.
func TestAcceptIPMove(t *testing.T) {
	l := newLAN(t)
	l.c.Sysctl("net.ipv4.neigh.eth0.locktime", "1000") // in USER_HZ: 10 s

	moves := []struct {
		form     garp.ARPForm
		from, to *testbed.Host
		fromL    *testbed.Link
		toL      *testbed.Link
	}{
		{garp.RequestForm, l.a, l.b, l.la, l.lb},
		{garp.ReplyForm, l.b, l.a, l.lb, l.la}, // and back, in reply form
	}
	hd := addVIP(t, l.a, vip4)
	ping(t, l.c, vip4)
	require.Equal(t, l.la.MAC(), neighbour(t, l.c, vip4))

	for _, m := range moves {
		release(t, m.from, hd)
		hd = addVIP(t, m.to, vip4)
		// Adding the address told the client nothing.
		require.Equal(t, m.fromL.MAC(), neighbour(t, l.c, vip4))

		before := echoReplies(t, m.to, false)
		s := speaker(t, m.to, garp.Config{ARP: m.form})
		require.NoError(t, s.Announce(context.Background(), garp.Move{
			Interface: "eth0", MAC: m.toL.MAC(), Addrs: []netip.Addr{vip4},
		}))
		require.Eventually(t, func() bool {
			return bytes.Equal(neighbour(t, l.c, vip4), m.toL.MAC())
		}, 5*time.Second, 10*time.Millisecond, "the client's entry did not follow the %v", m.form)

		ping(t, l.c, vip4)
		require.Greater(t, echoReplies(t, m.to, false), before, "%s did not answer", m.to.Name())
		s.Stop()
	}
}

// TestAcceptVirtualMAC: the VIP and the virtual MAC move together from a to
// b. The client's neighbour entry never changes; the bridge moves the
// virtual MAC to b's port when b's burst arrives; the client's pings are
// answered by b.
func TestAcceptVirtualMAC(t *testing.T) {
	l := newLAN(t)
	// No IPv6 on the units' interfaces: a MAC change would make the kernel
	// send MLD or DAD frames from the virtual MAC itself and teach the
	// bridge before our burst does, and this test must see the burst's
	// effect alone.
	for _, h := range []*testbed.Host{l.a, l.b} {
		h.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
	}
	vm, err := vmac.VRRPMAC(7)
	require.NoError(t, err)
	take := vmac.Takeover{Interface: "eth0", MAC: vm, VIPs: []netip.Addr{vip4}}

	var ha, hb *vmac.Handle
	do(t, l.a, func() (err error) { ha, err = vmac.Apply(take); return err })
	ping(t, l.c, vip4)
	require.Equal(t, vm, neighbour(t, l.c, vip4))
	require.Equal(t, "a", fdbPort(t, l.br, vm))

	// a steps down, cleanly: its own MAC back, the VIP gone, cable in. The
	// bridge still sends the virtual MAC's frames to a.
	release(t, l.a, ha)
	do(t, l.b, func() (err error) { hb, err = vmac.Apply(take); return err })
	t.Cleanup(func() { _ = l.b.Do(hb.Release) })
	require.Equal(t, "a", fdbPort(t, l.br, vm), "the bridge learnt b before the burst")

	before := echoReplies(t, l.b, false)
	s := speaker(t, l.b, garp.Config{})
	require.NoError(t, s.Announce(context.Background(), garp.Move{Interface: "eth0", MAC: vm, Addrs: []netip.Addr{vip4}}))
	require.Eventually(t, func() bool { return fdbPort(t, l.br, vm) == "b" }, 5*time.Second, 10*time.Millisecond)

	require.Equal(t, vm, neighbour(t, l.c, vip4), "the client's entry changed")
	ping(t, l.c, vip4)
	require.Greater(t, echoReplies(t, l.b, false), before, "b did not answer")
	require.Equal(t, vm, neighbour(t, l.c, vip4), "the client's entry changed")
}

// TestAcceptIPv6: an IPv6 VIP moves from a to b; the client's neighbour
// entry follows b's unsolicited neighbour advertisement (Override set), and
// b answers the client's ping.
func TestAcceptIPv6(t *testing.T) {
	l := newLAN(t)
	hd := addVIP(t, l.a, vip6)
	ping(t, l.c, vip6)
	require.Equal(t, l.la.MAC(), neighbour(t, l.c, vip6))

	release(t, l.a, hd)
	addVIP(t, l.b, vip6)
	require.Equal(t, l.la.MAC(), neighbour(t, l.c, vip6), "adding the address told the client")

	before := echoReplies(t, l.b, true)
	s := speaker(t, l.b, garp.Config{})
	require.NoError(t, s.Announce(context.Background(), garp.Move{Interface: "eth0", MAC: l.lb.MAC(), Addrs: []netip.Addr{vip6}}))
	require.Eventually(t, func() bool {
		return bytes.Equal(neighbour(t, l.c, vip6), l.lb.MAC())
	}, 5*time.Second, 10*time.Millisecond)
	ping(t, l.c, vip6)
	require.Greater(t, echoReplies(t, l.b, true), before, "b did not answer")
	require.NotZero(t, s.Stats().SentNA)
}

// capture opens a raw socket in h's namespace that receives ARP frames
// arriving on eth0.
func capture(t *testing.T, h *testbed.Host, ethertype int) *packet.Conn {
	t.Helper()
	var c *packet.Conn
	do(t, h, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, ethertype, nil)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAcceptRefresh: after a takeover burst of one pass, the refresh keeps
// announcing, as seen by a raw socket in the client's namespace.
func TestAcceptRefresh(t *testing.T) {
	l := newLAN(t)
	addVIP(t, l.b, vip4)
	conn := capture(t, l.c, 0x0806)

	sc := garp.Schedule{Burst: 1, Refresh: 100 * time.Millisecond, Rate: 100, RateBurst: 10}
	s := speaker(t, l.b, garp.Config{Schedule: &sc})
	start := time.Now()
	require.NoError(t, s.Announce(context.Background(), garp.Move{Interface: "eth0", MAC: l.lb.MAC(), Addrs: []netip.Addr{vip4}}))

	want := garp.Announcement{Kind: garp.GARPRequest, MAC: l.lb.MAC(), Addr: vip4}
	var at []time.Duration
	buf := make([]byte, 1500)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for len(at) < 5 {
		n, _, err := conn.ReadFrom(buf)
		require.NoError(t, err, "after %d announcements", len(at))
		if a, err := garp.Parse(buf[:n]); err == nil && a.Addr == vip4 {
			require.Equal(t, want, a)
			at = append(at, time.Since(start))
		}
	}
	// One pass in the burst: all but the first were refreshes.
	t.Logf("announcements seen at %v (refresh every %v)", at, sc.Refresh)
	require.GreaterOrEqual(t, s.Stats().SentARP, uint64(5))
}

// TestAcceptTransparent: a transparent (bridge-mode) cluster between two
// segments. Unit a bridges them; the switches on each side learn the other
// side's hosts on a's ports. a stops forwarding (its cables stay in, so the
// switches keep pointing at it); b takes over and, from the MACs known on
// each side, makes each switch learn the other side's hosts on b's ports.
func TestAcceptTransparent(t *testing.T) {
	bed := testbed.New(t)
	left, right := bed.Bridge("left"), bed.Bridge("right")
	hl, hr := bed.Host("hl"), bed.Host("hr")
	a, b := bed.Host("a"), bed.Host("b")
	lhl := bed.Link(hl, left, "eth0")
	lhr := bed.Link(hr, right, "eth0")
	// No IPv6 anywhere: its background chatter (router solicitations, MLD
	// reports) would teach the switches the hosts' MACs through whichever
	// unit bridges, and this test must see the announcement's effect alone.
	hl.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
	hr.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
	for _, u := range []*testbed.Host{a, b} {
		u.Sysctl("net.ipv6.conf.default.disable_ipv6", "1") // for br0
		bed.Link(u, left, "eth0")
		bed.Link(u, right, "eth1")
		u.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
		u.Sysctl("net.ipv6.conf.eth1.disable_ipv6", "1")
	}
	hl.AddAddr("eth0", netip.MustParsePrefix("198.18.1.1/24"))
	hr.AddAddr("eth0", netip.MustParsePrefix("198.18.1.2/24"))

	bridge := func(u *testbed.Host) {
		t.Helper()
		for _, args := range [][]string{
			{"link", "add", "br0", "type", "bridge"},
			{"link", "set", "eth0", "master", "br0"},
			{"link", "set", "eth1", "master", "br0"},
			{"link", "set", "br0", "up"},
		} {
			out, err := u.Run("ip", args...)
			require.NoError(t, err, out)
		}
	}
	bridge(a)
	ping(t, hl, netip.MustParseAddr("198.18.1.2"))
	require.Equal(t, "a", fdbPort(t, right, lhl.MAC()))
	require.Equal(t, "a", fdbPort(t, left, lhr.MAC()))

	// a fails to forward; b takes over: it bridges too, and announces.
	out, err := a.Run("ip", "link", "del", "br0")
	require.NoError(t, err, out)
	bridge(b)
	require.Equal(t, "a", fdbPort(t, right, lhl.MAC()), "learnt b before the announcement")
	require.Equal(t, "a", fdbPort(t, left, lhr.MAC()), "learnt b before the announcement")

	s := speaker(t, b, garp.Config{})
	ctx := context.Background()
	// The caller knows each side's MACs (here: the hosts'; in a daemon:
	// the unit's bridge FDB) and announces each side's on the other side.
	require.NoError(t, s.Announce(ctx, garp.Move{Interface: "eth1", Learn: []net.HardwareAddr{lhl.MAC()}}))
	require.NoError(t, s.Announce(ctx, garp.Move{Interface: "eth0", Learn: []net.HardwareAddr{lhr.MAC()}}))
	require.Eventually(t, func() bool {
		return fdbPort(t, right, lhl.MAC()) == "b" && fdbPort(t, left, lhr.MAC()) == "b"
	}, 5*time.Second, 10*time.Millisecond)
	// The hosts' own ports are unchanged, and traffic flows through b.
	require.Equal(t, "hl", fdbPort(t, left, lhl.MAC()))
	require.Equal(t, "hr", fdbPort(t, right, lhr.MAC()))
	ping(t, hl, netip.MustParseAddr("198.18.1.2"))
	require.GreaterOrEqual(t, s.Stats().SentLearn, uint64(2))
}

// TestAcceptCollision: two clusters with the same cluster ID on one bridge.
// Unit a, primary of ours, holds the derived virtual MAC and watches with
// vmac's Monitor; unit b, primary of the other cluster, derives the same
// MAC, takes it and announces it. a reports the collision from b's burst.
func TestAcceptCollision(t *testing.T) {
	l := newLAN(t)
	for _, h := range []*testbed.Host{l.a, l.b} {
		h.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
	}
	const clusterID = 12
	vm, err := vmac.NetDefendMAC(clusterID, 0)
	require.NoError(t, err)
	g, err := vmac.NewGuard(&vmac.GuardConfig{
		ClusterID:   clusterID,
		Self:        1,
		Members:     map[uint16][]net.HardwareAddr{1: {l.la.MAC()}, 2: nil},
		VirtualMACs: []net.HardwareAddr{vm},
	})
	require.NoError(t, err)
	var mu sync.Mutex
	var found []*vmac.CollisionError
	m := vmac.NewGuardDriver(g, func(ce *vmac.CollisionError) {
		mu.Lock()
		found = append(found, ce)
		mu.Unlock()
	}, nil)

	var conn net.PacketConn
	do(t, l.a, func() error {
		if _, err := vmac.Apply(vmac.Takeover{Interface: "eth0", MAC: vm, VIPs: []netip.Addr{vip4}}); err != nil {
			return err
		}
		var err error
		conn, err = vmac.ListenFrames("eth0", []net.HardwareAddr{vm})
		return err
	})
	m.SetHolding(true)
	done := make(chan error, 1)
	go func() { done <- m.Serve("eth0", conn) }()
	t.Cleanup(func() {
		conn.Close()
		require.NoError(t, <-done)
	})

	// The other cluster's primary comes up with the same identity.
	do(t, l.b, func() error {
		_, err := vmac.Apply(vmac.Takeover{Interface: "eth0", MAC: vm, VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.200")}})
		return err
	})
	s := speaker(t, l.b, garp.Config{})
	require.NoError(t, s.Announce(context.Background(), garp.Move{
		Interface: "eth0", MAC: vm, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.200")},
	}))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(found) > 0
	}, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	ce := found[0]
	mu.Unlock()
	require.ErrorIs(t, ce, vmac.ErrCollision)
	require.Equal(t, vmac.ForeignVirtualMAC, ce.Kind)
	require.Equal(t, vm.String(), ce.MAC.String())
}

// takeover256 announces 256 VIPs on b's eth0 with the default schedule and
// returns how long the Announce call took (it writes the first pass), and,
// as seen by a raw socket in the client's namespace, the time from the call
// to the 256th frame (every VIP announced once) and to the 1280th (the end
// of the takeover burst of 5 passes).
func takeover256(t testing.TB, s *garp.Driver, conn *packet.Conn, m garp.Move) (call, first, burst time.Duration) {
	buf := make([]byte, 1500)
	want := 256 * 5
	seen := 0
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	start := time.Now()
	require.NoError(t, s.Announce(context.Background(), m))
	call = time.Since(start)
	for seen < want {
		n, _, err := conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("saw %d of %d frames", seen, want)
		}
		require.NoError(t, err)
		a, err := garp.Parse(buf[:n])
		if err != nil || !bytes.Equal(a.MAC, m.MAC) {
			continue
		}
		seen++
		if seen == 256 {
			first = time.Since(start)
		}
	}
	burst = time.Since(start)
	st, err := conn.Stats()
	require.NoError(t, err)
	require.Zero(t, st.Drops, "the capture socket dropped frames: the figures are wrong")
	return call, first, burst
}

func setup256(t testing.TB, tb *testbed.Bed) (*garp.Driver, *packet.Conn, garp.Move) {
	br := tb.Bridge("lan")
	c, b := tb.Host("c"), tb.Host("b")
	tb.Link(c, br, "eth0")
	lb := tb.Link(b, br, "eth0")
	c.AddAddr("eth0", netip.MustParsePrefix("198.18.0.1/16"))
	b.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/16"))
	m := garp.Move{Interface: "eth0", MAC: lb.MAC()}
	for i := range 256 {
		m.Addrs = append(m.Addrs, netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}))
	}
	var conn *packet.Conn
	err := c.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, 0x0806, nil)
		if err != nil {
			return err
		}
		// Room for the whole burst, so that the reader's scheduling
		// does not drop frames.
		rc, err := conn.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setRcvbuf(int(fd), 8<<20) }); err != nil {
			return err
		}
		return serr
	})
	require.NoError(t, err)
	s, err := garp.NewDriver(&garp.Config{Open: func(name string) (net.PacketConn, error) {
		var pc net.PacketConn
		err := b.Do(func() error {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return err
			}
			pc, err = garp.Listen(ifi)
			return err
		})
		return pc, err
	}})
	require.NoError(t, err)
	return s, conn, m
}

// TestAcceptTakeover256 checks that a takeover of 256 VIPs on one interface
// puts all 5 passes on the wire, and logs how long it took (no timing
// assertion; BenchmarkTakeover256 measures it).
func TestAcceptTakeover256(t *testing.T) {
	tb := testbed.New(t)
	s, conn, m := setup256(t, tb)
	t.Cleanup(func() { conn.Close() })
	t.Cleanup(s.Stop)
	call, first, burst := takeover256(t, s, conn, m)
	t.Logf("256 VIPs: Announce returned after %v, every VIP announced once after %v, the 5-pass burst done after %v (default schedule: rate limit %d/s, bucket %d)",
		call, first, burst, garp.DefaultSchedule().Rate, garp.DefaultSchedule().RateBurst)
	require.Equal(t, uint64(256*5), s.Stats().SentARP)
}

// BenchmarkTakeover256 measures, on the test bed, the time from Announce to
// the last frame of the first pass (every one of 256 VIPs announced once) and
// of the whole first burst (5 passes, paced by the default rate limit), on
// the wire as the client's raw socket sees it. "cold" opens the unit's
// AF_PACKET socket inside the call (Stop closed it), "warm" finds it open.
func BenchmarkTakeover256(b *testing.B) {
	for _, cold := range []bool{true, false} {
		name := map[bool]string{true: "cold", false: "warm"}[cold]
		b.Run(name, func(b *testing.B) {
			tb := testbed.New(b)
			s, conn, m := setup256(b, tb)
			b.Cleanup(func() { conn.Close() })
			b.Cleanup(s.Stop)
			if !cold {
				takeover256(b, s, conn, m) // opens the socket
			}
			var call, first, burst []time.Duration
			for b.Loop() {
				if !cold {
					// Let the interface's token bucket refill, as it
					// would have between two real takeovers.
					b.StopTimer()
					time.Sleep(400 * time.Millisecond)
					b.StartTimer()
				}
				c, f, bu := takeover256(b, s, conn, m)
				call = append(call, c)
				first = append(first, f)
				burst = append(burst, bu)
				if cold {
					b.StopTimer()
					s.Stop()
					b.StartTimer()
				}
			}
			// Medians and maxima: the bed shares its CPUs with whatever
			// else runs, and a mean would hide that.
			slices.Sort(call)
			slices.Sort(first)
			slices.Sort(burst)
			b.ReportMetric(float64(call[len(call)/2].Microseconds()), "µs/call-p50")
			b.ReportMetric(float64(first[len(first)/2].Microseconds()), "µs/first-pass-p50")
			b.ReportMetric(float64(first[len(first)-1].Microseconds()), "µs/first-pass-max")
			b.ReportMetric(float64(burst[len(burst)/2].Microseconds()), "µs/burst-p50")
		})
	}
}

// TestAcceptInterfaceGone: the interface is deleted in the middle of the
// burst. The Driver counts the failed writes and reopen attempts, drops the
// frames it cannot send, and stops cleanly; nothing panics. Announcing on an
// interface that does not exist fails with ErrInterface.
func TestAcceptInterfaceGone(t *testing.T) {
	l := newLAN(t)
	sc := garp.Schedule{Burst: 10, Spacing: 50 * time.Millisecond, Rate: 1000, RateBurst: 16}
	s := speaker(t, l.b, garp.Config{Schedule: &sc})
	m := garp.Move{Interface: "eth0", MAC: l.lb.MAC(), Addrs: []netip.Addr{vip4, vip6}}
	require.NoError(t, s.Announce(context.Background(), m))
	require.Equal(t, uint64(2), s.Stats().Sent())

	out, err := l.b.Run("ip", "link", "del", "eth0")
	require.NoError(t, err, out)
	require.Eventually(t, func() bool {
		st := s.Stats()
		return st.Dropped >= 4 && st.OpenErrors >= 2
	}, 5*time.Second, 10*time.Millisecond)
	st := s.Stats()
	t.Logf("after the interface went away: %+v", st)
	require.Less(t, st.Sent(), uint64(2*10))
	s.Stop()

	err = s.Announce(context.Background(), m)
	require.ErrorIs(t, err, garp.ErrInterface)
	t.Log(err)
}
