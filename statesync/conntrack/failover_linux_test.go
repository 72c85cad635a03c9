package conntrack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// firewall is one unit of the pair: its links to the client bridge, the
// server bridge and the sync bridge.
type firewall struct {
	h                    *testbed.Host
	client, server, sync *testbed.Link
}

// The addresses of the failover test bed.
var (
	vmac       = net.HardwareAddr{0x02, 0x00, 0x5e, 0xc1, 0x4a, 0x01} // shared by A and B on both sides
	gwClient   = netip.MustParsePrefix("198.18.1.1/24")
	gwServer   = netip.MustParsePrefix("198.18.2.1/24")
	clientAddr = netip.MustParsePrefix("198.18.1.10/24")
	serverAddr = netip.MustParsePrefix("198.18.2.10/24")
)

// ruleset is the firewall policy: forward only established and related
// traffic, plus new connections from the client side.
const ruleset = `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "eth0" ct state new accept
		counter comment "dropped"
	}
}`

// natRuleset adds source NAT: the server sees the firewall's address.
const natRuleset = `table ip nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" snat to 198.18.2.1
	}
}`

func newFirewall(t *testing.T, bed *testbed.Bed, name string, c, s, y *testbed.Bridge, nat bool) *firewall {
	t.Helper()
	h := bed.Host(name)
	fw := &firewall{h: h, client: bed.Link(h, c, "eth0"), server: bed.Link(h, s, "eth1"), sync: bed.Link(h, y, "eth2")}
	fw.client.SetMAC(vmac)
	fw.server.SetMAC(vmac)
	h.AddAddr("eth0", gwClient)
	h.AddAddr("eth1", gwServer)
	h.Sysctl("net.ipv4.ip_forward", "1")
	h.Sysctl("net.netfilter.nf_conntrack_tcp_loose", "0")
	h.Sysctl("net.netfilter.nf_conntrack_events", "1")
	rules := ruleset
	if nat {
		rules += "\n" + natRuleset
	}
	cmd := h.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "nft: %s", out)
	return fw
}

// detach pulls the firewall's client and server cables at the switches;
// attach plugs them in.
func (fw *firewall) detach() { fw.client.Down(); fw.server.Down() }
func (fw *firewall) attach() { fw.client.Up(); fw.server.Up() }

// exchange writes msg on from and expects it on to within timeout.
func exchange(t *testing.T, from, to net.Conn, msg string, timeout time.Duration) error {
	t.Helper()
	if _, err := from.Write([]byte(msg)); err != nil {
		return err
	}
	require.NoError(t, to.SetReadDeadline(time.Now().Add(timeout)))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(to, buf); err != nil {
		return err
	}
	require.Equal(t, msg, string(buf))
	return nil
}

// bedPair is the failover test bed: a client and a server on either side
// of two firewalls A and B (shared MAC and gateway addresses), A's
// conntrack table followed into tableA and replicated over AF_PACKET on a
// sync bridge into tableB. B is the standby: its traffic links are
// unplugged.
type bedPair struct {
	bed            *testbed.Bed
	client, server *testbed.Host
	a, b           *firewall
	tableA, tableB *statesync.Table
	send, recv     *statesync.Driver
	follower       *Follower
}

// pairOpts vary the bed.
type pairOpts struct {
	nat      bool
	sysctls  []string // key, value pairs set on both firewalls
	rules    string   // more nftables rules for both firewalls
	follower *Config  // A's follower config; Sink is set to the sender
}

