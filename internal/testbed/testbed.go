package testbed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Sentinel errors wrapped by the errors this package returns or fails with.
var (
	// ErrNeedRoot means the process lacks the privileges (root,
	// CAP_NET_ADMIN) to create network namespaces.
	ErrNeedRoot = errors.New("needs root (CAP_NET_ADMIN) to create network namespaces")
	// ErrMissingTool means a command the test bed runs (ip, bridge, nft)
	// is not installed.
	ErrMissingTool = errors.New("missing tool")
	// ErrNotSupported means the test bed does not run on this GOOS.
	ErrNotSupported = errors.New("not supported on " + runtime.GOOS)
	// ErrClosed means the Bed was already closed.
	ErrClosed = errors.New("bed is closed")
	// ErrAddress means an address outside the ranges tests may use,
	// 198.18.0.0/15 and 2001:db8::/32.
	ErrAddress = errors.New("address outside 198.18.0.0/15 and 2001:db8::/32")
	// ErrName means an invalid host, bridge or interface name.
	ErrName = errors.New("invalid name")
)

// The address ranges a test may assign: the benchmarking range and the
// documentation range.
var (
	testNet4 = netip.MustParsePrefix("198.18.0.0/15")
	testNet6 = netip.MustParsePrefix("2001:db8::/32")
)

// netnsDir is where ip-netns(8) keeps its named namespaces.
const netnsDir = "/var/run/netns"

// nsPrefix starts the name of every namespace the package creates.
const nsPrefix = "hk-"

// seq numbers the namespaces and nftables tables of this process, so that
// names never collide within a run; the process ID separates runs.
var seq atomic.Uint64

// helper is the part of testing.TB the Bed uses to mark its methods as
// test helpers; programs get a no-op.
type helper interface{ Helper() }

type nopHelper struct{}

func (nopHelper) Helper() {}

// Bed is a network topology built for one test or one program: hosts
// (network namespaces), bridges (each in its own namespace, the switch) and
// the veth links joining them. Its setup methods do not return errors: a
// failing step fails the test (New) or panics (Open). Close removes
// everything.
//
// The setup methods call t.Fatal on failure, so a Bed from New must be set
// up from the test's goroutine.
type Bed struct {
	name string
	tb   helper
	fail func(error)

	mu      sync.Mutex
	closed  bool
	nss     []string
	cmds    []*exec.Cmd
	hosts   map[string]*Host
	bridges map[string]*Bridge
}

