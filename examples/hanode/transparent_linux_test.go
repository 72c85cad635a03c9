package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/internal/testbed"
)

// The transparent pair's bed: client — switch c — units A and B, each
// bridging its eth0 and eth1 with br0 — switch s — server, one IPv4
// subnet across; heartbeats and session sync on the units' eth2 (switch
// y). The units have no address on the path.
// The client is the routed bed's (clientAddr).
var tpServer = netip.MustParsePrefix("198.18.1.20/24")

// tpBridgeRuleset is the units' stateful bridging firewall: established
// and related traffic (counted), new connections from the client's side,
// ARP and the test's broadcast frames; nothing else.
const tpBridgeRuleset = `table bridge fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related counter accept
		iifname "eth0" ip protocol tcp ct state new accept
		ether type arp accept
		ether type 0x88b5 accept
	}
}`

// tpInetRuleset is the same firewall for kernels without bridge-family
// conntrack (nf_conntrack_bridge): br_netfilter hands the bridged IPv4
// packets to the inet family's hooks, where conntrack works.
const tpInetRuleset = `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related counter accept
		ip saddr 198.18.1.10 ct state new accept
	}
}`

// testBroadcastType is the EtherType of the client's numbered broadcast
// frames: each must reach the server at most once.
const testBroadcastType = 0x88B5

type transparentBed struct {
	*pair
	family string // the firewall's nftables family: bridge or inet
	loop   *loopCounter
	key    string // the units' -key-file: heartbeats, sync and probes sealed
}

// newTransparentBed builds the bed with both units' bridges blocked
// (their ports isolated), as an operator creates them before hanode runs.
func newTransparentBed(t *testing.T) *transparentBed {
	bed := testbed.New(t)
	p := &pair{t: t, bed: bed, c: bed.Bridge("c"), s: bed.Bridge("s"), y: bed.Bridge("y"), heartbeats: dedicated}
	p.client, p.server = bed.Host("client"), bed.Host("server")
	bed.Link(p.client, p.c, "eth0")
	bed.Link(p.server, p.s, "eth0")
	p.client.AddAddr("eth0", clientAddr)
	p.server.AddAddr("eth0", tpServer)
	tb := &transparentBed{pair: p, key: filepath.Join(t.TempDir(), "key")}
	require.NoError(t, os.WriteFile(tb.key, []byte("an example shared key of 32 bytes\n"), 0o600))
	for _, u := range []struct {
		name string
		n    int
		to   **unit
	}{{"fwa", 2, &p.a}, {"fwb", 3, &p.b}} {
		*u.to = tb.newUnit(u.name, u.n)
	}
	tb.loop = countLoops(t, p.client, p.server)
	return tb
}

func (tb *transparentBed) newUnit(name string, n int) *unit {
	t, p := tb.t, tb.pair
	h := p.bed.Host(name)
	h.Sysctl("net.ipv6.conf.default.disable_ipv6", "1") // br0: no address, no chatter
	u := &unit{name: name, n: n, h: h, client: p.bed.Link(h, p.c, "eth0"), server: p.bed.Link(h, p.s, "eth1"), sync: p.bed.Link(h, p.y, "eth2")}
	h.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
	h.Sysctl("net.ipv6.conf.eth1.disable_ipv6", "1")
	h.AddAddr("eth2", netip.MustParsePrefix(fmt.Sprintf("198.18.3.%d/24", n)))
	for _, args := range [][]string{
		{"ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "link", "set", "eth0", "master", "br0"},
		{"ip", "link", "set", "eth1", "master", "br0"},
		{"bridge", "link", "set", "dev", "eth0", "isolated", "on", "learning", "off"},
		{"bridge", "link", "set", "dev", "eth1", "isolated", "on", "learning", "off"},
		{"ip", "link", "set", "br0", "up"},
	} {
		out, err := h.Run(args[0], args[1:]...)
		require.NoError(t, err, "%v: %s", args, out)
	}
	h.Sysctl("net.netfilter.nf_conntrack_tcp_loose", "0")
	h.Sysctl("net.netfilter.nf_conntrack_events", "1")
	h.Sysctl("net.netfilter.nf_conntrack_tcp_be_liberal", "1")
	if tb.family == "" || tb.family == "bridge" {
		cmd := h.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(tpBridgeRuleset)
		out, err := cmd.CombinedOutput()
		switch {
		case err == nil:
			tb.family = "bridge"
		case tb.family == "" && strings.Contains(string(out), "ct state"):
			t.Logf("no bridge-family conntrack in this kernel (nf_conntrack_bridge): the firewall runs in the inet family through br_netfilter")
			tb.family = "inet"
		default:
			require.NoError(t, err, "nft: %s", out)
		}
	}
	if tb.family == "inet" {
		out, err := h.Run("ip", "link", "set", "br0", "type", "bridge", "nf_call_iptables", "1")
		require.NoError(t, err, out)
		cmd := h.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(tpInetRuleset)
		out2, err := cmd.CombinedOutput()
		require.NoError(t, err, "nft: %s", out2)
	}
	unitFiles(t, u)
	return u
}

// unitFiles gives u its log, status address and state directory; the log
// is printed when the test fails (or with HANODE_E2E_LOGS set).
func unitFiles(t testing.TB, u *unit) {
	u.log = filepath.Join(t.TempDir(), u.name+".log")
	u.status = "127.0.0.1:9100"
	u.stateDir = t.TempDir()
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("HANODE_E2E_LOGS") != "" {
			b, _ := os.ReadFile(u.log)
			t.Logf("%s's log (every run):\n%s", u.name, b)
		}
	})
}

