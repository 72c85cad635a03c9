package member

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// Config configures a Driver. A nil *Config means the defaults, but a
// unit needs at least its UnitID and one heartbeat Interface; zero fields
// take their defaults.
type Config struct {
	// ClusterID identifies the cluster: unique on the network.
	ClusterID uint16
	// UnitID identifies this unit in the cluster: nonzero, unique, stable
	// across restarts.
	UnitID uint16
	// Priority is this unit's preference in the election (higher wins);
	// zero means 128, the middle of the range.
	Priority uint8
	// Preempt lets a better unit take the role from a healthy primary.
	Preempt bool

	// Keys authenticate heartbeats and session sync, each with a subkey
	// of its own; hakit.Keyring.Set rotates them while the unit runs. Nil
	// sends both unauthenticated, and the Driver says so in a warning at
	// every start.
	Keys *hakit.Keyring

	// Interfaces are the heartbeat interfaces (at least one).
	Interfaces []Interface
	// Monitored names the interfaces whose link state counts in the
	// election: a unit with more of them up is preferred, and one that
	// loses one rejoins as a secondary. Nil monitors none.
	Monitored []string
	// LinkUp reports whether a monitored interface's link is up; nil reads
	// the kernel's carrier (net.InterfaceByName: up and running).
	LinkUp func(name string) bool

	// Sync, when not nil, replicates the session table: the primary sends
	// its changes to the peers; a secondary mirrors the primary's table and
	// commits it when it takes over.
	Sync *Sync

	// Steps are the user's takeover steps, in the order they come up,
	// between the built-in session commit and replication (see the package
	// documentation): typically the kernel's session injection, Addresses,
	// Announce.
	Steps []Step

	// Heartbeat overrides the heartbeat settings (nil: heartbeat's
	// defaults: 100 ms interval, 2 misses, 0.6 s probe window, early
	// verdicts): timers, mode, EtherType, Neighbours, Unicast. The Driver
	// sets the IDs, keys, clock, logger and callbacks.
	Heartbeat *heartbeat.Config
	// Election overrides the election settings; nil derives them from
	// the heartbeat timers (see Config.ElectionConfig). Its Unit is set to
	// UnitID.
	Election *election.Config

	// RetryMin and RetryMax bound the pause before a failed takeover is
	// tried again (see MachineConfig).
	RetryMin, RetryMax time.Duration
	// StepTimeout bounds each step's Up, Down or Reannounce (the context
	// it gets ends then); zero means 30 s.
	StepTimeout time.Duration

	// Clock drives the Driver and its parts; nil means hakit.RealClock().
	Clock hakit.Clock
	// Logger receives the events and the parts' logs; nil discards them.
	Logger *slog.Logger
	// OnEvent, if not nil, is called with every event, in order, with no
	// lock held; it may call any Driver method. It should return soon: the
	// next events wait for it (the unit itself does not).
	OnEvent func(Event)
}

// Interface is one heartbeat interface of a unit.
type Interface struct {
	// Name names the interface in reports, events and status.
	Name string
	// Addr is this unit's own address there, advertised in its heartbeats
	// for the peers' probes; the zero Addr advertises none.
	Addr netip.Addr
	// Conn carries the heartbeats (required): heartbeat.ListenEthernet,
	// heartbeat.ListenUDP, or any heartbeat.Conn. The Driver owns it.
	Conn heartbeat.Conn
	// Prober sends the Early Interface Failure Detection probes; nil sends
	// none there. The Driver owns it.
	Prober heartbeat.Prober
	// ClusterOnly marks a link only the cluster uses (see Link): a local
	// fault there does not demote this unit.
	ClusterOnly bool
}

// Sync configures session replication.
type Sync struct {
	// Table is the session table; nil means a new one.
	Table *statesync.Table
	// Transport carries the datagrams to and from every peer (required):
	// statesync.ListenUDP or statesync.ListenEthernet with every peer's
	// address, statesync.NewEthernetTransport, or any statesync.Transport.
	// The Driver owns it.
	Transport statesync.Transport
	// Peers are the other units, each with its unit ID and its address on
	// Transport: the primary replicates to every one, each acknowledges
	// on its own, and one that joins (or comes back) gets its own bulk
	// sync while the others go on; a secondary mirrors the one that is
	// primary. Empty: the one peer of a point-to-point Transport (two
	// units).
	Peers []statesync.Peer
	// MTU is the largest datagram sent; zero means the statesync default
	// (1472, a UDP payload on Ethernet).
	MTU int
	// TickInterval is how often the replication ticks (default 1 ms).
	TickInterval time.Duration
}