// New returns an empty Bed for the test t and registers its removal with
// t.Cleanup, which runs also when the test fails or panics.
//
// When the process is not root, or ip, bridge or nft is missing, New skips
// the test; but when the environment variable CI is "true" it fails it
// instead, because CI must run the privileged tests.
func New(t testing.TB) *Bed {
	t.Helper()
	if msg, fatal := verdict(preflight(), os.Getenv("CI") == "true"); fatal {
		t.Fatal(msg)
	} else if msg != "" {
		t.Skip(msg)
	}
	b := newBed(t.Name())
	b.tb = t
	b.fail = func(err error) {
		t.Helper()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// verdict turns the result of preflight into what New does: go on (msg
// empty), skip with msg, or fail with msg when ci is set.
func verdict(err error, ci bool) (msg string, fatal bool) {
	if err == nil {
		return "", false
	}
	msg = "testbed: " + err.Error()
	if ci {
		return msg + " (CI=true: privileged tests must run, not skip)", true
	}
	return msg, false
}

// Open returns an empty Bed for a program (a benchmark or demo run as root
// outside go test). It returns an error wrapping ErrNeedRoot,
// ErrMissingTool or ErrNotSupported when the bed cannot run here. Its setup
// methods panic with a clear message when a step fails; the program should
// defer Close right after Open, so that a panic still removes everything.
func Open(name string) (*Bed, error) {
	if err := preflight(); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	b := newBed(name)
	b.tb = nopHelper{}
	b.fail = func(err error) { panic(err) }
	return b, nil
}

func newBed(name string) *Bed {
	sweepOnce.Do(func() { sweep(time.Minute) })
	return &Bed{
		name:    name,
		hosts:   make(map[string]*Host),
		bridges: make(map[string]*Bridge),
	}
}

// Name returns the name the Bed was created with: the test's name or the
// name given to Open.
func (b *Bed) Name() string { return b.name }

// Close kills the commands started with Host.Start that still run and
// deletes every namespace of the Bed, which removes its veth links,
// bridges and nftables rules. It is safe to call more than once; calls
// after the first do nothing and return nil.
func (b *Bed) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	cmds, nss := b.cmds, b.nss
	b.cmds, b.nss = nil, nil
	b.mu.Unlock()

	for _, c := range cmds {
		if c.Process == nil {
			continue
		}
		_ = c.Process.Kill()
		_ = c.Wait() // reaps it; fails harmlessly if the caller already waited
	}
	var errs []error
	for i := len(nss) - 1; i >= 0; i-- {
		if err := deleteNamespace(nss[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Namespaces returns the names of the network namespaces the Bed created,
// hosts and switches, in creation order.
func (b *Bed) Namespaces() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.nss...)
}

// failf reports a failed setup step.
func (b *Bed) failf(format string, args ...any) {
	b.tb.Helper()
	b.fail(fmt.Errorf("testbed: "+format, args...))
}

// newNamespace creates a named network namespace whose name is unique to
// this process, bed and call, and records it for Close.
func (b *Bed) newNamespace(name string) (string, error) {
	ns := fmt.Sprintf("%s%d-%d-%s", nsPrefix, os.Getpid(), seq.Add(1), name)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return "", ErrClosed
	}
	b.nss = append(b.nss, ns)
	b.mu.Unlock()
	if _, err := run("", "ip", "netns", "add", ns); err != nil {
		return "", err
	}
	return ns, nil
}

func deleteNamespace(ns string) error {
	out, err := run("", "ip", "netns", "delete", ns)
	if err != nil && !strings.Contains(out, "No such file") {
		return err
	}
	return nil
}

// Host is a network namespace standing for one machine of the topology.
type Host struct {
	bed  *Bed
	name string
	ns   string
}

// Host creates a host: a fresh network namespace with lo up and IPv6
// duplicate address detection off (so addresses are usable at once). The
// name must be unique in the Bed, of letters, digits, '.', '_' or '-', at
// most 32 bytes.
func (b *Bed) Host(name string) *Host {
	b.tb.Helper()
	if !validName(name, 32) {
		b.failf("host %q: %w", name, ErrName)
		return nil
	}
	b.mu.Lock()
	_, dup := b.hosts[name]
	b.mu.Unlock()
	if dup {
		b.failf("host %q: %w: already exists", name, ErrName)
		return nil
	}
	ns, err := b.newNamespace(name)
	if err != nil {
		b.failf("host %q: %w", name, err)
		return nil
	}
	h := &Host{bed: b, name: name, ns: ns}
	if _, err := run("", "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
		b.failf("host %q: %w", name, err)
		return nil
	}
	for _, kv := range [][2]string{
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
	} {
		if err := h.sysctl(kv[0], kv[1]); err != nil {
			b.failf("host %q: %w", name, err)
			return nil
		}
	}
	b.mu.Lock()
	b.hosts[name] = h
	b.mu.Unlock()
	return h
}

// Name returns the host's name as given to Bed.Host.
func (h *Host) Name() string { return h.name }

// Namespace returns the name of the host's network namespace, as
// ip netns list shows it.
func (h *Host) Namespace() string { return h.ns }

// AddAddr assigns the address p to the interface ifname of the host
// (IPv6 addresses without duplicate address detection). The address must
// lie in 198.18.0.0/15 or 2001:db8::/32.
func (h *Host) AddAddr(ifname string, p netip.Prefix) {
	h.bed.tb.Helper()
	if !allowed(p) {
		h.bed.failf("host %q: add %s: %w", h.name, p, ErrAddress)
		return
	}
	args := []string{"-n", h.ns, "addr", "add", p.String(), "dev", ifname}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	if _, err := run("", "ip", args...); err != nil {
		h.bed.failf("host %q: %w", h.name, err)
	}
}

// allowed reports whether tests may use the address of p.
func allowed(p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	a := p.Addr() // an IPv4-mapped IPv6 address is in neither range
	return (testNet4.Contains(a) && p.Bits() >= testNet4.Bits()) ||
		(testNet6.Contains(a) && p.Bits() >= testNet6.Bits())
}

// Run runs the command name with args inside the host's namespace (under
// ip netns exec, so /sys is the namespace's too) and returns its combined
// output. The error names the command line and includes the output.
func (h *Host) Run(name string, args ...string) (string, error) {
	if h.bed.isClosed() {
		return "", fmt.Errorf("testbed: host %q: run %s: %w", h.name, name, ErrClosed)
	}
	out, err := run("", "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	if err != nil {
		return out, fmt.Errorf("testbed: host %q: %w", h.name, err)
	}
	return out, nil
}

// Command returns a command that runs name with args inside the host's
// namespace, not yet started, for a caller that wants to set its output or
// environment. If it is started, Close kills it if it still runs.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	h.bed.mu.Lock()
	h.bed.cmds = append(h.bed.cmds, cmd)
	h.bed.mu.Unlock()
	return cmd
}

// Start starts the command name with args inside the host's namespace and
// returns it running; Close kills it if it still runs. The caller may Wait
// for it, but not concurrently with Close.
func (h *Host) Start(name string, args ...string) *exec.Cmd {
	h.bed.tb.Helper()
	if h.bed.isClosed() {
		h.bed.failf("host %q: start %s: %w", h.name, name, ErrClosed)
		return nil
	}
	cmd := h.Command(name, args...)
	if err := cmd.Start(); err != nil {
		h.bed.failf("host %q: start %s: %w", h.name, cmd, err)
		return nil
	}
	return cmd
}

// Do runs fn on a locked OS thread that has joined the host's network
// namespace, waits for it, and returns its error.
//
// Sockets (including mdlayher/packet connections and netlink sockets) that
// fn opens belong to the namespace for their whole life, and may be used
// from any goroutine afterwards. Goroutines that fn starts do NOT run in
// the namespace. /sys is not remounted: read interfaces through netlink
// (net.InterfaceByName works) or use Run. A panic in fn is re-raised in
// the caller, and t.FailNow (require.…) inside fn ends the caller's
// goroutine too, as if called there.
func (h *Host) Do(fn func() error) error {
	if h.bed.isClosed() {
		return fmt.Errorf("testbed: host %q: %w", h.name, ErrClosed)
	}
	return doIn(filepath.Join(netnsDir, h.ns), fn)
}

// Interface returns the interface ifname of the host.
func (h *Host) Interface(ifname string) *net.Interface {
	h.bed.tb.Helper()
	var ifi *net.Interface
	err := h.Do(func() error {
		var err error
		ifi, err = net.InterfaceByName(ifname)
		return err
	})
	if err != nil {
		h.bed.failf("host %q: interface %s: %w", h.name, ifname, err)
		return nil
	}
	return ifi
}

// Sysctl sets the network parameter key (dotted, "net.ipv4.ip_forward", or
// a path under /proc/sys when an interface name holds a dot,
// "net/ipv4/conf/eth0.10/arp_announce") to value in the host's namespace.
// Only net.* keys are accepted: the others are not per namespace, so
// setting them would change the whole machine.
func (h *Host) Sysctl(key, value string) {
	h.bed.tb.Helper()
	if err := h.sysctl(key, value); err != nil {
		h.bed.failf("host %q: %w", h.name, err)
	}
}

func (h *Host) sysctl(key, value string) error {
	return sysctlIn(h.bed, h.ns, key, value)
}

func sysctlIn(b *Bed, ns, key, value string) error {
	if b.isClosed() {
		return ErrClosed
	}
	path, err := sysctlPath(key)
	if err != nil {
		return err
	}
	err = doIn(filepath.Join(netnsDir, ns), func() error {
		return os.WriteFile(path, []byte(value), 0)
	})
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// sysctlPath returns the file under /proc/sys of a net.* key.
func sysctlPath(key string) (string, error) {
	path := key
	if !strings.Contains(key, "/") {
		path = strings.ReplaceAll(key, ".", "/")
	}
	path = filepath.Join("/proc/sys", filepath.Clean("/"+path))
	if !strings.HasPrefix(path, "/proc/sys/net/") {
		return "", fmt.Errorf("sysctl %s: %w: only net.* keys are per namespace", key, ErrName)
	}
	return path, nil
}

// Neighbour is one entry of a host's neighbour (ARP/NDP) table.
type Neighbour struct {
	IP    netip.Addr
	MAC   net.HardwareAddr
	State string // the kernel's NUD state: "REACHABLE", "STALE", "PERMANENT"…
}

// Neighbours returns the neighbour table of the host's interface ifname:
// the entries that have a link-layer address, IPv4 and IPv6.
func (h *Host) Neighbours(ifname string) []Neighbour {
	h.bed.tb.Helper()
	out, err := run("", "ip", "-j", "-n", h.ns, "neigh", "show", "dev", ifname)
	if err != nil {
		h.bed.failf("host %q: %w", h.name, err)
		return nil
	}
	ns, err := parseNeighbours([]byte(out))
	if err != nil {
		h.bed.failf("host %q: neighbours of %s: %w", h.name, ifname, err)
		return nil
	}
	return ns
}

func parseNeighbours(data []byte) ([]Neighbour, error) {
	var raw []struct {
		Dst    string   `json:"dst"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal(emptyJSON(data), &raw); err != nil {
		return nil, err
	}
	var ns []Neighbour
	for _, r := range raw {
		if r.LLAddr == "" {
			continue
		}
		ip, err := netip.ParseAddr(r.Dst)
		if err != nil {
			return nil, err
		}
		mac, err := net.ParseMAC(r.LLAddr)
		if err != nil {
			return nil, err
		}
		ns = append(ns, Neighbour{IP: ip, MAC: mac, State: strings.Join(r.State, ",")})
	}
	return ns, nil
}

// emptyJSON turns the empty output some commands print for an empty table
// into an empty JSON array.
func emptyJSON(data []byte) []byte {
	if len(bytes.TrimSpace(data)) == 0 {
		return []byte("[]")
	}
	return data
}

// Bridge is a Linux bridge, the switch of the topology. It lives alone in
// its own network namespace, with IPv6 off there so that the switch itself
// sends nothing. STP is off, ports forward as soon as they are up, the
// learning table ages entries after 300 s and multicast snooping is off
// (multicast floods like broadcast).
type Bridge struct {
	bed   *Bed
	name  string
	ns    string
	ports map[string]*Link // by port name; guarded by bed.mu
}

// Bridge creates a bridge named name (also its interface name in its
// namespace, so at most 15 bytes); the name must be unique in the Bed.
func (b *Bed) Bridge(name string) *Bridge {
	b.tb.Helper()
	if !validName(name, 15) {
		b.failf("bridge %q: %w", name, ErrName)
		return nil
	}
	b.mu.Lock()
	_, dup := b.bridges[name]
	b.mu.Unlock()
	if dup {
		b.failf("bridge %q: %w: already exists", name, ErrName)
		return nil
	}
	ns, err := b.newNamespace("sw-" + name)
	if err != nil {
		b.failf("bridge %q: %w", name, err)
		return nil
	}
	br := &Bridge{bed: b, name: name, ns: ns, ports: make(map[string]*Link)}
	steps := func() error {
		for _, kv := range [][2]string{
			{"net.ipv6.conf.all.disable_ipv6", "1"},
			{"net.ipv6.conf.default.disable_ipv6", "1"},
		} {
			if err := sysctlIn(b, ns, kv[0], kv[1]); err != nil {
				return err
			}
		}
		for _, args := range [][]string{
			{"-n", ns, "link", "set", "lo", "up"},
			{"-n", ns, "link", "add", "name", name, "type", "bridge",
				"stp_state", "0", "forward_delay", "0",
				"ageing_time", "30000", // centiseconds: 300 s, the IEEE 802.1D default
				"mcast_snooping", "0"},
			{"-n", ns, "link", "set", name, "up"},
		} {
			if _, err := run("", "ip", args...); err != nil {
				return err
			}
		}
		return nil
	}
	if err := steps(); err != nil {
		b.failf("bridge %q: %w", name, err)
		return nil
	}
	b.mu.Lock()
	b.bridges[name] = br
	b.mu.Unlock()
	return br
}

// Name returns the bridge's name, also its interface name in its namespace.
func (br *Bridge) Name() string { return br.name }

// Namespace returns the name of the bridge's network namespace.
func (br *Bridge) Namespace() string { return br.ns }

// Link is a veth pair: one end, named as asked, in a host; the other end, a
// port of a bridge, in the bridge's namespace.
type Link struct {
	bed    *Bed
	host   *Host
	bridge *Bridge
	ifname string
	peer   string
	mac    net.HardwareAddr // guarded by bed.mu
}

// Link cables the host h to the bridge br: a veth pair whose end ifname
// (at most 15 bytes) is in h and whose other end is a port of br. Both ends
// are up when Link returns.
func (b *Bed) Link(h *Host, br *Bridge, ifname string) *Link {
	b.tb.Helper()
	if h == nil || br == nil || h.bed != b || br.bed != b {
		b.failf("link %q: %w: host and bridge must come from this Bed", ifname, ErrName)
		return nil
	}
	if !validName(ifname, 15) {
		b.failf("link %q: %w", ifname, ErrName)
		return nil
	}
	if b.isClosed() {
		b.failf("link %q: %w", ifname, ErrClosed)
		return nil
	}
	// The switch-side name: readable when it fits, else numbered.
	peer := h.name + "-" + ifname
	b.mu.Lock()
	_, taken := br.ports[peer]
	b.mu.Unlock()
	if len(peer) > 15 || taken {
		peer = fmt.Sprintf("p%d", seq.Add(1))
	}
	l := &Link{bed: b, host: h, bridge: br, ifname: ifname, peer: peer}
	steps := func() error {
		if _, err := run("", "ip", "link", "add", ifname, "netns", h.ns, "type", "veth",
			"peer", "name", peer, "netns", br.ns); err != nil {
			return err
		}
		if err := h.sysctl("net/ipv6/conf/"+ifname+"/accept_dad", "0"); err != nil {
			return err
		}
		for _, args := range [][]string{
			{"-n", br.ns, "link", "set", peer, "master", br.name, "up"},
			{"-n", h.ns, "link", "set", ifname, "up"},
		} {
			if _, err := run("", "ip", args...); err != nil {
				return err
			}
		}
		return nil
	}
	if err := steps(); err != nil {
		b.failf("link %s/%s-%s: %w", h.name, ifname, br.name, err)
		return nil
	}
	if err := l.settle(); err != nil {
		b.failf("link %s/%s-%s: %w", h.name, ifname, br.name, err)
		return nil
	}
	ifi := h.Interface(ifname)
	if ifi == nil {
		return nil
	}
	b.mu.Lock()
	l.mac = ifi.HardwareAddr
	br.ports[peer] = l
	b.mu.Unlock()
	return l
}

// Host returns the host end's host.
func (l *Link) Host() *Host { return l.host }

// Bridge returns the bridge the link is a port of.
func (l *Link) Bridge() *Bridge { return l.bridge }

// Name returns the interface name of the host end.
func (l *Link) Name() string { return l.ifname }

// Peer returns the interface name of the bridge end (the bridge port) in
// the bridge's namespace.
func (l *Link) Peer() string { return l.peer }

// MAC returns the hardware address of the host end.
func (l *Link) MAC() net.HardwareAddr {
	l.bed.mu.Lock()
	defer l.bed.mu.Unlock()
	return append(net.HardwareAddr(nil), l.mac...)
}

// SetMAC sets the hardware address of the host end.
func (l *Link) SetMAC(mac net.HardwareAddr) {
	l.bed.tb.Helper()
	if _, err := run("", "ip", "-n", l.host.ns, "link", "set", l.ifname, "address", mac.String()); err != nil {
		l.bed.failf("link %s/%s: %w", l.host.name, l.ifname, err)
		return
	}
	l.bed.mu.Lock()
	l.mac = append(net.HardwareAddr(nil), mac...)
	l.bed.mu.Unlock()
}

// Down sets the bridge end down: the cable pulled at the switch. The bridge
// stops forwarding to and from the port (and forgets the MACs it learnt
// there), and the host end loses carrier. Like Up, HostDown and HostUp, it
// returns once the kernel has settled the new state on both ends and the
// bridge port.
func (l *Link) Down() { l.bed.tb.Helper(); l.set(l.bridge.ns, l.peer, "down") }

// Up sets the bridge end up again; the port forwards at once.
func (l *Link) Up() { l.bed.tb.Helper(); l.set(l.bridge.ns, l.peer, "up") }

// HostDown sets the host end down (ip link set dev down on the host).
func (l *Link) HostDown() { l.bed.tb.Helper(); l.set(l.host.ns, l.ifname, "down") }

// HostUp sets the host end up again.
func (l *Link) HostUp() { l.bed.tb.Helper(); l.set(l.host.ns, l.ifname, "up") }

// DownAll sets the bridge ends of links down at the same moment, as when a
// unit loses power and every cable of it goes dark at once, and calls
// during (if not nil) right after the changes were made, before waiting
// for each link to settle. Down on one link after another takes a few
// milliseconds each, long enough for a fast heartbeat to see the links
// fail one by one.
func (b *Bed) DownAll(during func(), links ...*Link) {
	b.tb.Helper()
	errs := make([]error, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = run("", "ip", "-n", l.bridge.ns, "link", "set", l.peer, "down")
		}()
	}
	wg.Wait()
	if during != nil {
		during()
	}
	for i, l := range links {
		if errs[i] == nil {
			errs[i] = l.settle()
		}
		if errs[i] != nil {
			b.failf("link %s/%s: %w", l.host.name, l.ifname, errs[i])
		}
	}
}

func (l *Link) set(ns, ifname, state string) {
	l.bed.tb.Helper()
	if _, err := run("", "ip", "-n", ns, "link", "set", ifname, state); err != nil {
		l.bed.failf("link %s/%s: %w", l.host.name, l.ifname, err)
		return
	}
	if err := l.settle(); err != nil {
		l.bed.failf("link %s/%s: %w", l.host.name, l.ifname, err)
	}
}

// settleTimeout bounds the wait for the kernel to settle a link.
const settleTimeout = 5 * time.Second

// settle waits until the kernel has finished what the last change of the
// link set in motion. Carrier, the transmit queue and the bridge port state
// follow an up or down through the kernel's link watch, which runs
// asynchronously: a frame sent right after ip link set up may be dropped
// until it has run. After settle, frames flow (or do not) as the link's
// state says, and FDB and Neighbours show the current state.
func (l *Link) settle() error {
	deadline := time.Now().Add(settleTimeout)
	for {
		// ip addr show gives the link's state and its addresses at once.
		host, err := run("", "ip", "-j", "-n", l.host.ns, "addr", "show", "dev", l.ifname)
		if err != nil {
			return err
		}
		peer, err := run("", "ip", "-j", "-n", l.bridge.ns, "link", "show", "dev", l.peer)
		if err != nil {
			return err
		}
		port, err := run("", "bridge", "-j", "-n", l.bridge.ns, "link", "show", "dev", l.peer)
		if err != nil {
			return err
		}
		ok, why, err := settled([]byte(host), []byte(peer), []byte(port))
		if err != nil {
			return fmt.Errorf("reading link state: %w", err)
		}
		if ok {
			ok, why, err = l.ipv6Ready([]byte(host))
			if err != nil {
				return fmt.Errorf("reading link state: %w", err)
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link did not settle within %v: %s", settleTimeout, why)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ipv6Ready reports whether the IPv6 link-local address of the host end
// is usable when the link is up (unless IPv6 or its address generation is
// off on the interface). The kernel adds and validates it from a work
// queue, a moment after the carrier came up. Other addresses are the
// test's business: AddAddr adds them without duplicate address detection.
// host is the JSON of ip -j addr show dev for the host end.
func (l *Link) ipv6Ready(host []byte) (ok bool, why string, err error) {
	if !slices.Contains(linkFlags(host), "UP") {
		return true, "", nil
	}
	state, err := linkLocalState(host)
	if err != nil {
		return false, "", err
	}
	switch state {
	case llTentative:
		return false, "the IPv6 link-local address of the host end is tentative", nil
	case llDone:
		return true, "", nil
	}
	// No link-local address: fine if IPv6 or address generation is off.
	var disabled, genMode []byte
	err = doIn(filepath.Join(netnsDir, l.host.ns), func() error {
		dir := filepath.Join("/proc/sys/net/ipv6/conf", l.ifname)
		var err error
		if disabled, err = os.ReadFile(filepath.Join(dir, "disable_ipv6")); err != nil {
			return err
		}
		genMode, err = os.ReadFile(filepath.Join(dir, "addr_gen_mode"))
		return err
	})
	if err != nil {
		return false, "", err
	}
	if string(bytes.TrimSpace(disabled)) != "0" || string(bytes.TrimSpace(genMode)) == "1" {
		return true, "", nil
	}
	return false, "the host end has no IPv6 link-local address yet", nil
}

// linkFlags returns the flags of the one interface in the JSON of
// ip -j link show (or addr show), or nil.
func linkFlags(data []byte) []string {
	var v []struct {
		Flags []string `json:"flags"`
	}
	if json.Unmarshal(data, &v) != nil || len(v) != 1 {
		return nil
	}
	return v[0].Flags
}

// The states of an interface's IPv6 link-local address.
const (
	llNone      = iota // no link-local address
	llTentative        // being validated by duplicate address detection
	llDone             // usable, or failed duplicate address detection: nothing to wait for
)

// linkLocalState reads the JSON of ip -j addr show dev X and returns
// the state of the interface's link-local address.
func linkLocalState(data []byte) (int, error) {
	var v []struct {
		AddrInfo []struct {
			Family    string `json:"family"`
			Local     string `json:"local"`
			Tentative bool   `json:"tentative"`
			DADFailed bool   `json:"dadfailed"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(emptyJSON(data), &v); err != nil {
		return llNone, err
	}
	state := llNone
	for _, i := range v {
		for _, a := range i.AddrInfo {
			ip, err := netip.ParseAddr(a.Local)
			if a.Family != "inet6" || err != nil || !ip.IsLinkLocalUnicast() {
				continue
			}
			if a.Tentative && !a.DADFailed {
				state = max(state, llTentative)
			} else {
				state = llDone
			}
		}
	}
	return state, nil
}

// settled reports whether a link whose two ends and bridge port are
// described by the JSON of ip -j addr show (host), ip -j link show (peer)
// and bridge -j link show (port) is in a steady state: with both ends up, both operationally
// up with their queues attached and the port forwarding; otherwise, both
// ends operationally down and the port disabled. why describes the state
// when it is not steady.
func settled(host, peer, port []byte) (ok bool, why string, err error) {
	type ifstate struct {
		Flags     []string `json:"flags"`
		Qdisc     string   `json:"qdisc"`
		Operstate string   `json:"operstate"`
		State     string   `json:"state"` // bridge port state
	}
	one := func(data []byte) (ifstate, error) {
		var v []ifstate
		if err := json.Unmarshal(data, &v); err != nil {
			return ifstate{}, err
		}
		if len(v) != 1 {
			return ifstate{}, fmt.Errorf("%d interfaces in %s", len(v), bytes.TrimSpace(data))
		}
		return v[0], nil
	}
	h, err := one(host)
	if err != nil {
		return false, "", err
	}
	p, err := one(peer)
	if err != nil {
		return false, "", err
	}
	pt, err := one(port)
	if err != nil {
		return false, "", err
	}
	why = fmt.Sprintf("host end %s (qdisc %s), bridge end %s (qdisc %s), port %s",
		h.Operstate, h.Qdisc, p.Operstate, p.Qdisc, pt.State)
	if slices.Contains(h.Flags, "UP") && slices.Contains(p.Flags, "UP") {
		ok = h.Operstate == "UP" && p.Operstate == "UP" &&
			h.Qdisc != "noop" && p.Qdisc != "noop" && pt.State == "forwarding"
	} else {
		ok = h.Operstate != "UP" && p.Operstate != "UP" && pt.State == "disabled"
	}
	return ok, why, nil
}

// FDBEntry is one entry of a bridge's forwarding (learning) table.
type FDBEntry struct {
	MAC   net.HardwareAddr
	Port  string // the name of the host at the other end of the port
	Link  *Link  // the link the port belongs to
	Local bool   // the port's own address, not learnt
}

// FDB returns the bridge's forwarding table: the addresses learnt on each
// port, and the ports' own (Local) addresses. The bridge's own multicast
// entries are left out.
func (br *Bridge) FDB() []FDBEntry {
	br.bed.tb.Helper()
	out, err := run("", "bridge", "-j", "-n", br.ns, "fdb", "show", "br", br.name)
	if err != nil {
		br.bed.failf("bridge %q: %w", br.name, err)
		return nil
	}
	entries, err := parseFDB([]byte(out), br.name, br.links())
	if err != nil {
		br.bed.failf("bridge %q: fdb: %w", br.name, err)
		return nil
	}
	return entries
}

// links returns a copy of the bridge's links by port name.
func (br *Bridge) links() map[string]*Link {
	br.bed.mu.Lock()
	defer br.bed.mu.Unlock()
	m := make(map[string]*Link, len(br.ports))
	for k, v := range br.ports {
		m[k] = v
	}
	return m
}

func parseFDB(data []byte, bridge string, ports map[string]*Link) ([]FDBEntry, error) {
	var raw []struct {
		MAC    string   `json:"mac"`
		Ifname string   `json:"ifname"`
		Flags  []string `json:"flags"`
		State  string   `json:"state"`
	}
	if err := json.Unmarshal(emptyJSON(data), &raw); err != nil {
		return nil, err
	}
	var es []FDBEntry
outer:
	for _, r := range raw {
		if r.Ifname == bridge {
			continue
		}
		for _, f := range r.Flags {
			if f == "self" {
				continue outer
			}
		}
		mac, err := net.ParseMAC(r.MAC)
		if err != nil {
			return nil, err
		}
		e := FDBEntry{MAC: mac, Port: r.Ifname, Local: r.State == "permanent"}
		if l := ports[r.Ifname]; l != nil {
			e.Port, e.Link = l.host.name, l
		}
		es = append(es, e)
	}
	return es, nil
}

// Match selects the frames a loss rule drops; its zero value selects every
// frame the bridge forwards.
type Match struct {
	In        *Link  // only frames entering the bridge from this link's port
	Out       *Link  // only frames leaving the bridge through this link's port
	EtherType uint16 // only frames of this EtherType (0: any)
}

// Loss makes the bridge drop the given share (0 to 1, in steps of 0.001) of
// the frames it forwards, chosen at random by nftables (numgen random).
// remove deletes the rule; it is safe to call more than once, and after
// Close. The rule's own counter is not read: measure the loss on the
// wire.
func (br *Bridge) Loss(share float64) (remove func()) {
	br.bed.tb.Helper()
	return br.LossMatch(Match{}, share)
}

// LossOn is Loss for the frames entering the bridge from the port of l
// only.
func (br *Bridge) LossOn(l *Link, share float64) (remove func()) {
	br.bed.tb.Helper()
	return br.LossMatch(Match{In: l}, share)
}

// LossMatch is Loss for the frames that m selects only. Several rules may
// be active at once; each drops its share independently.
func (br *Bridge) LossMatch(m Match, share float64) (remove func()) {
	br.bed.tb.Helper()
	table := fmt.Sprintf("hk_loss_%d", seq.Add(1))
	script, err := lossScript(table, m, share)
	if err != nil {
		br.bed.failf("bridge %q: loss: %w", br.name, err)
		return func() {}
	}
	if br.bed.isClosed() {
		br.bed.failf("bridge %q: loss: %w", br.name, ErrClosed)
		return func() {}
	}
	if _, err := run(script, "ip", "netns", "exec", br.ns, "nft", "-f", "-"); err != nil {
		br.bed.failf("bridge %q: loss: %w", br.name, err)
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if br.bed.isClosed() {
				return
			}
			if _, err := run("", "ip", "netns", "exec", br.ns, "nft", "delete", "table", "bridge", table); err != nil {
				br.bed.failf("bridge %q: remove loss: %w", br.name, err)
			}
		})
	}
}

// lossScript returns the nft script of a bridge-family table named table
// whose forward-hook chain drops share of the frames m selects.
func lossScript(table string, m Match, share float64) (string, error) {
	if math.IsNaN(share) || share < 0 || share > 1 {
		return "", fmt.Errorf("share %v not in [0, 1]", share)
	}
	n := int(math.Round(share * 1000))
	var rule strings.Builder
	if m.In != nil {
		fmt.Fprintf(&rule, "iifname %q ", m.In.peer)
	}
	if m.Out != nil {
		fmt.Fprintf(&rule, "oifname %q ", m.Out.peer)
	}
	if m.EtherType != 0 {
		fmt.Fprintf(&rule, "ether type 0x%04x ", m.EtherType)
	}
	switch {
	case n == 0:
		return fmt.Sprintf("table bridge %s {\n\tchain loss {\n\t\ttype filter hook forward priority 0; policy accept;\n\t}\n}\n", table), nil
	case n < 1000:
		fmt.Fprintf(&rule, "numgen random mod 1000 < %d ", n)
	}
	rule.WriteString("counter drop")
	return fmt.Sprintf("table bridge %s {\n\tchain loss {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\t%s\n\t}\n}\n",
		table, rule.String()), nil
}

func (b *Bed) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// validName reports whether s is a usable host, bridge or interface name:
// 1 to max bytes of letters, digits, '.', '_' and '-', not "." or "..".
func validName(s string, max int) bool {
	if s == "" || len(s) > max || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// run runs a command with stdin (if not empty) and returns its combined
// output; the error names the command line and includes the output.
func run(stdin, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", cmd, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

var sweepOnce sync.Once

// staleName matches the namespaces this package creates, capturing the
// creating process's ID.
var staleName = regexp.MustCompile(`^` + nsPrefix + `(\d+)-\d+-`)

// sweep deletes the namespaces left behind by test processes that were
// killed before their cleanup could run (a go test timeout, SIGKILL):
// those whose creating process no longer exists and that are older than
// minAge.
func sweep(minAge time.Duration) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < minAge {
			continue
		}
		_ = deleteNamespace(e.Name())
	}
}
