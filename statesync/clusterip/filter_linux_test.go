package clusterip

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// newCounter is the units' forward chain: it counts the connections each
// one forwards.
const newCounter = `table ip fw {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state new counter
	}
}`

var newRE = regexp.MustCompile(`ct state new counter packets (\d+)`)

// TestFilterSplitsConnections needs root: two units share the client
// side's and the server side's gateway addresses on multicast MACs; the
// client resolves them by ARP, 60 TCP connections go through, and each
// unit forwards exactly the connections of the buckets it owns, as
// statesync.Bucket computes them. Then unit 2's buckets move to unit 1.
func TestFilterSplitsConnections(t *testing.T) {
	bed := testbed.New(t)
	lc, ls := bed.Bridge("c"), bed.Bridge("s")
	client, server := bed.Host("client"), bed.Host("server")
	bed.Link(client, lc, "eth0")
	bed.Link(server, ls, "eth0")
	client.AddAddr("eth0", netip.MustParsePrefix("198.18.1.10/24"))
	server.AddAddr("eth0", netip.MustParsePrefix("198.18.2.10/24"))
	_, err := client.Run("ip", "route", "add", "default", "via", "198.18.1.1")
	require.NoError(t, err)
	_, err = server.Run("ip", "route", "add", "default", "via", "198.18.2.1")
	require.NoError(t, err)
	vipC, vipS := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.1")
	units := []*testbed.Host{bed.Host("u1"), bed.Host("u2")}
	filters := make([]*Filter, 2)
	for i, h := range units {
		bed.Link(h, lc, "eth0")
		bed.Link(h, ls, "eth1")
		h.AddAddr("eth0", netip.MustParsePrefix(fmt.Sprintf("198.18.1.%d/24", i+2)))
		h.AddAddr("eth0", netip.PrefixFrom(vipC, 24))
		h.AddAddr("eth1", netip.MustParsePrefix(fmt.Sprintf("198.18.2.%d/24", i+2)))
		h.AddAddr("eth1", netip.PrefixFrom(vipS, 24))
		h.Sysctl("net.ipv4.ip_forward", "1")
		cmd := h.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(newCounter)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "nft: %s", out)
		cfg := &Config{Cluster: 7, Unit: uint16(i + 1), Interfaces: []Interface{
			{Name: "eth0", MAC: MAC(7, 0), Addrs: []netip.Addr{vipC}},
			{Name: "eth1", MAC: MAC(7, 1), Addrs: []netip.Addr{vipS}},
		}}
		require.NoError(t, h.Do(func() error {
			var err error
			filters[i], err = New(cfg)
			return err
		}))
		f := filters[i]
		t.Cleanup(func() { f.Close() })
	}
	sched, err := statesync.NewSchedule([]statesync.Unit{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}})
	require.NoError(t, err)
	owners := sched.Buckets(statesync.DefaultBuckets)
	for _, f := range filters {
		require.NoError(t, f.Set(owners))
	}

	// The hosts resolve the gateways to the multicast MACs.
	_, err = client.Run("ping", "-c1", "-W2", "198.18.2.10")
	require.NoError(t, err, "the client reaches the server through the cluster")
	for _, n := range client.Neighbours("eth0") {
		if n.IP == vipC {
			require.Equal(t, MAC(7, 0).String(), n.MAC.String(), "the client's ARP cache names the cluster MAC")
		}
	}

	var ln net.Listener
	require.NoError(t, server.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "198.18.2.10:8080")
		return err
	}))
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // echo one byte, then close
				b := make([]byte, 1)
				c.Read(b)
				c.Write(b)
				c.Close()
			}()
		}
	}()
	connect := func(n int) map[uint16]int {
		want := map[uint16]int{}
		for range n {
			var local netip.AddrPort
			require.NoError(t, client.Do(func() error {
				c, err := net.DialTimeout("tcp", "198.18.2.10:8080", 3*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(3 * time.Second))
				local = c.LocalAddr().(*net.TCPAddr).AddrPort()
				if _, err := c.Write([]byte{1}); err != nil {
					return err
				}
				_, err = c.Read(make([]byte, 1))
				return err
			}))
			k := statesync.Key{Proto: 6, Src: local, Dst: netip.MustParseAddrPort("198.18.2.10:8080")}
			want[owners[statesync.Bucket(k, len(owners))]]++
		}
		return want
	}
	counts := func() map[uint16]int {
		got := map[uint16]int{}
		for i, h := range units {
			out, err := h.Run("nft", "list", "chain", "ip", "fw", "forward")
			require.NoError(t, err)
			m := newRE.FindStringSubmatch(out)
			require.NotNil(t, m, out)
			n, _ := strconv.Atoi(m[1])
			got[uint16(i+1)] = n
		}
		return got
	}
	want := connect(60)
	ping := statesync.Key{Proto: 1, Src: netip.MustParseAddrPort("198.18.1.10:0"), Dst: netip.MustParseAddrPort("198.18.2.10:0")}
	want[owners[statesync.Bucket(ping, len(owners))]]++ // the ping above
	require.Equal(t, want, counts(), "each unit forwards the connections of its buckets")
	t.Logf("60 connections and a ping: unit 1 forwarded %d, unit 2 %d", want[1], want[2])
	require.NotZero(t, want[1])
	require.NotZero(t, want[2])

	// Unit 2 leaves: its buckets go to unit 1, which forwards everything.
	one, err := statesync.NewSchedule([]statesync.Unit{{ID: 1, Weight: 1}})
	require.NoError(t, err)
	owners = one.Buckets(statesync.DefaultBuckets)
	for _, f := range filters {
		require.NoError(t, f.Set(owners))
	}
	before := counts()
	more := connect(20)
	after := counts()
	require.Equal(t, map[uint16]int{1: 20}, more)
	require.Equal(t, before[1]+20, after[1], "unit 1 forwards all of them")
	require.Equal(t, before[2], after[2], "unit 2 none")
}
