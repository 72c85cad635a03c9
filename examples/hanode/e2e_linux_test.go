package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// The daemon is built once per test binary.
var (
	buildOnce sync.Once
	binary_   string
	buildErr  error
	buildDir  string
)

func hanodeBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "hanode-e2e")
		if buildErr != nil {
			return
		}
		binary_ = filepath.Join(buildDir, "hanode")
		out, err := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary_, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binary_
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// The firewall pair's bed: client — bridge c — units A and B — bridge s —
// server, and the heartbeat/sync link on bridge y.
var (
	gwClient   = netip.MustParsePrefix("198.18.1.1/24")
	gwServer   = netip.MustParsePrefix("198.18.2.1/24")
	clientAddr = netip.MustParsePrefix("198.18.1.10/24")
	serverAddr = netip.MustParsePrefix("198.18.2.10/24")
)

// ruleset: forward only established and related traffic, and new
// connections from the client side; the first rule counts what the unit
// forwards.
const ruleset = `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related counter accept
		iifname "eth0" ct state new accept
	}
}`

type unit struct {
	name                 string
	n                    int // unit ID, and the host part of its addresses
	h                    *testbed.Host
	client, server, sync *testbed.Link
	cmd                  *exec.Cmd
	log                  string
	status               string
	stateDir             string
	output               *os.File // if set, the next start's stdout and stderr instead of the log
}

type pair struct {
	t              testing.TB
	heartbeats     []string // the units' -iface interfaces
	flags          []string // more flags for every start
	bed            *testbed.Bed
	c, s, y        *testbed.Bridge
	client, server *testbed.Host
	a, b           *unit
	third          *unit // with addThird: a third unit, fwc
}

// Where the units send heartbeats: on every interface (the Clavister and
// NetDefendOS way, the default here), or on the sync link only (a
// dedicated heartbeat link, the FortiGate way).
var (
	everywhere = []string{"eth0", "eth1", "eth2"}
	dedicated  = []string{"eth2"}
)

func newPair(t *testing.T) *pair {
	t.Parallel()
	return newPairTB(t)
}

// newPairTB builds the bed for a test or a benchmark.
func newPairTB(t testing.TB) *pair {
	bed := testbed.New(t)
	p := &pair{t: t, bed: bed, c: bed.Bridge("c"), s: bed.Bridge("s"), y: bed.Bridge("y"), heartbeats: everywhere}
	p.client, p.server = bed.Host("client"), bed.Host("server")
	bed.Link(p.client, p.c, "eth0")
	bed.Link(p.server, p.s, "eth0")
	p.client.AddAddr("eth0", clientAddr)
	p.server.AddAddr("eth0", serverAddr)
	_, err := p.client.Run("ip", "route", "add", "default", "via", gwClient.Addr().String())
	require.NoError(t, err)
	_, err = p.server.Run("ip", "route", "add", "default", "via", gwServer.Addr().String())
	require.NoError(t, err)
	p.a = p.newUnit("fwa", 2)
	p.b = p.newUnit("fwb", 3)
	// The units' neighbour caches know the client and the server (EIFD
	// probes them), and the hosts know the units.
	for _, u := range []*unit{p.a, p.b} {
		for _, h := range []struct {
			h    *testbed.Host
			addr string
		}{{p.client, fmt.Sprintf("198.18.1.%d", u.id())}, {p.server, fmt.Sprintf("198.18.2.%d", u.id())}} {
			_, err := h.h.Run("ping", "-c1", "-W1", h.addr)
			require.NoError(t, err)
		}
	}
	return p
}

func (u *unit) id() int { return u.n }

// units returns the units of the bed.
func (p *pair) units() []*unit {
	if p.third != nil {
		return []*unit{p.a, p.b, p.third}
	}
	return []*unit{p.a, p.b}
}

// addThird adds a third unit, fwc (unit 4), to the bed: every unit then
// names every peer by its unit ID.
func (p *pair) addThird() *unit {
	p.third = p.newUnit("fwc", 4)
	for _, h := range []string{"198.18.1.4", "198.18.2.4"} {
		host := p.client
		if strings.HasPrefix(h, "198.18.2.") {
			host = p.server
		}
		_, err := host.Run("ping", "-c1", "-W1", h)
		require.NoError(p.t, err)
	}
	return p.third
}

