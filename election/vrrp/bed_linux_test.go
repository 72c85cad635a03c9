package vrrp

// The interoperation bed: a client and two units, a and b, on one Linux
// bridge. Each unit runs either this package's Driver (in this process, its
// sockets in the unit's namespace) or a real keepalived (in the unit's
// namespace, with its own configuration file in a temporary directory).
// The client sends a UDP probe to the virtual address every millisecond;
// both units run a responder bound to that address that echoes the probe
// with the unit's ID, so the client knows who answered and how long it
// went without an answer.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// echoPort is the UDP port the responders answer probes on.
const echoPort = 7007

// bedInterval is the advertisement interval of every bed test: short, so
// that the tests are quick, and keepalived's own minimum is 10 ms.
const bedInterval = 100 * time.Millisecond

// bed is the interoperation topology.
type bed struct {
	t      *testing.T
	tb     *testbed.Bed
	v6     bool
	client *testbed.Host
	a, b   *unit
	// vip is the address the client probes; addrs the virtual router's
	// addresses as advertised (for IPv6 a link-local one first, then vip).
	vip   netip.Addr
	addrs []netip.Addr
	probe *prober
	dir   string
	// gaps0 is where this bed's figures start in gaps.
	gaps0 int
}

// unit is one of the two units.
type unit struct {
	name string
	id   byte
	host *testbed.Host
	link *testbed.Link
	// addr is the unit's own address: IPv4, or its global IPv6 address;
	// ll is its IPv6 link-local address.
	addr, ll netip.Addr
	bed      *bed
	// dead is set while the unit is powered off: its daemon killed and its
	// cable pulled, what it held left as it was.
	dead bool
}

// newBed builds the topology for IPv4 or IPv6 and starts probing.
func newBed(t *testing.T, v6 bool) *bed {
	t.Helper()
	if _, err := exec.LookPath("keepalived"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("keepalived is not installed (apt-get install keepalived)")
	}
	tb := testbed.New(t)
	b := &bed{t: t, tb: tb, v6: v6, dir: t.TempDir()}
	gapsMu.Lock()
	b.gaps0 = len(gaps)
	gapsMu.Unlock()
	lan := tb.Bridge("lan")
	b.client = tb.Host("client")
	tb.Link(b.client, lan, "eth0")
	b.vip, b.addrs = netip.MustParseAddr("198.18.0.100"), []netip.Addr{netip.MustParseAddr("198.18.0.100")}
	clientAddr, plen := netip.MustParseAddr("198.18.0.1"), 24
	own := []string{"198.18.0.2", "198.18.0.3"}
	if v6 {
		b.vip = netip.MustParseAddr("2001:db8::100")
		b.addrs = []netip.Addr{netip.MustParseAddr("fe80::100"), b.vip}
		clientAddr, plen = netip.MustParseAddr("2001:db8::1"), 64
		own = []string{"2001:db8::2", "2001:db8::3"}
	}
	b.client.AddAddr("eth0", netip.PrefixFrom(clientAddr, plen))
	for i, name := range []string{"a", "b"} {
		u := &unit{name: name, id: byte(i + 1), host: tb.Host(name), addr: netip.MustParseAddr(own[i]), bed: b}
		u.link = tb.Link(u.host, lan, "eth0")
		u.host.AddAddr("eth0", netip.PrefixFrom(u.addr, plen))
		// The responder binds the virtual address before the unit holds it.
		if v6 {
			u.host.Sysctl("net.ipv6.ip_nonlocal_bind", "1")
		} else {
			u.host.Sysctl("net.ipv4.ip_nonlocal_bind", "1")
		}
		u.ll = linkLocal(t, u.host)
		var conn *net.UDPConn
		require.NoError(t, u.host.Do(func() (err error) {
			conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.vip, echoPort)))
			return err
		}))
		r := newResponder(conn, u.id)
		t.Cleanup(r.close)
		if i == 0 {
			b.a = u
		} else {
			b.b = u
		}
	}
	var conn *net.UDPConn
	require.NoError(t, b.client.Do(func() (err error) {
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(clientAddr, 0)))
		return err
	}))
	b.probe = newProber(conn, netip.AddrPortFrom(b.vip, echoPort), time.Millisecond)
	t.Cleanup(b.probe.close)
	return b
}