func newBedPair(t *testing.T, o pairOpts) *bedPair {
	t.Helper()
	p := &bedPair{bed: testbed.New(t)}
	cbr, sbr, ybr := p.bed.Bridge("c"), p.bed.Bridge("s"), p.bed.Bridge("y")
	p.client, p.server = p.bed.Host("client"), p.bed.Host("server")
	p.bed.Link(p.client, cbr, "eth0")
	p.bed.Link(p.server, sbr, "eth0")
	p.client.AddAddr("eth0", clientAddr)
	p.server.AddAddr("eth0", serverAddr)
	_, err := p.client.Run("ip", "route", "add", "default", "via", gwClient.Addr().String())
	require.NoError(t, err)
	_, err = p.server.Run("ip", "route", "add", "default", "via", gwServer.Addr().String())
	require.NoError(t, err)
	p.a = newFirewall(t, p.bed, "fwa", cbr, sbr, ybr, o.nat)
	p.b = newFirewall(t, p.bed, "fwb", cbr, sbr, ybr, o.nat)
	for i := 0; i+1 < len(o.sysctls); i += 2 {
		p.a.h.Sysctl(o.sysctls[i], o.sysctls[i+1])
		p.b.h.Sysctl(o.sysctls[i], o.sysctls[i+1])
	}
	if o.rules != "" {
		for _, fw := range []*firewall{p.a, p.b} {
			cmd := fw.h.Command("nft", "-f", "-")
			cmd.Stdin = strings.NewReader(o.rules)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "nft: %s", out)
		}
	}
	p.b.detach() // B is the standby: its traffic links are not plugged in

	// Replication A → B over the sync bridge.
	p.tableA, p.tableB = statesync.NewTable(0), statesync.NewTable(0)
	var trA, trB *statesync.EthernetTransport
	require.NoError(t, p.a.h.Do(func() error {
		var err error
		trA, err = statesync.ListenEthernet(p.a.h.Interface("eth2"), 0, p.b.sync.MAC())
		return err
	}))
	require.NoError(t, p.b.h.Do(func() error {
		var err error
		trB, err = statesync.ListenEthernet(p.b.h.Interface("eth2"), 0, p.a.sync.MAC())
		return err
	}))
	p.recv, err = statesync.NewDriver(&statesync.DriverConfig{Transport: trB, Table: p.tableB, Receive: true})
	require.NoError(t, err)
	t.Cleanup(func() { p.recv.Close() })
	p.send, err = statesync.NewDriver(&statesync.DriverConfig{Transport: trA, Table: p.tableA, Send: true, Sender: &statesync.SenderConfig{MTU: 1500}})
	require.NoError(t, err)
	t.Cleanup(func() { p.send.Close() })

	// A follows its kernel's table into the sender.
	fc := Config{}
	if o.follower != nil {
		fc = *o.follower
	}
	fc.Sink = p.send
	require.NoError(t, p.a.h.Do(func() error {
		var err error
		p.follower, err = DialFollower(p.tableA, &fc)
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- p.follower.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.ErrorIs(t, <-followed, context.Canceled)
	})
	return p
}

// listenTCP listens on the server.
func (p *bedPair) listenTCP(t *testing.T) net.Listener {
	t.Helper()
	var ln net.Listener
	require.NoError(t, p.server.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(serverAddr.Addr(), 8080).String())
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects the client to ln through the firewalls.
func (p *bedPair) dial(t *testing.T, ln net.Listener) (c, s net.Conn) {
	t.Helper()
	require.NoError(t, p.client.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}))
	s, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// waitReplica waits until B's replica is in sync and holds keys, in
// the given TCP state for TCP ones.
func (p *bedPair) waitReplica(t *testing.T, state uint8, keys ...statesync.Key) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, k := range keys {
			s, ok := p.tableB.Get(k)
			if !ok || k.Proto == 6 && s.State != state {
				return false
			}
		}
		return p.recv.InSync()
	}, 10*time.Second, 5*time.Millisecond, "B's replica: %d sessions, %+v", p.tableB.Len(), p.recv.ReceiverStats())
}

func keyOf(c net.Conn) statesync.Key {
	k := statesync.Key{Proto: 6,
		Src: netip.MustParseAddrPort(c.LocalAddr().String()),
		Dst: netip.MustParseAddrPort(c.RemoteAddr().String())}
	if _, ok := c.LocalAddr().(*net.UDPAddr); ok {
		k.Proto = 17
	}
	return k
}

// TestFailoverKeepsTCP needs root. Two firewalls A and B between a client
// and a server, with a conntrack policy that forwards only established
// traffic (and new connections from the client) and
// nf_conntrack_tcp_loose=0, so that a firewall without the connection's
// entry drops its mid-stream segments. Two TCP connections are
// established through A; A's conntrack table is followed into a
// statesync.Table and replicated to B over AF_PACKET on a sync bridge; B
// commits, injecting everything but the second connection (the negative
// control) into its kernel; the gateway (shared MAC and addresses) moves to
// B. The first connection carries data both ways through B; the second
// stalls, and B's policy counts its dropped segments.
func TestFailoverKeepsTCP(t *testing.T) { testFailover(t, false) }