func (p *pair) newUnit(name string, n int) *unit {
	t := p.t
	h := p.bed.Host(name)
	u := &unit{name: name, n: n, h: h, client: p.bed.Link(h, p.c, "eth0"), server: p.bed.Link(h, p.s, "eth1"), sync: p.bed.Link(h, p.y, "eth2")}
	h.AddAddr("eth0", netip.MustParsePrefix(fmt.Sprintf("198.18.1.%d/24", n)))
	h.AddAddr("eth1", netip.MustParsePrefix(fmt.Sprintf("198.18.2.%d/24", n)))
	h.AddAddr("eth2", netip.MustParsePrefix(fmt.Sprintf("198.18.3.%d/24", n)))
	h.Sysctl("net.ipv4.ip_forward", "1")
	h.Sysctl("net.netfilter.nf_conntrack_tcp_loose", "0")
	h.Sysctl("net.netfilter.nf_conntrack_events", "1")
	// During a split brain both units forward parts of the stream, so each
	// one's window tracking falls behind the other's segments; injected
	// entries are liberal anyway (see statesync/conntrack).
	h.Sysctl("net.netfilter.nf_conntrack_tcp_be_liberal", "1")
	cmd := h.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "nft: %s", out)
	unitFiles(t, u)
	return u
}

// start runs the daemon on u with the pair's flags and extra ones.
func (p *pair) start(u *unit, priority int, extra ...string) {
	t := p.t
	t.Helper()
	var peers []string
	for _, o := range p.units() {
		if o != u {
			peers = append(peers, fmt.Sprintf("198.18.3.%d:7946", o.id()))
			if p.third != nil {
				peers[len(peers)-1] = fmt.Sprintf("%d@%s", o.id(), peers[len(peers)-1])
			}
		}
	}
	peer := strings.Join(peers, ",")
	args := append([]string{"-cluster-id", "7", "-unit-id", strconv.Itoa(u.id()), "-priority", strconv.Itoa(priority),
		"-vip", "eth0=" + gwClient.String(), "-vip", "eth1=" + gwServer.String(),
		"-vmac", "interface", "-sync-peer", peer, "-conntrack", "-status", u.status, "-state-dir", u.stateDir, "-epoch-file", filepath.Join(u.stateDir, "epoch"), "-log-level", "debug"}, p.flags...)
	args = append(args, extra...)
	if !contains(args, "-key-file") {
		args = append(args, "-insecure-no-auth")
	}
	for _, name := range p.heartbeats {
		args = append(args, "-iface", name)
	}
	f, err := os.OpenFile(u.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) // every run's log, in order
	require.NoError(t, err)
	u.cmd = u.h.Command(hanodeBinary(t), args...)
	u.cmd.Stdout, u.cmd.Stderr = f, f
	if u.output != nil {
		u.cmd.Stdout, u.cmd.Stderr = u.output, u.output
	}
	require.NoError(t, u.cmd.Start())
	f.Close()
}

// statusOf reads u's status server from inside its namespace.
func statusOf(u *unit) (Status, error) {
	var s Status
	return s, u.h.GetJSON(u.status, &s)
}

func (p *pair) waitStatus(u *unit, what string, ok func(Status) bool) {
	p.t.Helper()
	defer func(start time.Time) {
		p.t.Logf("%s: %s after %v", u.name, what, time.Since(start).Round(time.Millisecond))
	}(time.Now())
	var last Status
	var lastErr error
	if !assert.Eventually(p.t, func() bool {
		last, lastErr = statusOf(u)
		return lastErr == nil && ok(last)
	}, 15*time.Second, 20*time.Millisecond, "%s: %s; last status %+v, err %v", u.name, what, last, lastErr) {
		if u.cmd != nil && u.cmd.ProcessState == nil {
			u.cmd.Process.Signal(syscall.SIGABRT) // its goroutines, into its log
			time.Sleep(time.Second)
		}
		p.t.FailNow()
	}
}

var counterRE = regexp.MustCompile(`counter packets (\d+)`)

// forwarded returns the packets u's firewall forwarded on established
// connections.
func forwarded(t testing.TB, u *unit) uint64 {
	t.Helper()
	out, err := u.h.Run("nft", "list", "chain", "inet", "fw", "forward")
	require.NoError(t, err)
	m := counterRE.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	n, err := strconv.ParseUint(m[1], 10, 64)
	require.NoError(t, err)
	return n
}