// linkLocal returns h's IPv6 link-local address on eth0.
func linkLocal(t *testing.T, h *testbed.Host) netip.Addr {
	t.Helper()
	ifi := h.Interface("eth0")
	var ll netip.Addr
	require.NoError(t, h.Do(func() error {
		addrs, err := ifi.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, _ := netip.AddrFromSlice(n.IP); ip.Is6() && ip.IsLinkLocalUnicast() {
					ll = ip
				}
			}
		}
		return err
	}))
	return ll
}

// holdsVIP reports whether u's interface carries the probed address.
func (u *unit) holdsVIP() bool {
	out, err := u.host.Run("ip", "-o", "addr", "show", "dev", "eth0")
	require.NoError(u.bed.t, err)
	return strings.Contains(out, " "+u.bed.vip.String()+"/")
}

// dropVIPs removes what a dead unit left on its interface.
func (u *unit) dropVIPs() {
	for _, a := range u.bed.addrs {
		_, _ = u.host.Run("ip", "addr", "del", a.String()+"/64", "dev", "eth0")
		_, _ = u.host.Run("ip", "addr", "del", a.String()+"/24", "dev", "eth0")
	}
	require.False(u.bed.t, u.holdsVIP())
}

// ours is this package's Driver running for a unit, with a hook that
// adds the virtual addresses (vmac.AddVIPs) and announces them (garp's
// gratuitous ARP or unsolicited NA) on becoming Master, and removes them
// on leaving it.
type ours struct {
	u    *unit
	d    *Driver
	ann  net.PacketConn
	ifi  *net.Interface
	mu   sync.Mutex
	vips *vmac.Handle
	ts   []Transition
}

// startOurs starts the Driver on u with cfg (Addrs and Primary filled in
// when zero).
func (b *bed) startOurs(u *unit, cfg Config, lc *ListenConfig) *ours {
	b.t.Helper()
	if cfg.Addrs == nil {
		cfg.Addrs = b.addrs
	}
	if lc == nil {
		lc = &ListenConfig{}
	}
	lc.IPv6 = b.v6
	o := &ours{u: u, ifi: u.host.Interface("eth0")}
	var conn *IPConn
	require.NoError(b.t, u.host.Do(func() (err error) {
		if conn, err = Listen(o.ifi, lc); err != nil {
			return err
		}
		o.ann, err = garp.Listen(o.ifi)
		return err
	}))
	if !cfg.Primary.IsValid() {
		cfg.Primary = conn.Source()
	}
	if cfg.AdvertInterval == 0 {
		cfg.AdvertInterval = bedInterval
	}
	d, err := NewDriver(conn, &cfg, &DriverConfig{OnTransition: o.hook})
	require.NoError(b.t, err)
	o.d = d
	require.NoError(b.t, d.Start())
	b.t.Cleanup(func() { o.close() })
	return o
}

func (o *ours) hook(t Transition) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ts = append(o.ts, t)
	switch {
	case t.To == Master:
		var vips []netip.Addr
		for _, a := range t.Addrs {
			if !a.IsLinkLocalUnicast() { // vmac keeps link-local addresses for the kernel
				vips = append(vips, a)
			}
		}
		if err := o.u.host.Do(func() (err error) {
			o.vips, err = vmac.AddVIPs("eth0", vips...)
			return err
		}); err != nil {
			o.u.bed.t.Errorf("%s: add the virtual addresses: %v", o.u.name, err)
			return
		}
		o.announce(vips)
	case t.From == Master:
		o.release()
	}
}