// start runs the daemon on u in transparent mode.
func (tb *transparentBed) start(u *unit, priority int) {
	t := tb.t
	t.Helper()
	peer := tb.a
	if u == tb.a {
		peer = tb.b
	}
	args := []string{"-cluster-id", "7", "-unit-id", strconv.Itoa(u.id()), "-priority", strconv.Itoa(priority),
		"-iface", "eth2", "-bridge", "br0=eth0,eth1",
		"-sync-peer", fmt.Sprintf("198.18.3.%d:7946", peer.id()), "-conntrack", "-key-file", tb.key,
		"-status", u.status, "-state-dir", u.stateDir, "-epoch-file", filepath.Join(u.stateDir, "epoch"), "-log-level", "debug"}
	f, err := os.OpenFile(u.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	u.cmd = u.h.Command(hanodeBinary(t), args...)
	u.cmd.Stdout, u.cmd.Stderr = f, f
	require.NoError(t, u.cmd.Start())
	f.Close()
}

// forwarded returns the packets u's firewall forwarded on established
// connections.
func (tb *transparentBed) forwarded(u *unit) uint64 {
	t := tb.t
	t.Helper()
	out, err := u.h.Run("nft", "list", "chain", tb.family, "fw", "forward")
	require.NoError(t, err)
	m := counterRE.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	n, err := strconv.ParseUint(m[1], 10, 64)
	require.NoError(t, err)
	return n
}

// onlyForwarder checks that want alone forwards the stream while it
// carries 200 echoes.
func (tb *transparentBed) onlyForwarder(st *stream, want *unit) {
	tb.t.Helper()
	a0, b0 := tb.forwarded(tb.a), tb.forwarded(tb.b)
	tb.flowing(st, 200)
	da, db := tb.forwarded(tb.a)-a0, tb.forwarded(tb.b)-b0
	tb.t.Logf("forwarded while 200 echoes came back: A %d, B %d", da, db)
	other := db
	mine := da
	if want == tb.b {
		other, mine = da, db
	}
	require.True(tb.t, mine > 0 && other == 0, "only %s forwards: A %d, B %d", want.name, da, db)
}

// noLoops is the loop check of every case: no frame reached the server
// twice, and the client's broadcasts kept arriving.
func (tb *transparentBed) noLoops(what string) {
	tb.t.Helper()
	before := tb.loop.snapshot()
	require.Eventually(tb.t, func() bool { return tb.loop.snapshot().broadcasts > before.broadcasts+20 }, 5*time.Second, 10*time.Millisecond,
		"%s: the client's broadcasts do not reach the server", what)
	s := tb.loop.snapshot()
	tb.t.Logf("%s: loop check: %d TCP segments and %d broadcasts from the client at the server, %d TCP and %d broadcast frames twice",
		what, s.segments, s.broadcasts, s.dupSegments, s.dupBroadcasts)
	require.Zero(tb.t, s.dupSegments, "%s: TCP segments reached the server twice: two bridges forwarded", what)
	require.Zero(tb.t, s.dupBroadcasts, "%s: broadcasts reached the server twice: a loop", what)
}

// logBridges logs both units' bridge status.
func (tb *transparentBed) logBridges(what string) {
	for _, u := range []*unit{tb.a, tb.b} {
		s, err := statusOf(u)
		if err == nil {
			tb.t.Logf("%s: %s: %s's bridges: %+v", what, s.Role, u.name, s.Bridges)
		}
	}
}

// loopCounter counts, at the server, the client's TCP segments (keyed by
// IP ID and sequence number: a retransmission has a new IP ID) and its
// numbered broadcasts, and those seen twice.
type loopCounter struct {
	mu                        sync.Mutex
	segments, broadcasts      uint64
	dupSegments, dupBroadcast uint64
	seenSeg                   map[[8]byte]bool
	seenBcast                 map[uint64]bool
}

type loopSnapshot struct{ segments, broadcasts, dupSegments, dupBroadcasts uint64 }

func (l *loopCounter) snapshot() loopSnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	return loopSnapshot{l.segments, l.broadcasts, l.dupSegments, l.dupBroadcast}
}