// stream is a long-lived TCP connection from the client to the server:
// the client writes a numbered message every 2 ms, the server echoes it,
// and the client records when each echo came back.
type stream struct {
	gapMeter
	err     error // guarded by gapMeter.mu
	c, s    net.Conn
	stopped chan struct{}
}

// gapMeter records echoes and the longest silence between two of them.
type gapMeter struct {
	mu     sync.Mutex
	last   time.Time
	maxGap time.Duration
	echoes int
}

// echo records an echo received now.
func (g *gapMeter) echo() {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.last.IsZero() && now.Sub(g.last) > g.maxGap {
		g.maxGap = now.Sub(g.last)
	}
	g.last = now
	g.echoes++
}

// resetGap starts a new measurement.
func (g *gapMeter) resetGap() {
	g.mu.Lock()
	g.maxGap, g.echoes = 0, 0
	g.mu.Unlock()
}

// startStreamTo starts a stream from the client to the server at addr
// (IPv4 or IPv6).
func (p *pair) startStreamTo(addr netip.AddrPort) *stream {
	t := p.t
	var ln net.Listener
	require.NoError(t, p.server.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	}))
	st := &stream{stopped: make(chan struct{})}
	require.NoError(t, p.client.Do(func() error {
		var err error
		st.c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	}))
	var err error
	st.s, err = ln.Accept()
	require.NoError(t, err)
	ln.Close()
	go func() { // server: echo
		buf := make([]byte, 8)
		for {
			if _, err := io.ReadFull(st.s, buf); err != nil {
				st.fail(fmt.Errorf("server read: %w", err))
				return
			}
			if _, err := st.s.Write(buf); err != nil {
				st.fail(fmt.Errorf("server write: %w", err))
				return
			}
		}
	}()
	go func() { // client: write
		var buf [8]byte
		for i := uint64(1); ; i++ {
			select {
			case <-st.stopped:
				return
			case <-time.After(2 * time.Millisecond):
			}
			binary.BigEndian.PutUint64(buf[:], i)
			if _, err := st.c.Write(buf[:]); err != nil {
				st.fail(fmt.Errorf("client write: %w", err))
				return
			}
		}
	}()
	go func() { // client: read echoes
		buf := make([]byte, 8)
		for want := uint64(1); ; want++ {
			if _, err := io.ReadFull(st.c, buf); err != nil {
				st.fail(fmt.Errorf("client read: %w", err))
				return
			}
			if got := binary.BigEndian.Uint64(buf); got != want {
				st.fail(fmt.Errorf("echo %d, want %d", got, want))
				return
			}
			st.echo()
		}
	}()
	t.Cleanup(func() {
		close(st.stopped)
		st.c.Close()
		st.s.Close()
	})
	return st
}

func (st *stream) fail(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	select {
	case <-st.stopped:
		return // closed by the test
	default:
	}
	if st.err == nil {
		st.err = err
	}
}

// gap returns the longest silence seen by the client since resetGap, the
// echoes counted, and the stream's error.
func (st *stream) gap() (time.Duration, int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.maxGap, st.echoes, st.err
}

// flowing waits until the stream has carried n more echoes.
func (p *pair) flowing(st *stream, n int) {
	p.t.Helper()
	st.mu.Lock()
	base := st.echoes
	st.mu.Unlock()
	require.Eventually(p.t, func() bool {
		_, e, err := st.gap()
		require.NoError(p.t, err, "the stream broke")
		return e >= base+n
	}, 15*time.Second, 10*time.Millisecond, "the stream does not flow")
}

// established brings up A as primary and B as its in-sync standby, with
// the stream flowing through A and its session replicated to B.
func (p *pair) established() *stream {
	return p.establishedTo(netip.AddrPortFrom(serverAddr.Addr(), 8080))
}

