package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// errConfig is wrapped by every configuration error; run exits with status
// 2 on it, before anything on the system has changed.
var errConfig = errors.New("invalid configuration")

// errHelp is returned by parseConfig for -h: the usage was printed.
var errHelp = errors.New("help requested")

// Virtual MAC modes (-vmac).
const (
	vmacOff       = "off"
	vmacInterface = "interface"
	vmacMacvlan   = "macvlan"
)

// vip is one -vip flag: a virtual address with its prefix length on an
// interface.
type vip struct {
	Iface  string
	Prefix netip.Prefix
}

// config is the daemon's parsed command line.
type config struct {
	ClusterID   uint16
	UnitID      uint16
	Priority    uint8
	Ifaces      []string // critical interfaces: heartbeats and link monitoring
	VIPs        []vip
	VMAC        string
	SyncIface   string           // raw Ethernet sync …
	SyncPeerMAC net.HardwareAddr // … to this peer
	SyncPeer    netip.AddrPort   // or UDP sync to this peer …
	SyncListen  netip.AddrPort   // … listening here
	Conntrack   bool
	Interval    time.Duration
	Misses      int
	ProbeWindow time.Duration
	Mode        heartbeat.Mode
	Preempt     bool
	Keys        *hakit.Keyring // from -key-file (key ID 1); nil: unauthenticated
	Status      string
	StateDir    string // where interface mode records the interfaces' own MACs
	LogLevel    slog.Level
}

// sync reports whether session replication is configured.
func (c *config) sync() bool { return c.SyncIface != "" || c.SyncPeer.IsValid() }

// vipIfaces returns the interfaces that carry virtual addresses, in the
// order of their first -vip flag.
func (c *config) vipIfaces() []string {
	var out []string
	for _, v := range c.VIPs {
		if !contains(out, v.Iface) {
			out = append(out, v.Iface)
		}
	}
	return out
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// parseConfig parses and checks the command line. It reads the key file but
// touches nothing else on the system; interfaces are checked by the daemon
// before it changes anything.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("hanode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cluster, unit, priority      uint
		ifaces, vips                 listFlag
		vmacMode, syncIface, syncMAC string
		syncPeer, syncListen, mode   string
		keyFile, status, level       string
		stateDir                     string
		conntrack, preempt           bool
		interval, window             time.Duration
		misses                       int
	)
	fs.UintVar(&cluster, "cluster-id", 0, "cluster ID, unique on the network (0-65535; 0-255 gives VRRP-like uniqueness)")
	fs.UintVar(&unit, "unit-id", 0, "this unit's ID, unique in the cluster (1-65535)")
	fs.UintVar(&priority, "priority", 128, "election priority (0-255, higher wins)")
	fs.Var(&ifaces, "iface", "critical interface: heartbeats are sent on it and its link is monitored (repeatable, at least one)")
	fs.Var(&vips, "vip", "virtual address IFACE=ADDR/PLEN held by the primary, IPv4 or IPv6 (repeatable)")
	fs.StringVar(&vmacMode, "vmac", vmacInterface, "virtual MAC mode: off (addresses only), interface (on the interface itself) or macvlan (on a macvlan child)")
	fs.StringVar(&syncIface, "sync-iface", "", "replicate sessions over raw Ethernet on this interface (needs -sync-peer-mac)")
	fs.StringVar(&syncMAC, "sync-peer-mac", "", "the peer's MAC on -sync-iface")
	fs.StringVar(&syncPeer, "sync-peer", "", "replicate sessions over UDP to this peer HOST:PORT (an IP address)")
	fs.StringVar(&syncListen, "sync-listen", "", "local UDP address for -sync-peer (default: any address, the peer's port)")
	fs.BoolVar(&conntrack, "conntrack", false, "replicate the kernel's conntrack table (needs -sync-iface or -sync-peer)")
	fs.DurationVar(&interval, "interval", 100*time.Millisecond, "heartbeat interval")
	fs.IntVar(&misses, "misses", 2, "missed heartbeats before Early Interface Failure Detection starts")
	fs.DurationVar(&window, "probe-window", 600*time.Millisecond, "EIFD probe window after the misses")
	fs.StringVar(&mode, "mode", "early", "heartbeat verdict mode: early or strict")
	fs.BoolVar(&preempt, "preempt", false, "let a better unit take the primary role from a healthy primary")
	fs.StringVar(&keyFile, "key-file", "", "file holding the shared key (at least 16 bytes) authenticating heartbeats and sync")
	fs.StringVar(&status, "status", "", "serve the status as JSON over HTTP on this address (for example 127.0.0.1:9100)")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&stateDir, "state-dir", "/run/hanode", "directory where -vmac interface records each interface's own MAC before taking it over, so that a restart after a crash puts it back")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	bad := func(format string, a ...any) (*config, error) {
		return nil, fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, a...))
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	c := &config{Conntrack: conntrack, Preempt: preempt, Interval: interval, Misses: misses, ProbeWindow: window, Status: status, StateDir: stateDir}
	switch {
	case cluster > 0xffff:
		return bad("-cluster-id %d: out of range 0-65535", cluster)
	case unit == 0 || unit > 0xffff:
		return bad("-unit-id %d: out of range 1-65535", unit)
	case priority > 0xff:
		return bad("-priority %d: out of range 0-255", priority)
	case len(ifaces) == 0:
		return bad("at least one -iface is required")
	case interval <= 0:
		return bad("-interval %v: must be positive", interval)
	case misses < 1:
		return bad("-misses %d: must be at least 1", misses)
	case window <= 0:
		return bad("-probe-window %v: must be positive", window)
	case stateDir == "":
		return bad("-state-dir: must not be empty")
	}
	c.ClusterID, c.UnitID, c.Priority = uint16(cluster), uint16(unit), uint8(priority)
	for _, i := range ifaces {
		if i == "" || len(i) > 15 || strings.ContainsAny(i, "/ =") {
			return bad("-iface %q: not an interface name", i)
		}
		if contains(c.Ifaces, i) {
			return bad("-iface %s given twice", i)
		}
		c.Ifaces = append(c.Ifaces, i)
	}
	for _, v := range vips {
		name, addr, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return bad("-vip %q: want IFACE=ADDR/PLEN", v)
		}
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			return bad("-vip %q: %v", v, err)
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() || p.Addr().IsMulticast() || p.Addr().IsUnspecified() || p.Addr().IsLoopback() {
			return bad("-vip %q: not a unicast address", v)
		}
		for _, o := range c.VIPs {
			if o.Prefix.Addr() == p.Addr() {
				return bad("-vip %s given twice", p.Addr())
			}
		}
		c.VIPs = append(c.VIPs, vip{Iface: name, Prefix: p})
	}
	switch vmacMode {
	case vmacOff, vmacInterface, vmacMacvlan:
		c.VMAC = vmacMode
	default:
		return bad("-vmac %q: want off, interface or macvlan", vmacMode)
	}
	if c.VMAC == vmacMacvlan && len(c.vipIfaces()) > 0xff {
		return bad("too many virtual-address interfaces")
	}
	switch mode {
	case "early":
		c.Mode = heartbeat.ModeEarly
	case "strict":
		c.Mode = heartbeat.ModeStrict
	default:
		return bad("-mode %q: want early or strict", mode)
	}
	if err := c.parseSync(syncIface, syncMAC, syncPeer, syncListen); err != nil {
		return nil, err
	}
	if conntrack && !c.sync() {
		return bad("-conntrack needs -sync-iface or -sync-peer")
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return bad("-log-level %q: want debug, info, warn or error", level)
	}
	if status != "" {
		if _, _, err := net.SplitHostPort(status); err != nil {
			return bad("-status %q: %v", status, err)
		}
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return bad("-key-file: %v", err)
		}
		b = bytes.TrimSpace(b)
		if len(b) < hakit.MinKeyLen {
			return bad("-key-file %s: key is %d bytes, at least %d needed", keyFile, len(b), hakit.MinKeyLen)
		}
		if c.Keys, err = hakit.NewKeyring(hakit.Key{ID: 1, Secret: b}); err != nil {
			return bad("-key-file %s: %v", keyFile, err)
		}
	}
	ec := c.electionConfig()
	if err := ec.Validate(); err != nil {
		return bad("%v", err)
	}
	// The heartbeat package has the last word on timing.
	if err := c.heartbeatConfig().Validate(); err != nil {
		return bad("%v", err)
	}
	return c, nil
}

