package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
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
	ClusterID  uint16
	UnitID     uint16
	Priority   uint8
	Ifaces     []string // critical interfaces: heartbeats and link monitoring
	VIPs       []vip
	VMAC       string
	SyncIface  string         // raw Ethernet sync to the peers' MACs, or UDP to their addresses …
	SyncPeers  []syncPeer     // … (at least one) …
	SyncListen netip.AddrPort // … listening here (UDP)
	Conntrack  bool
	// ConntrackWarm: a standby writes the replica into its kernel as it
	// changes, so that a takeover writes only the last moments.
	ConntrackWarm bool
	Interval      time.Duration
	Misses        int
	ProbeWindow   time.Duration
	Mode          heartbeat.Mode
	Preempt       bool
	Keys          *hakit.Keyring // from -key-file (key ID 1); nil: -insecure-no-auth
	Status        string
	StateDir      string        // where interface mode records the interfaces' own MACs
	EpochFile     string        // the persisted counter of this unit's starts (see member.BootEpoch)
	VIPLifetime   time.Duration // if not zero, the virtual addresses' kernel lifetime, refreshed while primary
	StatusToken   []byte        // from -status-token-file; nil: none asked
	KeepMarks     bool          // -conntrack-keep-marks
	KeyFile       string        // -key-file, reread at SIGHUP
	MaxSessions   int           // -max-sessions (statesync.Table.SetLimit)
	LogLevel      slog.Level
	ClusterName   string // -cluster-name (clusterid.go)

	PreemptDelay, HoldDown time.Duration  // zero: the election's defaults
	File                   string         // -config or -check-config
	CheckOnly              bool           // -check-config: validate, print, exit
	Checks                 []checkConfig  // the file's [[check]] tables
	Flags                  map[string]any // every flag's effective value
	VRRP                   *vrrpConfig    // with -protocol vrrp (vrrp.go); nil: hakit's heartbeats
	Hooks                  hookFlags      // -notify, -notify-timeout
	Bridges                []bridgePorts  // -bridge: transparent mode (bridge.go)
	BridgeProbe            time.Duration  // -bridge-probe-interval
}

// syncPeer is one unit sessions are replicated with: its unit ID (0: the
// only peer, unnamed) and its MAC on the sync interface or UDP address.
type syncPeer struct {
	Unit uint16
	MAC  net.HardwareAddr
	Addr netip.AddrPort
}