// announce sends one gratuitous ARP or unsolicited NA per address, twice.
func (o *ours) announce(vips []netip.Addr) {
	var bld garp.Builder
	for range 2 {
		for _, a := range vips {
			an := garp.Announcement{Kind: garp.GARPRequest, MAC: o.ifi.HardwareAddr, Addr: a}
			to := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			if a.Is6() {
				an.Kind, an.Router = garp.UnsolicitedNA, true
				to = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
			}
			f, err := bld.Append(nil, an)
			if err == nil {
				_, err = o.ann.WriteTo(f, &packet.Addr{HardwareAddr: to})
			}
			if err != nil {
				o.u.bed.t.Errorf("%s: announce %v: %v", o.u.name, a, err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// release removes the addresses the hook added. o.mu is held.
func (o *ours) release() {
	if o.vips == nil {
		return
	}
	if err := o.u.host.Do(o.vips.Release); err != nil {
		o.u.bed.t.Errorf("%s: release the virtual addresses: %v", o.u.name, err)
	}
	o.vips = nil
}

// die stops the Driver without a word and pulls the unit's cable at the
// switch at the same moment: a power loss. revive puts the unit back as
// a rebooted one would be: no addresses, cable in.
func (o *ours) die() {
	randomPhase()
	o.u.bed.tb.DownAll(func() { _ = o.d.Close() }, o.u.link)
	<-o.d.Done()
	o.u.dead = true
}

func (o *ours) revive() {
	o.mu.Lock()
	o.release()
	o.mu.Unlock()
	o.u.revive()
}

// randomPhase waits a random part of an interval, so that a death falls
// anywhere between two advertisements and the measured gaps spread over
// what they can be (Master_Down_Interval less the time since the last
// advertisement), rather than over what the test's own rhythm picks.
func randomPhase() { time.Sleep(rand.N(bedInterval)) }

// revive puts the unit back as a rebooted one would be: no virtual
// addresses, its cable in.
func (u *unit) revive() {
	u.dropVIPs()
	u.link.Up()
	u.dead = false
}

func (o *ours) close() {
	_ = o.d.Close()
	<-o.d.Done()
	o.mu.Lock()
	o.release()
	o.mu.Unlock()
	_ = o.ann.Close()
}

// keepalived is a keepalived process running for a unit.
type keepalived struct{ proc }

// proc is a daemon running in a unit's namespace, in a process group of
// its own, its output in a log file.
type proc struct {
	name string // the program's base name
	u    *unit
	cmd  *exec.Cmd
	done chan struct{}
	log  string
	code int // the exit status, once done is closed
}

// start runs name with args on u, logging to log; the test's end kills it.
func (p *proc) start(u *unit, log, name string, args ...string) {
	t := u.bed.t
	t.Helper()
	p.name, p.u, p.log, p.done = filepath.Base(name), u, log, make(chan struct{})
	f, err := os.Create(log)
	require.NoError(t, err)
	defer f.Close()
	p.cmd = u.host.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s on %s, %v:\n%s", p.name, u.name, args, p.logText())
		}
	})
}

// kaConf is the part of a keepalived configuration that differs between
// cases.
type kaConf struct {
	priority  int
	nopreempt bool
	unicast   bool // unicast_peer: the other unit
	global    string
	instance  string // more lines in vrrp_instance
}

// startKeepalived runs keepalived 2.2.7 in u's namespace, in the
// foreground, with a configuration of its own: VRRPv3, VRID 51, state
// BACKUP, the bed's interval and addresses.
func (b *bed) startKeepalived(u *unit, c kaConf) *keepalived {
	b.t.Helper()
	dir := filepath.Join(b.dir, fmt.Sprintf("keepalived-%s-%d", u.name, time.Now().UnixNano()))
	require.NoError(b.t, os.MkdirAll(dir, 0o700))
	var conf strings.Builder
	fmt.Fprintf(&conf, "global_defs {\n\trouter_id %s\n\tvrrp_version 3\n%s}\n\n", u.name, c.global)
	fmt.Fprintf(&conf, "vrrp_instance bed {\n\tstate BACKUP\n\tinterface eth0\n\tvirtual_router_id 51\n")
	fmt.Fprintf(&conf, "\tpriority %d\n\tadvert_int %g\n", c.priority, bedInterval.Seconds())
	if c.nopreempt {
		conf.WriteString("\tnopreempt\n")
	}
	if c.unicast {
		other := b.a
		if u == b.a {
			other = b.b
		}
		fmt.Fprintf(&conf, "\tunicast_src_ip %s\n\tunicast_peer {\n\t\t%s\n\t}\n", u.addr, other.addr)
	}
	conf.WriteString(c.instance)
	conf.WriteString("\tvirtual_ipaddress {\n")
	for _, a := range b.addrs {
		bits := 24
		if a.Is6() {
			bits = 64
		}
		fmt.Fprintf(&conf, "\t\t%s/%d dev eth0\n", a, bits)
	}
	conf.WriteString("\t}\n}\n")
	path := filepath.Join(dir, "keepalived.conf")
	require.NoError(b.t, os.WriteFile(path, []byte(conf.String()), 0o600))
	k := &keepalived{}
	k.start(u, filepath.Join(dir, "log"), "keepalived", "-n", "-l", "-D", "-G", "-P", "-f", path,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "checkers.pid"), "-b", filepath.Join(dir, "bfd.pid"))
	return k
}

// ready waits until keepalived has opened its sockets (its "VRRP
// sockpool" line), and two intervals more, so that it hears its peer.
func (k *keepalived) ready() {
	k.u.bed.t.Helper()
	k.u.bed.waitFor(10*time.Second, "keepalived on "+k.u.name+" ready", func() bool {
		return strings.Contains(k.logText(), "VRRP sockpool")
	})
	time.Sleep(2 * bedInterval)
}

// signal sends sig to the process group (ip netns exec, the daemon and
// its children, such as keepalived's VRRP child) and waits for it to end,
// killing it after 10 seconds.
func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// kill is a crash: SIGKILL, nothing sent, the addresses left in place.
func (k *keepalived) kill() { k.signal(syscall.SIGKILL) }

// stop is a clean stop: SIGTERM, keepalived sends priority 0.
func (k *keepalived) stop() { k.signal(syscall.SIGTERM) }

// die kills keepalived and pulls the unit's cable at the same moment.
func (k *keepalived) die() {
	randomPhase()
	k.u.bed.tb.DownAll(k.kill, k.u.link)
	k.u.dead = true
}

// revive puts the unit back as a rebooted one would be.
func (k *keepalived) revive() { k.u.revive() }

// logText returns what the daemon logged so far.
func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// state returns keepalived's state from its last state line, or
// Initialize once it has exited.
func (k *keepalived) state() State {
	select {
	case <-k.done:
		return Initialize
	default:
	}
	m := kaStateLine.FindAllStringSubmatch(k.logText(), -1)
	if len(m) == 0 {
		return Initialize
	}
	switch m[len(m)-1][1] {
	case "MASTER":
		return Master
	case "BACKUP":
		return Backup
	}
	return Initialize
}

var kaStateLine = regexp.MustCompile(`Entering (MASTER|BACKUP|FAULT) STATE`)

// masterState is what a unit's state looks like from the test: a Driver's
// or keepalived's.
type stater interface{ state() State }

func (o *ours) state() State { return o.d.State() }

// waitFor waits up to d for cond.
func (b *bed) waitFor(d time.Duration, what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settled waits until exactly one unit, master, is Master, holds the
// virtual address and alone answers the client, and the other is not
// Master (Backup, or stopped) and without the address, or is dead (its
// cable pulled): no case ends with two masters.
func (b *bed) settled(master *unit, ms stater, backup *unit, bs stater) {
	b.t.Helper()
	ok := func() bool {
		return ms.state() == Master && master.holdsVIP() &&
			(backup.dead || bs.state() != Master && !backup.holdsVIP()) &&
			b.probe.steady(master.id, 300*time.Millisecond, 20*time.Millisecond, time.Now())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			b.t.Fatalf("after 10s, not %s Master holding the address and %s Backup without it: %s",
				master.name, backup.name, b.describe(master, ms, backup, bs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// describe says what the units look like, for a failure message.
func (b *bed) describe(units ...any) string {
	var s strings.Builder
	for i := 0; i+1 < len(units); i += 2 {
		u, st := units[i].(*unit), units[i+1].(stater)
		fmt.Fprintf(&s, "\n%s: %v, holds the address: %v", u.name, st.state(), u.holdsVIP())
		switch x := st.(type) {
		case *keepalived:
			fmt.Fprintf(&s, "\n--- keepalived log:\n%s---", x.logText())
		case *ours:
			fmt.Fprintf(&s, ", status %+v", x.d.Status())
		case *hanode:
			fmt.Fprintf(&s, "\n--- hanode log:\n%s---", x.logText())
		}
	}
	b.probe.mu.Lock()
	if n := len(b.probe.at); n > 0 {
		fmt.Fprintf(&s, "\nclient: %d answers, the last %v ago from unit %d", n, time.Since(b.probe.at[n-1]), b.probe.unit[n-1])
	}
	b.probe.mu.Unlock()
	return s.String()
}

// failover measures the longest stretch without an answer, at the client,
// from just before event runs until master is steady.
func (b *bed) failover(name string, master *unit, ms stater, backup *unit, bs stater, event func()) time.Duration {
	b.t.Helper()
	mark := b.probe.mark()
	t0 := time.Now()
	event()
	b.settled(master, ms, backup, bs)
	gap := b.probe.gapSince(mark, t0, time.Now())
	b.t.Logf("%s: longest gap at the client %v", name, gap.Round(100*time.Microsecond))
	recordGap(b.t.Name()+"/"+name, gap)
	return gap
}

// gaps collects the figures of the bed tests, printed at the end of each.
var (
	gapsMu sync.Mutex
	gaps   []string
)

func recordGap(name string, d time.Duration) {
	gapsMu.Lock()
	gaps = append(gaps, fmt.Sprintf("%-70s %8.1f ms", name, float64(d)/1e6))
	gapsMu.Unlock()
}

// prober sends a UDP probe to target every period and records every
// answer. The gaps are the client's waits: from a probe's sending to the
// first answer received after it, the answer timed by the kernel
// (SO_TIMESTAMPNS), so that a pause of the test process itself (a loaded
// machine) shows in no figure: while it sends nothing it waits for
// nothing, and answers that arrive meanwhile keep their arrival time.
type prober struct {
	conn   *net.UDPConn
	target netip.AddrPort
	period time.Duration
	mu     sync.Mutex
	sent   []time.Time // by sequence number
	at     []time.Time // the answers, in the order received
	unit   []byte
	seq    []uint64
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newProber(conn *net.UDPConn, target netip.AddrPort, period time.Duration) *prober {
	p := &prober{conn: conn, target: target, period: period, stop: make(chan struct{})}
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(period)
		defer tk.Stop()
		var b [8]byte
		for seq := uint64(0); ; seq++ {
			select {
			case <-p.stop:
				return
			case <-tk.C:
				binary.BigEndian.PutUint64(b[:], seq)
				p.mu.Lock()
				p.sent = append(p.sent, time.Now())
				p.mu.Unlock()
				_, _ = conn.WriteToUDPAddrPort(b[:], target)
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		b := make([]byte, 64)
		oob := make([]byte, 128)
		for {
			n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(b, oob)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || n != 9 || from.Addr().Unmap() != target.Addr() {
				continue
			}
			at := rxTime(oob[:oobn])
			p.mu.Lock()
			if seq := binary.BigEndian.Uint64(b[:8]); seq < uint64(len(p.sent)) {
				p.at, p.unit, p.seq = append(p.at, at), append(p.unit, b[8]), append(p.seq, seq)
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// rxTime returns the kernel's receive time from a message's control data,
// or now if it has none.
func rxTime(oob []byte) time.Time {
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
			return time.Unix(int64(binary.NativeEndian.Uint64(m.Data[0:8])), int64(binary.NativeEndian.Uint64(m.Data[8:16])))
		}
	}
	return time.Now()
}

func (p *prober) close() {
	close(p.stop)
	p.conn.Close()
	p.wg.Wait()
}

// mark returns a position in the record, for gapSince.
func (p *prober) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

// gapSince returns the client's longest wait for probes sent in [from,
// to], from mark on: for each, the time from its sending to the first
// answer received at or after that (an answer to it or to a later probe),
// or to to if none came.
func (p *prober) gapSince(mark int, from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	wait, _ := p.waitsLocked(mark, from, to, to)
	return wait
}

// waitsLocked returns the longest wait of the probes from mark on sent in
// [from, to] (unanswered ones wait until horizon), and how many there were.
func (p *prober) waitsLocked(mark int, from, to, horizon time.Time) (time.Duration, int) {
	cmp := func(a, b time.Time) int { return a.Compare(b) }
	start, _ := slices.BinarySearchFunc(p.sent, from, cmp)
	start = max(start, mark)
	n := len(p.sent)
	if start >= n {
		return 0, 0
	}
	// first[i-start]: the earliest answer to probe i or a later one.
	first := make([]time.Time, n-start+1)
	first[n-start] = horizon
	k, _ := slices.BinarySearchFunc(p.at, p.sent[start], cmp)
	for ; k < len(p.at); k++ {
		if i := int(p.seq[k]); i >= start && (first[i-start].IsZero() || p.at[k].Before(first[i-start])) {
			first[i-start] = p.at[k]
		}
	}
	var wait time.Duration
	count := 0
	for i := n - 1; i >= start; i-- {
		f := &first[i-start]
		if f.IsZero() || first[i-start+1].Before(*f) {
			*f = first[i-start+1]
		}
		if s := p.sent[i]; !s.After(to) {
			wait = max(wait, f.Sub(s))
			count++
		}
	}
	return wait, count
}

// steady reports whether unit alone answered during the last d, and every
// probe sent then (but in the last hole) was answered within hole; a
// pause of the test process that sends no probe does not count against
// it, but at least a tenth of the probes due must have been sent.
func (p *prober) steady(unit byte, d, hole time.Duration, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := now.Add(-d)
	i, _ := slices.BinarySearchFunc(p.at, from, func(a, b time.Time) int { return a.Compare(b) })
	for j := i; j < len(p.at); j++ {
		if p.unit[j] != unit {
			return false
		}
	}
	wait, n := p.waitsLocked(0, from, now.Add(-hole), now)
	return n >= int((d-hole)/p.period/10) && wait <= hole
}

// responder echoes each probe with its unit's ID appended.
type responder struct {
	conn *net.UDPConn
	done chan struct{}
}

func newResponder(conn *net.UDPConn, id byte) *responder {
	r := &responder{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b := make([]byte, 64)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(b)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || n != 8 {
				continue
			}
			b[8] = id
			_, _ = conn.WriteToUDPAddrPort(b[:9], from)
		}
	}()
	return r
}

func (r *responder) close() {
	r.conn.Close()
	<-r.done
}

// requireLog fails unless keepalived logged a line matching re.
func (k *keepalived) requireLog(t *testing.T, re string) {
	t.Helper()
	require.Regexp(t, regexp.MustCompile(re), k.logText())
}

// requireNoLog fails if keepalived logged a line matching re.
func (k *keepalived) requireNoLog(t *testing.T, re string) {
	t.Helper()
	if m := regexp.MustCompile(`(?m)^.*` + re + `.*$`).FindString(k.logText()); m != "" {
		t.Fatalf("keepalived on %s logged %q", k.u.name, m)
	}
}

// printGaps logs the figures this bed collected.
func (b *bed) printGaps() {
	gapsMu.Lock()
	defer gapsMu.Unlock()
	b.t.Logf("client gaps:\n%s", strings.Join(gaps[b.gaps0:], "\n"))
}