// establishedTo is established with the stream to the server at addr.
func (p *pair) establishedTo(addr netip.AddrPort) *stream {
	p.start(p.a, 200)
	p.waitStatus(p.a, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.start(p.b, 100)
	p.waitStatus(p.b, "in-sync secondary", func(s Status) bool {
		return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync
	})
	st := p.startStreamTo(addr)
	p.flowing(st, 100)
	p.waitStatus(p.b, "holding the stream's session", func(s Status) bool { return s.Sync.InSync && s.Sync.Sessions >= 1 })
	before := forwarded(p.t, p.a)
	p.flowing(st, 50)
	require.Greater(p.t, forwarded(p.t, p.a), before, "A forwards the stream")
	return st
}

// onlyForwarder checks that exactly want (of A and B) forwards the stream.
func (p *pair) onlyForwarder(st *stream, want *unit) {
	p.t.Helper()
	a0, b0 := forwarded(p.t, p.a), forwarded(p.t, p.b)
	p.flowing(st, 200)
	da, db := forwarded(p.t, p.a)-a0, forwarded(p.t, p.b)-b0
	p.t.Logf("forwarded while 200 echoes came back: A %d, B %d", da, db)
	if want == p.a {
		require.True(p.t, da > 0 && db == 0, "only A forwards: A %d, B %d", da, db)
	} else {
		require.True(p.t, db > 0 && da == 0, "only B forwards: A %d, B %d", da, db)
	}
}

func (p *pair) report(st *stream, what string) {
	p.t.Logf("%s: reported at %v", what, time.Now().Format("15:04:05.000"))
	gap, n, err := st.gap()
	require.NoError(p.t, err, "the stream must continue without a reset")
	p.t.Logf("%s: the client saw a gap of %v (%d echoes since the fault)", what, gap.Round(time.Millisecond), n)
}

// crash fails u as a unit fails when it loses power: its daemon stops
// with no warning (SIGSTOP: it sees nothing of what follows), every cable
// of it goes dark at once, and the daemon is killed (SIGKILL). Killing
// first would leave a kernel that answers ARP for a few milliseconds: at
// 10 ms heartbeats, a unit whose daemon died; taking the links down first
// would let the daemon see its links fail and tell its peer.
func (p *pair) crash(u *unit) {
	p.t.Helper()
	require.NoError(p.t, u.cmd.Process.Signal(syscall.SIGSTOP))
	p.bed.DownAll(func() {
		require.NoError(p.t, u.cmd.Process.Kill())
		u.cmd.Wait()
	}, u.client, u.server, u.sync)
}

// TestE2EKillPrimary needs root: A's daemon is killed (SIGKILL) and its
// links taken down; B takes over with the stream's session.
func TestE2EKillPrimary(t *testing.T) {
	p := newPair(t)
	st := p.established()
	us := p.startUDP(time.Millisecond)
	p.flowing(st, 100)
	st.resetGap()
	us.resetGap()
	p.crash(p.a)
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	p.report(st, "A killed")
	ug, _ := us.gap()
	t.Logf("A killed: the UDP stream (1 ms) saw a gap of %v", ug.Round(time.Millisecond))
	p.onlyForwarder(st, p.b)
}

// TestE2EClientLinkDown needs root: A's client-side cable is pulled at the
// switch; A sees a monitored link down and B takes over.
func TestE2EClientLinkDown(t *testing.T) {
	p := newPair(t)
	st := p.established()
	st.resetGap()
	p.a.client.Down()
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.waitStatus(p.a, "released", func(s Status) bool { return s.Role != "primary" && !s.Active })
	p.flowing(st, 200)
	p.report(st, "A's client link down")
	p.onlyForwarder(st, p.b)
}

// TestE2ESplitBrain needs root: every heartbeat path between the units is
// cut (a partition, carriers stay up): both units go active; when it is
// healed the election leaves one primary. With a dedicated heartbeat link
// that is the sync bridge dropping every frame; with heartbeats everywhere
// the LAN bridges drop the heartbeat EtherType as well.
func TestE2ESplitBrain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		heartbeats []string
	}{{"dedicated", dedicated}, {"everywhere", everywhere}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t)
			p.heartbeats = tc.heartbeats
			st := p.established()
			st.resetGap()
			heals := []func(){p.y.Loss(1)}
			if len(tc.heartbeats) > 1 {
				m := testbed.Match{EtherType: heartbeat.DefaultEtherType}
				heals = append(heals, p.c.LossMatch(m, 1), p.s.LossMatch(m, 1))
			}
			p.waitStatus(p.b, "primary during the partition", func(s Status) bool { return s.Role == "primary" && s.Active })
			sa, err := statusOf(p.a)
			require.NoError(t, err)
			require.True(t, sa.Active, "A stays active during the partition: a split brain")
			p.flowing(st, 100)
			p.report(st, "partitioned")
			st.resetGap()
			for _, heal := range heals {
				heal()
			}
			winner := p.onePrimary("one primary after the heal")
			t.Logf("after the heal %s is primary", winner.name)
			time.Sleep(500 * time.Millisecond) // the winner's re-announcement moves the switches back
			p.flowing(st, 200)
			p.report(st, "healed")
			p.onlyForwarder(st, winner)
		})
	}
}