// TestFailoverKeepsNATedTCP needs root: TestFailoverKeepsTCP with both
// firewalls translating the client's address to their own (source NAT):
// B must translate the connection's packets as A did.
func TestFailoverKeepsNATedTCP(t *testing.T) { testFailover(t, true) }

func testFailover(t *testing.T, nat bool) {
	p := newBedPair(t, pairOpts{nat: nat})
	ln := p.listenTCP(t)
	c1, s1 := p.dial(t, ln)
	c2, s2 := p.dial(t, ln)
	require.NoError(t, exchange(t, c1, s1, "hello through A", 5*time.Second))
	require.NoError(t, exchange(t, s1, c1, "reply through A", 5*time.Second))
	require.NoError(t, exchange(t, c2, s2, "control through A", 5*time.Second))

	k1, k2 := keyOf(c1), keyOf(c2)
	seen := netip.MustParseAddrPort(s1.RemoteAddr().String()).Addr()
	if nat {
		require.Equal(t, gwServer.Addr(), seen, "the server sees the firewall")
	} else {
		require.Equal(t, clientAddr.Addr(), seen, "the server sees the client")
	}

	// B holds A's table, established connections included.
	p.waitReplica(t, statesync.TCPStateEstablished, k1, k2)

	// Failover: A dies, B commits then takes the gateway.
	p.a.detach()
	res := p.recv.Commit()
	t.Logf("commit: %+v; B holds %d sessions", res, p.tableB.Len())
	_, ok := p.tableB.Delete(k2) // the negative control is not injected
	require.True(t, ok)
	inj := dialInjector(t, p.b.h)
	n, err := inj.Commit(time.Now(), p.tableB)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1)
	t.Logf("injected %d sessions into B: %+v", n, inj.Stats())
	p.b.attach()

	// The same connection carries data both ways through B.
	require.NoError(t, exchange(t, c1, s1, "hello through B", 10*time.Second))
	require.NoError(t, exchange(t, s1, c1, "reply through B", 10*time.Second))
	for i := range 20 {
		msg := "more data through B #" + string(rune('a'+i))
		require.NoError(t, exchange(t, c1, s1, msg, 5*time.Second))
	}

	// The control, unknown to B's kernel, is dropped mid-stream.
	err = exchange(t, c2, s2, "control through B", 2*time.Second)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the control connection must stall at B")
	out, err := p.b.h.Run("nft", "list", "chain", "inet", "fw", "forward")
	require.NoError(t, err)
	require.NotContains(t, out, "counter packets 0 ", "B's policy dropped the control's segments:\n%s", out)
	got := dumpSessions(t, p.b.h)
	require.Contains(t, got, k1)
	require.NotContains(t, got, k2)
	e1 := got[k1]
	require.Equal(t, nat, e1.NAT(), "B's entry: %+v", e1)
	if nat {
		require.Equal(t, netip.MustParseAddrPort(s1.RemoteAddr().String()), got[k1].ReplyDst)
		require.Equal(t, uint64(1), inj.Stats().InjectedNAT)
	}
}

// TestFailoverKeepsBusyFlows needs root: flows busier than their conntrack
// timeout survive a takeover. Both firewalls run with
// nf_conntrack_tcp_timeout_established=5 and
// nf_conntrack_udp_timeout_stream=5; a TCP connection and a UDP flow echo
// every 100 ms through A for 12 s. The kernel pushes their timeouts
// forward with every packet without an event, so the deadlines the
// follower took from the events are long past; its refresh reads the
// kernel's and replicates them. Then A dies and B takes over: after the
// commit B's kernel holds both flows, the server's next UDP datagram
// reaches the client (B drops a new UDP flow from the server side), and
// the TCP connection carries data both ways. Two standbys: "cold" injects
// the replica at commit, "warm" follows it into B's kernel all along
// (Injector.Follow) and commits only the tail.
func TestFailoverKeepsBusyFlows(t *testing.T) {
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "cold", true: "warm"}[warm]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testBusyFlows(t, warm)
		})
	}
}

