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
	"github.com/hakit/hakit/election/witness"
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

	// Epoch identifies this start of the unit in its heartbeats and
	// session sync streams; it must be larger than every epoch of the
	// unit's earlier starts, whatever its clock says (see BootEpoch). Zero
	// takes the clock, which a clock that came back behind defeats: the
	// peers then ignore the unit until its clock passes the old value.
	Epoch uint64

	// Keys authenticate heartbeats and session sync, each with a subkey
	// of its own; hakit.Keyring.Set rotates them while the unit runs.
	// Required unless Unauthenticated.
	Keys *hakit.Keyring
	// Unauthenticated runs heartbeats and session sync without Keys: an
	// explicit choice, because then anyone who can send on the heartbeat
	// or sync links can force a failover, demote the primary, or put
	// sessions into the standby's table. The Driver says so in a warning at
	// every start. Exclusive with Keys.
	Unauthenticated bool

	// Interfaces are the heartbeat interfaces (at least one, unless Roles
	// is set).
	Interfaces []Interface
	// Roles, when not nil, decides the role instead of the heartbeats and
	// the election (see RoleSource): Interfaces must be empty. The Driver
	// owns it: Close closes it.
	Roles RoleSource
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

	// Checks are the health checks, run by the Driver (see Check).
	Checks []Check

	// Heartbeat overrides the heartbeat settings (nil: heartbeat's
	// defaults: 100 ms interval, 2 misses, 0.6 s probe window, early
	// verdicts): timers, mode, EtherType, Neighbours, Unicast. The Driver
	// sets the IDs, keys, clock, logger and callbacks.
	Heartbeat *heartbeat.Config
	// Witness, when not nil, arbitrates partitions: a unit cut off from
	// every peer may become or stay primary only while it holds the
	// witness's lease, and every step runs with its fencing token (see
	// Token and package election/witness). The Driver calls its Acquire
	// and Release; the caller creates it and closes it after the Driver.
	Witness witness.Witness

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
	// OnMerge, if not nil, is called on a primary with the sessions that
	// another unit, primary too during a split brain, handed to it and
	// that it lacked, once they are in the table as its own (and
	// replicated): write them where the traffic needs them (the kernel's
	// conntrack table). It runs on a goroutine of the replication's, one
	// call at a time, with no lock held. The sessions this unit held
	// already are kept as they are: its own state wins.
	OnMerge func(peer uint16, merged []statesync.Session)
	// HandbackTimeout bounds how long a unit that lost a split brain keeps
	// its steps up while the winner takes in its sessions; zero means
	// DefaultHandbackTimeout.
	HandbackTimeout time.Duration
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
	if c.Epoch != 0 {
		hc.Epoch = c.Epoch
	}
	hc.Role = hakit.Initial
	hc.Keys = c.Keys
	hc.Clock, hc.Logger = c.Clock, nil
	return hc
}

// ElectionConfig returns the election settings the Driver uses: the
// Election override, or the election's defaults with the timers that
// count heartbeats derived from the heartbeat's: the detection time (and
// the initial wait) is misses × interval plus the probe window, a handover
// gets at least ten intervals, preemption waits at least twice the
// detection time, and a loop that paused for misses + 1 intervals (longer
// than a peer takes to suspect this unit) or half the detection time,
// whichever is longer, counts as stalled. Its Unit is
// UnitID.
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
	ec.StallTime = max(time.Duration(misses+1)*interval, ec.DetectTime/2)
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
	if r.Roles != nil && len(r.Interfaces) > 0 {
		return bad("heartbeat interfaces and a role source: the role comes from one of them")
	}
	if len(r.Interfaces) == 0 && r.Roles == nil {
		return bad("no heartbeat interfaces")
	}
	if r.Roles != nil && r.Witness != nil {
		return bad("a witness and a role source: the witness arbitrates the cluster's own election, not another protocol's")
	}
	if (r.Keys == nil) != r.Unauthenticated {
		return bad("want Keys, or Unauthenticated to run without (not both)")
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
	if err := validateChecks(r.Checks, true); err != nil {
		return err
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
		Replication: replication, RetryMin: c.RetryMin, RetryMax: c.RetryMax, Checks: c.Checks, Logger: c.Logger, Assigned: c.Roles != nil,
		Witness: c.Witness != nil}
	if c.Sync != nil {
		mc.HandbackTimeout = c.Sync.HandbackTimeout
	}
	for _, ifc := range c.Interfaces {
		mc.Links = append(mc.Links, Link{Name: ifc.Name, ClusterOnly: ifc.ClusterOnly})
	}
	return mc
}