// TestE2ESyncCut needs root: with heartbeats on every interface, cutting
// only the sync bridge is a broken link, not a partition: the units still
// hear each other on the LAN sides, both report the sync link's fault, no
// role changes, and A goes on forwarding alone.
func TestE2ESyncCut(t *testing.T) {
	p := newPair(t)
	st := p.established()
	st.resetGap()
	heal := p.y.Loss(1)
	p.waitStatus(p.b, "the sync link's fault seen", func(s Status) bool { return linkState(s, 2, "eth2") == "local-fault" })
	time.Sleep(time.Second) // longer than any verdict could take
	for _, u := range []*unit{p.a, p.b} {
		s, err := statusOf(u)
		require.NoError(t, err)
		require.Equal(t, u == p.a, s.Active, "%s: active", u.name)
		require.Equal(t, "alive", linkState(s, 5-u.id(), "eth0"), "%s hears its peer on eth0", u.name)
	}
	p.onlyForwarder(st, p.a)
	p.report(st, "sync link cut")
	// B acknowledges nothing now: a new session waits in A's sync
	// backlog, and its lag grows with the cut (syncBacklog).
	p.startStreamTo(netip.AddrPortFrom(serverAddr.Addr(), 8081))
	var lag float64
	require.Eventually(t, func() bool {
		n, l := syncBacklog(t, p.a)
		lag = l
		return n >= 1 && l > 0
	}, 5*time.Second, 50*time.Millisecond, "the new session in A's backlog")
	time.Sleep(500 * time.Millisecond)
	_, later := syncBacklog(t, p.a)
	require.GreaterOrEqual(t, later, lag+0.45, "the lag grows while B does not acknowledge")
	heal()
	p.waitStatus(p.b, "the sync link back", func(s Status) bool { return linkState(s, 2, "eth2") == "alive" })
	p.onlyForwarder(st, p.a)
	require.Eventually(t, func() bool {
		n, l := syncBacklog(t, p.a)
		return n == 0 && l == 0
	}, 10*time.Second, 50*time.Millisecond, "A's backlog drained")
}

// syncBacklog returns the records u's sync peer has not acknowledged and
// the age of the oldest, in seconds, from u's /metrics.
func syncBacklog(t *testing.T, u *unit) (records, lag float64) {
	t.Helper()
	m, err := get(u, "/metrics")
	require.NoError(t, err)
	records, ok := sample(m, "hakit_sync_backlog_records")
	require.True(t, ok, "hakit_sync_backlog_records")
	lag, ok = sample(m, "hakit_sync_lag_seconds")
	require.True(t, ok, "hakit_sync_lag_seconds")
	return records, lag
}

// linkState returns the state the status gives for peer on ifname, or "".
func linkState(s Status, peer int, ifname string) string {
	for _, ps := range s.Peers {
		if int(ps.Unit) != peer {
			continue
		}
		for _, l := range ps.Links {
			if l.Interface == ifname {
				return l.State
			}
		}
	}
	return ""
}

// TestE2ERestartAfterCrash needs root: A's daemon is killed (SIGKILL)
// while primary, with its links up, so it leaves the virtual MAC and
// addresses behind; B takes over. Restarted, A puts its own MACs back,
// removes the addresses, and rejoins as the in-sync secondary while B
// alone forwards.
func TestE2ERestartAfterCrash(t *testing.T) {
	p := newPair(t)
	before := systemState(t, p.a)
	st := p.established()
	st.resetGap()
	require.NoError(t, p.a.cmd.Process.Kill())
	p.a.cmd.Wait()
	require.NotEqual(t, before, systemState(t, p.a), "the crash left the virtual MAC and addresses")
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	p.report(st, "A crashed")
	p.start(p.a, 200)
	p.waitStatus(p.a, "in-sync secondary", func(s Status) bool {
		return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync && s.Sync.Sessions >= 1
	})
	require.Equal(t, before, systemState(t, p.a), "A's own MACs and addresses are back")
	log, err := os.ReadFile(p.a.log)
	require.NoError(t, err)
	require.Contains(t, string(log), "own MAC restored")
	p.onlyForwarder(st, p.b)
}