func (c *config) parseSync(iface, mac, peer, listen string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case iface != "" && peer != "":
		return bad("-sync-iface and -sync-peer are exclusive")
	case iface != "":
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 || hw[0]&1 != 0 {
			return bad("-sync-iface needs -sync-peer-mac with the peer's unicast MAC (got %q)", mac)
		}
		c.SyncIface, c.SyncPeerMAC = iface, hw
	case peer != "":
		ap, err := netip.ParseAddrPort(peer)
		if err != nil || ap.Port() == 0 {
			return bad("-sync-peer %q: want IP:PORT", peer)
		}
		c.SyncPeer = ap
		c.SyncListen = netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())
		if ap.Addr().Is4() {
			c.SyncListen = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
		}
		if listen != "" {
			l, err := netip.ParseAddrPort(listen)
			if err != nil {
				return bad("-sync-listen %q: want IP:PORT", listen)
			}
			c.SyncListen = l
		}
	case mac != "" || listen != "":
		return bad("-sync-peer-mac needs -sync-iface, -sync-listen needs -sync-peer")
	}
	return nil
}

// heartbeatConfig returns the heartbeat configuration (without transports,
// clock, logger or callback).
func (c *config) heartbeatConfig() *heartbeat.Config {
	hc := heartbeat.DefaultConfig()
	hc.ClusterID, hc.UnitID = c.ClusterID, c.UnitID
	hc.Interval, hc.Misses, hc.ProbeWindow, hc.Mode = c.Interval, c.Misses, c.ProbeWindow, c.Mode
	hc.Keys = c.Keys
	return hc
}

// electionConfig returns the election configuration (without logger). The
// timers that count heartbeats scale with the interval, so that every
// interval hanode accepts gives a valid election configuration: a handover
// gets ten intervals (1 s at the default 100 ms), and preemption waits at
// least twice the detection time.
func (c *config) electionConfig() *election.Config {
	ec := election.DefaultConfig()
	ec.Unit = c.UnitID
	ec.Priority, ec.Preempt, ec.Interval = c.Priority, c.Preempt, c.Interval
	ec.DetectTime = time.Duration(c.Misses)*c.Interval + c.ProbeWindow
	ec.InitialWait = ec.DetectTime
	ec.HandoverTimeout = max(ec.HandoverTimeout, 10*c.Interval)
	ec.PreemptDelay = max(ec.PreemptDelay, 2*ec.DetectTime)
	ec.SyncTimeout = max(ec.SyncTimeout, ec.PreemptDelay)
	return ec
}
