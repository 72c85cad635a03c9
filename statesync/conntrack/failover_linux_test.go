package conntrack

import (
	"context"
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
	bed := testbed.New(t)
	cbr, sbr, ybr := bed.Bridge("c"), bed.Bridge("s"), bed.Bridge("y")
	client, server := bed.Host("client"), bed.Host("server")
	bed.Link(client, cbr, "eth0")
	bed.Link(server, sbr, "eth0")
	client.AddAddr("eth0", clientAddr)
	server.AddAddr("eth0", serverAddr)
	_, err := client.Run("ip", "route", "add", "default", "via", gwClient.Addr().String())
	require.NoError(t, err)
	_, err = server.Run("ip", "route", "add", "default", "via", gwServer.Addr().String())
	require.NoError(t, err)
	a := newFirewall(t, bed, "fwa", cbr, sbr, ybr, nat)
	b := newFirewall(t, bed, "fwb", cbr, sbr, ybr, nat)
	b.detach() // B is the standby: its traffic links are not plugged in

	// Replication A → B over the sync bridge.
	tableA, tableB := statesync.NewTable(0), statesync.NewTable(0)
	var trA, trB *statesync.EthernetTransport
	require.NoError(t, a.h.Do(func() error {
		var err error
		trA, err = statesync.ListenEthernet(a.h.Interface("eth2"), 0, b.sync.MAC())
		return err
	}))
	require.NoError(t, b.h.Do(func() error {
		var err error
		trB, err = statesync.ListenEthernet(b.h.Interface("eth2"), 0, a.sync.MAC())
		return err
	}))
	recv, err := statesync.NewDriver(&statesync.DriverConfig{Transport: trB, Table: tableB, Receive: true})
	require.NoError(t, err)
	t.Cleanup(func() { recv.Close() })
	send, err := statesync.NewDriver(&statesync.DriverConfig{Transport: trA, Table: tableA, Send: true, Sender: &statesync.SenderConfig{MTU: 1500}})
	require.NoError(t, err)
	t.Cleanup(func() { send.Close() })

	// A follows its kernel's table into the sender.
	var follower *Follower
	require.NoError(t, a.h.Do(func() error {
		var err error
		follower, err = DialFollower(tableA, &Config{Sink: send})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- follower.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.ErrorIs(t, <-followed, context.Canceled)
	})

	// Two connections through A.
	var ln net.Listener
	require.NoError(t, server.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(serverAddr.Addr(), 8080).String())
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	dial := func() (c, s net.Conn) {
		t.Helper()
		require.NoError(t, client.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
			return err
		}))
		s, err := ln.Accept()
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	c1, s1 := dial()
	c2, s2 := dial()
	require.NoError(t, exchange(t, c1, s1, "hello through A", 5*time.Second))
	require.NoError(t, exchange(t, s1, c1, "reply through A", 5*time.Second))
	require.NoError(t, exchange(t, c2, s2, "control through A", 5*time.Second))

	key := func(c net.Conn) statesync.Key {
		return statesync.Key{Proto: 6,
			Src: netip.MustParseAddrPort(c.LocalAddr().String()),
			Dst: netip.MustParseAddrPort(c.RemoteAddr().String())}
	}
	k1, k2 := key(c1), key(c2)
	seen := netip.MustParseAddrPort(s1.RemoteAddr().String()).Addr()
	if nat {
		require.Equal(t, gwServer.Addr(), seen, "the server sees the firewall")
	} else {
		require.Equal(t, clientAddr.Addr(), seen, "the server sees the client")
	}

	// B holds A's table, established connections included.
	require.Eventually(t, func() bool {
		s1, ok1 := tableB.Get(k1)
		s2, ok2 := tableB.Get(k2)
		return recv.InSync() && ok1 && ok2 &&
			s1.State == statesync.TCPStateEstablished && s2.State == statesync.TCPStateEstablished
	}, 10*time.Second, 5*time.Millisecond, "B's replica: %d sessions, %+v", tableB.Len(), recv.ReceiverStats())

	// Failover: A dies, B commits then takes the gateway.
	a.detach()
	res := recv.Commit()
	t.Logf("commit: %+v; B holds %d sessions", res, tableB.Len())
	_, ok := tableB.Delete(k2) // the negative control is not injected
	require.True(t, ok)
	var inj *Injector
	require.NoError(t, b.h.Do(func() error {
		var err error
		inj, err = DialInjector(nil)
		return err
	}))
	t.Cleanup(func() { inj.Close() })
	n, err := inj.Commit(time.Now(), tableB)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1)
	t.Logf("injected %d sessions into B: %+v", n, inj.Stats())
	b.attach()

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
	out, err := b.h.Run("nft", "list", "chain", "inet", "fw", "forward")
	require.NoError(t, err)
	require.NotContains(t, out, "counter packets 0 ", "B's policy dropped the control's segments:\n%s", out)
	got := dumpSessions(t, b.h)
	require.Contains(t, got, k1)
	require.NotContains(t, got, k2)
	e1 := got[k1]
	require.Equal(t, nat, e1.NAT(), "B's entry: %+v", e1)
	if nat {
		require.Equal(t, netip.MustParseAddrPort(s1.RemoteAddr().String()), got[k1].ReplyDst)
		require.Equal(t, uint64(1), inj.Stats().InjectedNAT)
	}
}