// countLoops starts the server's counter and the client's broadcasts (one
// every 5 ms).
func countLoops(t *testing.T, client, server *testbed.Host) *loopCounter {
	l := &loopCounter{seenSeg: map[[8]byte]bool{}, seenBcast: map[uint64]bool{}}
	var rx *packet.Conn
	require.NoError(t, server.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		rx, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	}))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, _, err := rx.ReadFrom(buf)
			if err != nil {
				return
			}
			l.count(buf[:n])
		}
	}()
	t.Cleanup(func() {
		close(done)
		rx.Close()
		wg.Wait()
	})
	startBroadcasts(t, client, done)
	return l
}

// startBroadcasts sends the client's numbered broadcasts until done.
func startBroadcasts(t *testing.T, client *testbed.Host, done chan struct{}) {
	var tx *packet.Conn
	var mac net.HardwareAddr
	require.NoError(t, client.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		tx, err = packet.Listen(ifi, packet.Raw, testBroadcastType, nil)
		return err
	}))
	go func() {
		defer tx.Close()
		frame := make([]byte, 60)
		copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(frame[6:], mac)
		binary.BigEndian.PutUint16(frame[12:], testBroadcastType)
		for i := uint64(1); ; i++ {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			binary.BigEndian.PutUint64(frame[14:], i)
			tx.WriteTo(frame, &packet.Addr{HardwareAddr: frame[:6]})
		}
	}()
}

func (l *loopCounter) count(f []byte) {
	if len(f) < 14 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch binary.BigEndian.Uint16(f[12:]) {
	case testBroadcastType:
		if len(f) < 22 {
			return
		}
		seq := binary.BigEndian.Uint64(f[14:])
		l.broadcasts++
		if l.seenBcast[seq] {
			l.dupBroadcast++
		}
		l.seenBcast[seq] = true
	case unix.ETH_P_IP:
		ip := f[14:]
		if len(ip) < 20 || ip[9] != unix.IPPROTO_TCP || netip.AddrFrom4([4]byte(ip[12:16])) != clientAddr.Addr() {
			return
		}
		hl := int(ip[0]&0xf) * 4
		if len(ip) < hl+8 {
			return
		}
		var k [8]byte
		copy(k[:2], ip[4:6])        // IP ID
		copy(k[2:6], ip[hl+4:hl+8]) // TCP sequence number
		copy(k[6:8], ip[hl+2:hl+4]) // destination port
		l.segments++
		if l.seenSeg[k] {
			l.dupSegments++
		}
		l.seenSeg[k] = true
	}
}