// systemState is what the daemon may change in a unit's namespace: its
// interfaces (names, MACs) and their addresses.
func systemState(t testing.TB, u *unit) string {
	t.Helper()
	links, err := u.h.Run("ip", "-br", "link")
	require.NoError(t, err)
	addrs, err := u.h.Run("ip", "-br", "addr")
	require.NoError(t, err)
	// The carrier state may differ; the names, MACs and addresses may not.
	re := regexp.MustCompile(`\s+(UP|DOWN|UNKNOWN|LOWERLAYERDOWN)\s+`)
	return re.ReplaceAllString(links+addrs, " ")
}

// waitExit waits for u's daemon to exit and returns its exit status.
func waitExit(t testing.TB, u *unit, within time.Duration) int {
	t.Helper()
	defer func(start time.Time) { t.Logf("%s exited after %v", u.name, time.Since(start).Round(time.Millisecond)) }(time.Now())
	done := make(chan error, 1)
	go func() { done <- u.cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0
		}
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		return ee.ExitCode()
	case <-time.After(within):
		u.cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not exit within %v", u.name, within)
		return -1
	}
}

// TestE2ESIGTERMHandsOver needs root: SIGTERM to the primary hands the
// role to B with the stream flowing, and A exits 0 leaving its interfaces
// as they were before it started (own MACs, own addresses only).
func TestE2ESIGTERMHandsOver(t *testing.T) {
	p := newPair(t)
	before := systemState(t, p.a)
	st := p.established()
	require.NotEqual(t, before, systemState(t, p.a), "A holds the virtual MAC and addresses")
	st.resetGap()
	require.NoError(t, p.a.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 0, waitExit(t, p.a, 10*time.Second))
	require.Equal(t, before, systemState(t, p.a), "A left something behind")
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	p.report(st, "planned handover (SIGTERM)")
	p.onlyForwarder(st, p.b)
	log, err := os.ReadFile(p.a.log)
	require.NoError(t, err)
	require.Contains(t, string(log), "handover complete")
}