func testBusyFlows(t *testing.T, warm bool) {
	const timeout = 5 * time.Second
	p := newBedPair(t, pairOpts{sysctls: []string{
		"net.netfilter.nf_conntrack_tcp_timeout_established", "5",
		"net.netfilter.nf_conntrack_udp_timeout_stream", "5",
	}})
	inj := dialInjector(t, p.b.h)
	following := make(chan error, 1)
	if warm {
		go func() { following <- inj.Follow(context.Background(), p.tableB) }()
	}

	// A TCP echo and a UDP echo on the server.
	ln := p.listenTCP(t)
	c, s := p.dial(t, ln)
	go io.Copy(s, s)
	var us *net.UDPConn
	require.NoError(t, p.server.Do(func() error {
		var err error
		us, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(serverAddr.Addr(), 5353)))
		return err
	}))
	t.Cleanup(func() { us.Close() })
	peer := make(chan net.Addr, 1)
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := us.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case peer <- from:
			default:
			}
			us.WriteTo(buf[:n], from)
		}
	}()
	var uc net.Conn
	require.NoError(t, p.client.Do(func() error {
		var err error
		uc, err = net.Dial("udp4", us.LocalAddr().String())
		return err
	}))
	t.Cleanup(func() { uc.Close() })
	kt, ku := keyOf(c), keyOf(uc)

	// Busy for 12 s: an echo every 100 ms on each.
	start := time.Now()
	for i := 0; time.Since(start) < 12*time.Second; i++ {
		msg := fmt.Sprintf("ping %04d", i)
		require.NoError(t, exchange(t, c, c, msg, time.Second), "TCP through A, round %d", i)
		require.NoError(t, exchange(t, uc, uc, msg, time.Second), "UDP through A, round %d", i)
		time.Sleep(100 * time.Millisecond)
	}
	p.waitReplica(t, statesync.TCPStateEstablished, kt, ku)
	st := p.follower.Stats()
	t.Logf("follower: %+v", st)
	require.NotZero(t, st.Refreshed, "the refresh found the busy flows")
	for _, k := range []statesync.Key{kt, ku} {
		s, _ := p.tableB.Get(k)
		require.Greater(t, int64(s.Expires), time.Now().Unix(), "%v: the replica's deadline is in the future", k)
	}
	if warm {
		// B's kernel has had the flows all along, kept alive by the
		// refreshed deadlines though no packet reached it.
		got := dumpSessions(t, p.b.h)
		for _, k := range []statesync.Key{kt, ku} {
			e, ok := got[k]
			require.True(t, ok, "%v in B's kernel before the takeover", k)
			require.Greater(t, e.ExpiresAt(), start.Add(timeout+inj.cfg.Grace+time.Second),
				"%v: B's entry was refreshed", k)
		}
	}

	// A dies; B commits, then takes the gateway.
	p.a.detach()
	p.recv.Commit()
	n, err := inj.Commit(time.Now(), p.tableB)
	require.NoError(t, err)
	is := inj.Stats()
	t.Logf("commit wrote %d: %+v", n, is)
	require.Zero(t, is.Failed)
	if warm {
		require.NoError(t, <-following)
		require.Less(t, is.Tail, uint64(10), "only the tail is left at takeover")
	} else {
		require.GreaterOrEqual(t, n, 2)
	}
	got := dumpSessions(t, p.b.h)
	require.Contains(t, got, kt)
	require.Contains(t, got, ku)
	p.b.attach()

	// The server speaks first on the UDP flow: B forwards it only if it
	// holds the flow.
	from := <-peer
	_, err = us.WriteTo([]byte("server first"), from)
	require.NoError(t, err)
	require.NoError(t, uc.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 64)
	m, err := uc.Read(buf)
	require.NoError(t, err, "the server's datagram through B")
	require.Equal(t, "server first", string(buf[:m]))
	for i := range 10 {
		msg := fmt.Sprintf("after %02d", i)
		require.NoError(t, exchange(t, c, c, msg, 5*time.Second), "TCP through B")
		require.NoError(t, exchange(t, uc, uc, msg, 5*time.Second), "UDP through B")
	}
}