// TestE2ETransparent needs root: a transparent pair carries a TCP stream
// from the client to the server through a stateful bridging firewall,
// across a split brain and its heal, the primary's server-side link going
// down, and the primary's power loss. The stream survives each, the gap
// is logged, and in every case no frame reaches the server twice (at no
// moment do both bridges forward).
func TestE2ETransparent(t *testing.T) {
	t.Parallel()
	tb := newTransparentBed(t)
	tb.start(tb.a, 200)
	tb.waitStatus(tb.a, "primary", func(s Status) bool { return s.Role == "primary" && s.Active })
	tb.start(tb.b, 100)
	tb.waitStatus(tb.b, "in-sync secondary", func(s Status) bool {
		return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync
	})
	st := tb.startStreamTo(netip.AddrPortFrom(tpServer.Addr(), 8080))
	tb.flowing(st, 100)
	tb.waitStatus(tb.b, "holding the stream's session", func(s Status) bool { return s.Sync.InSync && s.Sync.Sessions >= 1 })
	tb.onlyForwarder(st, tb.a)
	tb.noLoops("established")
	tb.logBridges("established")
	gaps := map[string]time.Duration{}
	record := func(what string) {
		t.Helper()
		tb.report(st, what)
		g, _, _ := st.gap()
		gaps[what] = g
	}

	// Split brain: the heartbeat and sync link fails; B becomes primary
	// too, but its bridge stays blocked: A's probes say it forwards.
	st.resetGap()
	heal := tb.y.Loss(1)
	tb.waitStatus(tb.b, "primary during the partition", func(s Status) bool { return s.Role == "primary" })
	tb.onlyForwarder(st, tb.a)
	sb, err := statusOf(tb.b)
	require.NoError(t, err)
	require.Len(t, sb.Bridges, 1)
	require.False(t, sb.Bridges[0].Forwarding, "B's bridge forwards during the split brain")
	require.NotEmpty(t, sb.Bridges[0].Held, "B says why its bridge is held")
	require.Zero(t, sb.Bridges[0].BadProbes, "every probe authenticated")
	require.NotZero(t, sb.Bridges[0].ProbesHeard)
	t.Logf("split brain: B's bridge held: %s", sb.Bridges[0].Held)
	tb.noLoops("split brain")
	record("split brain")
	st.resetGap()
	heal()
	var primary, standby *unit
	require.Eventually(t, func() bool {
		sa, errA := statusOf(tb.a)
		sb, errB := statusOf(tb.b)
		if errA != nil || errB != nil || (sa.Role == "primary") == (sb.Role == "primary") || len(sa.Peers) == 0 || len(sb.Peers) == 0 {
			return false
		}
		primary, standby = tb.a, tb.b
		if sb.Role == "primary" {
			primary, standby = tb.b, tb.a
		}
		return true
	}, 15*time.Second, 20*time.Millisecond, "one primary after the heal")
	t.Logf("after the heal %s is primary", primary.name)
	tb.waitStatus(standby, "in-sync secondary", func(s Status) bool { return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync })
	tb.onlyForwarder(st, primary)
	tb.noLoops("healed")
	record("split brain healed")

	// The primary's server-side link goes down: it has fewer monitored
	// links; the standby takes over, the old primary blocks first.
	st.resetGap()
	primary.server.Down()
	tb.waitStatus(standby, "primary after the peer's link failure", func(s Status) bool { return s.Role == "primary" && s.Active })
	tb.flowing(st, 100)
	tb.noLoops("one side down")
	record("one side down")
	primary.server.Up()
	tb.waitStatus(primary, "back as in-sync secondary", func(s Status) bool { return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync })
	primary, standby = standby, primary
	tb.onlyForwarder(st, primary)
	tb.noLoops("side back")

	// Power loss of the primary.
	st.resetGap()
	tb.crash(primary)
	tb.waitStatus(standby, "primary after the power loss", func(s Status) bool { return s.Role == "primary" && s.Active })
	tb.flowing(st, 200)
	tb.noLoops("power loss")
	record("power loss")
	t.Logf("transparent mode, gaps the client saw: split brain %v, heal %v, one side down %v, power loss %v (firewall in the %s family)",
		gaps["split brain"].Round(time.Millisecond), gaps["split brain healed"].Round(time.Millisecond),
		gaps["one side down"].Round(time.Millisecond), gaps["power loss"].Round(time.Millisecond), tb.family)
}