// sync reports whether session replication is configured.
func (c *config) sync() bool { return len(c.SyncPeers) > 0 }

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
		status, level                string
		stateDir, epochFile          string
		conntrack, warm, preempt     bool
		interval, window, lifetime   time.Duration
		misses                       int
		hooks                        hookFlags
		file, checkFile              string
		preemptDelay, holdDown       time.Duration
	)
	fs.UintVar(&cluster, "cluster-id", 0, "cluster ID, unique on the network (0-65535; 0-255 gives VRRP-like uniqueness)")
	clusterName := clusterNameFlag(fs)
	fs.UintVar(&unit, "unit-id", 0, "this unit's ID, unique in the cluster (1-65535)")
	fs.UintVar(&priority, "priority", 128, "election priority (0-255, higher wins)")
	fs.Var(&ifaces, "iface", "critical interface: heartbeats are sent on it and its link is monitored (repeatable, at least one)")
	fs.Var(&vips, "vip", "virtual address IFACE=ADDR/PLEN held by the primary, IPv4 or IPv6 (repeatable)")
	fs.StringVar(&vmacMode, "vmac", vmacInterface, "virtual MAC mode: off (addresses only), interface (on the interface itself) or macvlan (on a macvlan child)")
	fs.StringVar(&syncIface, "sync-iface", "", "replicate sessions over raw Ethernet on this interface (needs -sync-peer-mac)")
	fs.StringVar(&syncMAC, "sync-peer-mac", "", "the peer's MAC on -sync-iface; several peers: UNIT@MAC,UNIT@MAC,… (their unit IDs)")
	fs.StringVar(&syncPeer, "sync-peer", "", "replicate sessions over UDP to this peer IP:PORT; several peers: UNIT@IP:PORT,UNIT@IP:PORT,… (their unit IDs)")
	fs.StringVar(&syncListen, "sync-listen", "", "local UDP address for -sync-peer (default: any address, the peer's port)")
	fs.BoolVar(&conntrack, "conntrack", false, "replicate the kernel's conntrack table (needs -sync-iface or -sync-peer)")
	fs.BoolVar(&warm, "conntrack-warm", true, "with -conntrack, a standby keeps the replica in its kernel as it changes: the takeover writes only the last moments (false: all of it at takeover, no kernel memory before)")
	fs.DurationVar(&interval, "interval", 100*time.Millisecond, "heartbeat interval")
	fs.IntVar(&misses, "misses", 2, "missed heartbeats before Early Interface Failure Detection starts")
	fs.DurationVar(&window, "probe-window", 600*time.Millisecond, "EIFD probe window after the misses")
	fs.StringVar(&mode, "mode", "early", "heartbeat verdict mode: early or strict")
	fs.BoolVar(&preempt, "preempt", false, "let a better unit take the primary role from a healthy primary")
	sec := addSecurityFlags(fs)
	fs.StringVar(&status, "status", "", "serve the status as JSON over HTTP on this address (for example 127.0.0.1:9100)")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&stateDir, "state-dir", "/run/hanode", "directory where -vmac interface records each interface's own MAC before taking it over, so that a restart after a crash puts it back")
	hooks.register(fs)
	fs.DurationVar(&preemptDelay, "preempt-delay", 0, "with -preempt, how long a better unit must be present before it takes the role (0: 10s)")
	fs.DurationVar(&holdDown, "hold-down", 0, "the least time a primary keeps the role before a better unit may preempt it (0: 1m)")
	fs.StringVar(&file, "config", "", "read the configuration from this TOML file (flags on the command line override it)")
	fs.StringVar(&checkFile, "check-config", "", "validate this configuration file with the other flags, print the effective configuration and exit")
	vf := vrrpFlags(fs)
	bf := bridgeFlags(fs)
	fs.DurationVar(&lifetime, "vip-lifetime", 0, "give the virtual addresses this lifetime in the kernel (whole seconds), refreshed every third of it while primary, so that a daemon killed holding them (SIGKILL) stops answering for them; 0: none")
	fs.StringVar(&epochFile, "epoch-file", "", "file counting this unit's starts, so that its peers hear a restart whatever its clock says; on storage that survives a reboot (default /var/lib/hanode/c<cluster>-u<unit>.epoch)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	bad := func(format string, a ...any) (*config, error) {
		return nil, fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, a...))
	}
	if file != "" && checkFile != "" {
		return bad("-config and -check-config are exclusive")
	}
	var checks []checkConfig
	if path := cmp.Or(file, checkFile); path != "" {
		var err error
		if checks, err = applyFile(fs, path); err != nil {
			return nil, err
		}
		if err := validateChecks(checks); err != nil {
			return nil, err
		}
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	c := &config{Conntrack: conntrack, ConntrackWarm: warm, Preempt: preempt, Interval: interval, Misses: misses, ProbeWindow: window, Status: status, StateDir: stateDir,
		PreemptDelay: preemptDelay, HoldDown: holdDown, File: cmp.Or(file, checkFile), CheckOnly: checkFile != "", Checks: checks, Flags: effective(fs)}
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
	case preemptDelay < 0 || holdDown < 0:
		return bad("-preempt-delay %v, -hold-down %v: must not be negative", preemptDelay, holdDown)
	case lifetime != 0 && (lifetime < 3*time.Second || lifetime%time.Second != 0):
		return bad("-vip-lifetime %v: whole seconds, at least 3s", lifetime)
	}
	c.ClusterID, c.UnitID, c.Priority = uint16(cluster), uint16(unit), uint8(priority)
	if err := checkClusterName(*clusterName); err != nil {
		return bad("%v", err)
	}
	c.ClusterName = *clusterName
	c.VIPLifetime = lifetime
	c.EpochFile = cmp.Or(epochFile, fmt.Sprintf("/var/lib/hanode/c%d-u%d.epoch", cluster, unit))
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
	if err := hooks.check(); err != nil {
		return nil, err
	}
	c.Hooks = hooks
	if conntrack && !c.sync() {
		return bad("-conntrack needs -sync-iface or -sync-peer")
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return bad("-log-level %q: want debug, info, warn or error", level)
	}
	if err := sec.apply(c); err != nil {
		return nil, err
	}
	if err := vf.parse(fs, c); err != nil {
		return nil, err
	}
	if err := bf.parse(c); err != nil {
		return nil, err
	}
	ec := c.memberConfig().ElectionConfig()
	if err := ec.Validate(); err != nil {
		return bad("%v", err)
	}
	// The heartbeat package has the last word on timing.
	if err := c.memberConfig().Heartbeat.Validate(); err != nil {
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
		if mac == "" {
			return bad("-sync-iface needs -sync-peer-mac with the peer's unicast MAC")
		}
		c.SyncIface = iface
		return c.parseSyncPeers("-sync-peer-mac", mac, func(v string, p *syncPeer) bool {
			hw, err := net.ParseMAC(v)
			p.MAC = hw
			return err == nil && len(hw) == 6 && hw[0]&1 == 0
		})
	case peer != "":
		err := c.parseSyncPeers("-sync-peer", peer, func(v string, p *syncPeer) bool {
			ap, err := netip.ParseAddrPort(v)
			p.Addr = ap
			return err == nil && ap.Port() != 0
		})
		if err != nil {
			return err
		}
		ap := c.SyncPeers[0].Addr
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

// parseSyncPeers parses list, one peer or UNIT@… for each of several, into
// c.SyncPeers, each value with parse.
func (c *config) parseSyncPeers(flag, list string, parse func(string, *syncPeer) bool) error {
	items := strings.Split(list, ",")
	for _, it := range items {
		var p syncPeer
		unit, v, named := strings.Cut(it, "@")
		if !named {
			v = it
		}
		if named {
			u, err := strconv.ParseUint(unit, 10, 16)
			if err != nil || u == 0 || u == uint64(c.UnitID) {
				return fmt.Errorf("%w: %s %q: the unit ID of another unit, 1 to 65535", errConfig, flag, it)
			}
			p.Unit = uint16(u)
		} else if len(items) > 1 {
			return fmt.Errorf("%w: %s: several peers need their unit IDs (UNIT@…)", errConfig, flag)
		}
		if !parse(v, &p) {
			return fmt.Errorf("%w: %s %q: want %s", errConfig, flag, it, map[string]string{"-sync-peer": "IP:PORT", "-sync-peer-mac": "a unicast MAC"}[flag])
		}
		if slices.ContainsFunc(c.SyncPeers, func(o syncPeer) bool { return o.Unit == p.Unit }) {
			return fmt.Errorf("%w: %s: unit %d twice", errConfig, flag, p.Unit)
		}
		c.SyncPeers = append(c.SyncPeers, p)
	}
	return nil
}

// memberConfig returns the unit's configuration without its transports,
// steps, logger or callback. The election's timers that count heartbeats
// are derived from the heartbeat's by the member package (see
// member.Config.ElectionConfig), so that every interval hanode accepts
// gives a valid election configuration.
func (c *config) memberConfig() *member.Config {
	mc := &member.Config{
		ClusterID: c.ClusterID, UnitID: c.UnitID, Priority: c.Priority, Preempt: c.Preempt, Keys: c.Keys, Unauthenticated: c.Keys == nil,
		Heartbeat: &heartbeat.Config{ClusterID: c.ClusterID, UnitID: c.UnitID, Keys: c.Keys, ClusterName: c.ClusterName,
			Interval: c.Interval, Misses: c.Misses, ProbeWindow: c.ProbeWindow, Mode: c.Mode},
	}
	if c.PreemptDelay > 0 || c.HoldDown > 0 {
		ec := mc.ElectionConfig()
		ec.PreemptDelay = cmp.Or(c.PreemptDelay, ec.PreemptDelay)
		ec.HoldDown = cmp.Or(c.HoldDown, ec.HoldDown)
		mc.Election = ec
	}
	return mc
}