// withDefaults returns a copy of c with its defaults applied.
func (c *Config) withDefaults() Config {
	var r Config
	if c != nil {
		r = *c
	}
	if r.Priority == 0 {
		r.Priority = 128
	}
	if r.StepTimeout == 0 {
		r.StepTimeout = 30 * time.Second
	}
	if r.LinkUp == nil {
		r.LinkUp = kernelCarrier
	}
	return r
}

func kernelCarrier(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
}

// heartbeatConfig returns the heartbeat settings with the Driver's fields
// set (callbacks aside).
func (c *Config) heartbeatConfig() *heartbeat.Config {
	hc := heartbeat.DefaultConfig()
	if c.Heartbeat != nil {
		*hc = *c.Heartbeat
	}
	hc.ClusterID, hc.UnitID = c.ClusterID, c.UnitID
	hc.Role = hakit.Initial
	hc.Keys = c.Keys
	hc.Clock, hc.Logger = c.Clock, nil
	return hc
}

// ElectionConfig returns the election settings the Driver uses: the
// Election override, or the election's defaults with the timers that
// count heartbeats derived from the heartbeat's: the detection time (and
// the initial wait) is misses × interval plus the probe window, a handover
// gets at least ten intervals, and preemption waits at least twice the
// detection time. Its Unit is UnitID.
func (c *Config) ElectionConfig() *election.Config {
	r := c.withDefaults()
	if r.Election != nil {
		ec := *r.Election
		ec.Unit = r.UnitID
		return &ec
	}
	d := heartbeat.DefaultConfig()
	interval, misses, window := d.Interval, d.Misses, d.ProbeWindow
	if h := r.Heartbeat; h != nil {
		interval = cmp.Or(h.Interval, interval)
		misses = cmp.Or(h.Misses, misses)
		window = cmp.Or(h.ProbeWindow, window)
	}
	ec := election.DefaultConfig()
	ec.Unit, ec.Priority, ec.Preempt, ec.Interval = r.UnitID, r.Priority, r.Preempt, interval
	ec.DetectTime = time.Duration(misses)*interval + window
	ec.InitialWait = ec.DetectTime
	ec.HandoverTimeout = max(ec.HandoverTimeout, 10*interval)
	ec.PreemptDelay = max(ec.PreemptDelay, 2*ec.DetectTime)
	ec.SyncTimeout = max(ec.SyncTimeout, ec.PreemptDelay)
	return ec
}

// Validate reports the first invalid field of c after defaults, as an
// error wrapping hakit.ErrConfig.
func (c *Config) Validate() error {
	r := c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("member: config: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	if r.UnitID == 0 {
		return bad("unit ID 0")
	}
	if len(r.Interfaces) == 0 {
		return bad("no heartbeat interfaces")
	}
	for _, ifc := range r.Interfaces {
		if ifc.Conn == nil {
			return bad("heartbeat interface %q has no Conn", ifc.Name)
		}
	}
	if s := r.Sync; s != nil {
		if s.Transport == nil {
			return bad("session sync without a Transport")
		}
		for _, p := range s.Peers {
			if p.Unit == r.UnitID {
				return bad("sync peer %d is this unit", p.Unit)
			}
		}
	}
	if r.StepTimeout < 0 {
		return bad("negative step timeout %v", r.StepTimeout)
	}
	if err := r.heartbeatConfig().Validate(); err != nil {
		return fmt.Errorf("member: %w", err)
	}
	if err := r.ElectionConfig().Validate(); err != nil {
		return fmt.Errorf("member: %w", err)
	}
	_, err := NewMachine(time.Time{}, r.machineConfig(nil, nil))
	return err
}

// machineConfig returns the Machine's settings with the built-in steps.
func (c *Config) machineConfig(sessions, replication Step) *MachineConfig {
	mc := &MachineConfig{Election: c.ElectionConfig(), Sessions: sessions, Steps: c.Steps,
		Replication: replication, RetryMin: c.RetryMin, RetryMax: c.RetryMax, Logger: c.Logger}
	for _, ifc := range c.Interfaces {
		mc.Links = append(mc.Links, Link{Name: ifc.Name, ClusterOnly: ifc.ClusterOnly})
	}
	return mc
}