// TestE2ECleanStartAndStop needs root: a lone unit in macvlan mode becomes
// primary (a macvlan child with the virtual MAC and addresses) and leaves
// nothing behind after SIGTERM; a start that fails part way (the sync port
// is taken) exits 1 and leaves nothing either; bad flags exit 2 and change
// nothing.
func TestE2ECleanStartAndStop(t *testing.T) {
	p := newPair(t)
	u := p.a
	before := systemState(t, u)

	p.start(u, 100, "-vmac", "macvlan")
	p.waitStatus(u, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	out, err := u.h.Run("ip", "-br", "addr", "show", "hk7v0")
	require.NoError(t, err)
	require.Contains(t, out, gwClient.String())
	require.NoError(t, u.cmd.Process.Signal(syscallTERM))
	require.Equal(t, 0, waitExit(t, u, 10*time.Second))
	require.Equal(t, before, systemState(t, u), "SIGTERM left something behind")

	var taken net.PacketConn
	require.NoError(t, u.h.Do(func() error {
		var err error
		taken, err = net.ListenPacket("udp4", "0.0.0.0:7946")
		return err
	}))
	defer taken.Close()
	p.start(u, 100, "-vmac", "macvlan")
	require.Equal(t, 1, waitExit(t, u, 10*time.Second))
	log, err := os.ReadFile(u.log)
	require.NoError(t, err)
	require.Contains(t, string(log), "hanode: sync transport")
	require.Equal(t, before, systemState(t, u), "a failed start left something behind")

	p.start(u, 100, "-vmac", "sideways")
	require.Equal(t, 2, waitExit(t, u, 10*time.Second))
	log, err = os.ReadFile(u.log)
	require.NoError(t, err)
	require.Contains(t, string(log), "hanode: invalid configuration: -vmac")
	require.Equal(t, before, systemState(t, u))
}

const syscallTERM = syscall.SIGTERM

// IPv6 on the firewall pair's bed: the client's and server's gateways are
// virtual IPv6 addresses too.
var (
	gw6Client   = netip.MustParsePrefix("2001:db8:1::1/64")
	gw6Server   = netip.MustParsePrefix("2001:db8:2::1/64")
	client6Addr = netip.MustParsePrefix("2001:db8:1::10/64")
	server6Addr = netip.MustParsePrefix("2001:db8:2::10/64")
)

// ipv6 adds IPv6 to the bed: addresses on the hosts and the units' LAN
// interfaces, default routes through the virtual gateways, forwarding on
// the units.
func (p *pair) ipv6() {
	t := p.t
	p.client.AddAddr("eth0", client6Addr)
	p.server.AddAddr("eth0", server6Addr)
	for _, r := range []struct {
		h  *testbed.Host
		gw netip.Prefix
	}{{p.client, gw6Client}, {p.server, gw6Server}} {
		_, err := r.h.Run("ip", "-6", "route", "add", "default", "via", r.gw.Addr().String())
		require.NoError(t, err)
	}
	for _, u := range []*unit{p.a, p.b} {
		u.h.AddAddr("eth0", netip.MustParsePrefix(fmt.Sprintf("2001:db8:1::%d/64", u.id())))
		u.h.AddAddr("eth1", netip.MustParsePrefix(fmt.Sprintf("2001:db8:2::%d/64", u.id())))
		u.h.Sysctl("net.ipv6.conf.all.forwarding", "1")
	}
}

// TestE2EIPv6AndKey needs root: the pair with IPv6 virtual gateways next to
// the IPv4 ones, heartbeats and sync authenticated with a shared key file,
// and the TCP stream over IPv6. A loses power; B takes over with the
// stream's session (injected into its conntrack), announces the IPv6
// gateways with unsolicited neighbour advertisements, and alone forwards.
func TestE2EIPv6AndKey(t *testing.T) {
	p := newPair(t)
	p.ipv6()
	key := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(key, []byte("an example shared key of 32 bytes\n"), 0o600))
	p.flags = []string{"-key-file", key, "-vip", "eth0=" + gw6Client.String(), "-vip", "eth1=" + gw6Server.String()}
	st := p.establishedTo(netip.AddrPortFrom(server6Addr.Addr(), 8080))
	sb, err := statusOf(p.b)
	require.NoError(t, err)
	hb := sb.Counters.Heartbeat
	require.NotZero(t, hb.Received)
	require.Zero(t, hb.Dropped.Auth, "authenticated heartbeats are accepted")
	require.NotNil(t, sb.Counters.Receiver)

	st.resetGap()
	p.crash(p.a)
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	p.report(st, "A loses power (IPv6 stream)")
	p.onlyForwarder(st, p.b)
	out, err := p.client.Run("ip", "-6", "neigh", "show", gw6Client.Addr().String())
	require.NoError(t, err)
	mac, err := vmac.LocalMAC(7, 0)
	require.NoError(t, err)
	require.Contains(t, out, mac.String(), "the client reaches its IPv6 gateway at the virtual MAC")
}

// TestE2EThreeUnitsTwoFailovers needs root: three units, A the primary
// replicating to B and C; a TCP stream through A. A loses power and B
// takes over, replicating to C; B loses power and C takes over. The
// stream survives both, with no reset.
func TestE2EThreeUnitsTwoFailovers(t *testing.T) {
	p := newPair(t)
	c, st := p.threeUnits()
	holds := func(from int) func(Status) bool {
		return func(s Status) bool {
			if s.Role != "secondary" || s.Sync == nil || s.Sync.Sessions < 1 {
				return false
			}
			for _, x := range s.Sync.Peers {
				if x.Unit == uint16(from) && x.InSync {
					return true
				}
			}
			return false
		}
	}
	p.waitStatus(p.b, "holding A's sessions", holds(p.a.id()))
	p.waitStatus(c, "holding A's sessions", holds(p.a.id()))

	st.resetGap()
	p.crash(p.a)
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	p.report(st, "A lost power")
	p.waitStatus(c, "holding B's sessions", holds(p.b.id()))

	st.resetGap()
	p.crash(p.b)
	p.waitStatus(c, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	p.report(st, "B lost power")
}
