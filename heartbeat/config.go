package heartbeat

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hakit/hakit"
)

// Mode selects how Early Interface Failure Detection reaches a verdict.
// The zero value is invalid; a zero Mode in a Config means ModeEarly.
type Mode uint8

// The detection modes.
const (
	// ModeEarly follows the Clavister schedule and, in addition, declares a
	// peer down as soon as the evidence is conclusive: the peer is silent on
	// every interface, a neighbour answered on an interface (so that
	// interface works) and the peer's own address did not answer as many
	// probes as the link's recent loss requires. See the package
	// documentation.
	ModeEarly Mode = 1
	// ModeStrict follows the Clavister schedule exactly: verdicts only when the
	// probe window ends (0.8 s after the last heartbeat with the defaults).
	ModeStrict Mode = 2
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case ModeEarly:
		return "early"
	case ModeStrict:
		return "strict"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Config configures a Machine and a Driver. A nil *Config means
// DefaultConfig(); zero fields take their defaults (see DefaultConfig).
type Config struct {
	// ClusterID identifies the cluster; frames of other clusters are
	// dropped. It must be unique on a network.
	ClusterID uint16
	// UnitID identifies this unit within the cluster.
	UnitID uint16
	// Role is the role advertised until SetRole changes it.
	Role hakit.Role
	// Epoch identifies this start of the unit: it must be larger than the
	// Epoch of the unit's previous start. Zero means the Driver uses its
	// clock's time in nanoseconds (a Machine keeps zero).
	Epoch uint64
	// EtherType is the EtherType of heartbeat frames; it is authenticated.
	EtherType uint16
	// Keys are the cluster's shared keys (see hakit.Keyring): the primary
	// seals, all of them verify, and hakit.Keyring.Set rotates them while
	// the Driver runs. Nil means frames are not authenticated.
	Keys *hakit.Keyring
	// ClusterName, with Keys, makes the cluster tag every frame carries
	// (see ClusterTag): a frame of our ClusterID with another tag is of
	// another cluster given the same ID, and is dropped and reported as a
	// collision (see Collision). Every unit of a cluster must have the same
	// name. Empty is a valid name: clusters with different keys already
	// have different tags; give each cluster its own name so that two
	// clusters with no keys, or with one copied key, are told apart too.
	ClusterName string
	// MaxPeers caps the peers a Machine tracks: a frame of a new unit
	// beyond it is dropped and counted (Drops.PeerLimit), so that forged
	// unit IDs (possible without Keys) cannot grow the table. Zero means
	// 16; negative is invalid.
	MaxPeers int
	// Interval is the heartbeat interval on every interface.
	Interval time.Duration
	// Misses is the number of intervals without a heartbeat on an
	// interface after which the peer is suspect there and EIFD starts.
	Misses int
	// ProbeWindow is how long EIFD probes before its verdict.
	ProbeWindow time.Duration
	// ProbeInterval is the spacing of repeated probes during EIFD; a probe
	// of the peer not answered within it counts as unanswered.
	ProbeInterval time.Duration
	// Mode selects strict or early verdicts.
	Mode Mode
	// ProbeBudget is the most EIFD probes (ARP requests and neighbour
	// solicitations) sent on one interface within any one second (a
	// sliding window: the whole budget may go out at once), so that a
	// switch port's ARP rate limit is never exceeded; the peers' own
	// addresses go first, probes the budget holds back are counted
	// (Counters.ProbesSuppressed). Echo requests are heartbeat frames, not
	// ARP, and are not counted. Zero means 15, the default limit of
	// Dynamic ARP Inspection on a switch port; negative means no budget.
	ProbeBudget int
	// Neighbours lists the resolved neighbours of an interface; EIFD
	// probes them. The Driver asks it, with no lock held, when EIFD is about
	// to start on the interface (see Machine.NeedNeighbours); a Machine
	// does not use it. Nil means none are known (only the peer's own
	// address is probed).
	Neighbours NeighbourSource
	// Clock drives the Driver's timers; nil means hakit.RealClock(). A
	// Machine does not use it.
	Clock hakit.Clock
	// Logger receives the Driver's logs; nil discards them.
	Logger *slog.Logger
	// Unicast, for two-unit clusters, sends heartbeats to the derived
	// unicast address of the one peer known on an interface (see
	// DestinationMAC) instead of the cluster's group address. The transport
	// must then deliver frames addressed to this unit's SourceMAC, which
	// changes with its role. False (the default) always sends to GroupMAC.
	Unicast bool
	// OnReport, if set, is called by the Driver with every Report, in order,
	// in a callback of the Driver's Clock with no lock held: it may call any
	// method of the Driver (see Driver). A Machine does not use it.
	OnReport func(Report)
	// OnHeard, if set, is called by the Driver with every Heard (a peer's
	// newest payload, once per send round of the peer; see Heard), in the
	// same order as and interleaved with OnReport, under the same rules. Its
	// Payload is the callback's own copy.
	OnHeard func(Heard)
}

// DefaultConfig returns the defaults, each with its reason.
func DefaultConfig() *Config {
	return &Config{
		// Cluster 0 is a valid ID; the unit ID has no default (0 is
		// invalid): every unit of a cluster needs its own.
		ClusterID: 0,
		UnitID:    0,
		// A unit starts without a role until the election gives it one.
		Role: hakit.Initial,
		// Clavister's frame type.
		EtherType: DefaultEtherType,
		// A cluster has 2 to a few units; 16 leaves room for any real one
		// (the election's default cap too).
		MaxPeers: 16,
		// "10 heartbeats per second on each critical interface."
		Interval: 100 * time.Millisecond,
		// "misses 2 heartbeats (no heartbeats over 0.2 seconds)".
		Misses: 2,
		// "no ARP reply after 0.6 more seconds (0.8 seconds in total)".
		ProbeWindow: 600 * time.Millisecond,
		// Zero means a quarter of Interval (25ms here): an unanswered probe
		// of the peer is known a quarter interval after it was sent (ARP on
		// a LAN answers in well under a millisecond), which keeps the early
		// verdict ahead of keepalived at the same rate, and it scales when
		// only Interval is changed.
		ProbeInterval: 0,
		// Early verdicts: a dead peer is declared as soon as the evidence is
		// conclusive for the loss the link has shown (see the package doc).
		Mode: ModeEarly,
		// "ip arp inspection limit rate 15": a switch with Dynamic ARP
		// Inspection err-disables a port that sends more ARP per second.
		// A suspicion's first round sends 6 (2 to the peer's address, 4
		// to neighbours, shared by every suspicion of the interface); see
		// the package doc for what the budget costs.
		ProbeBudget: 15,
	}
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *Config) withDefaults() Config {
	d := DefaultConfig()
	if c == nil {
		c = d
	}
	r := *c
	if r.Role == 0 {
		r.Role = d.Role
	}
	if r.EtherType == 0 {
		r.EtherType = d.EtherType
	}
	if r.MaxPeers == 0 {
		r.MaxPeers = d.MaxPeers
	}
	if r.Interval == 0 {
		r.Interval = d.Interval
	}
	if r.Misses == 0 {
		r.Misses = d.Misses
	}
	if r.ProbeWindow == 0 {
		r.ProbeWindow = d.ProbeWindow
	}
	if r.ProbeInterval == 0 {
		r.ProbeInterval = r.Interval / 4
	}
	if r.Mode == 0 {
		r.Mode = d.Mode
	}
	if r.ProbeBudget == 0 {
		r.ProbeBudget = d.ProbeBudget
	}
	return r
}

// Validate reports the first invalid field of c after defaults are applied,
// as an error wrapping hakit.ErrConfig.
func (c *Config) Validate() error {
	r := c.withDefaults()
	return r.validate()
}

func (c *Config) validate() error {
	switch {
	case c.UnitID == 0:
		return fmt.Errorf("heartbeat: unit ID 0: %w", hakit.ErrConfig)
	case c.MaxPeers < 0:
		return fmt.Errorf("heartbeat: MaxPeers %d is negative: %w", c.MaxPeers, hakit.ErrConfig)
	case !c.Role.Valid():
		return fmt.Errorf("heartbeat: invalid role %d: %w", c.Role, hakit.ErrConfig)
	case c.Interval < time.Millisecond:
		return fmt.Errorf("heartbeat: interval %v is below 1ms: %w", c.Interval, hakit.ErrConfig)
	case c.Interval > time.Minute:
		return fmt.Errorf("heartbeat: interval %v is above 1m: %w", c.Interval, hakit.ErrConfig)
	case c.Interval%time.Microsecond != 0:
		return fmt.Errorf("heartbeat: interval %v is not a whole number of microseconds: %w", c.Interval, hakit.ErrConfig)
	case c.Misses < 1:
		return fmt.Errorf("heartbeat: misses %d is below 1: %w", c.Misses, hakit.ErrConfig)
	case c.Misses > 1000:
		return fmt.Errorf("heartbeat: misses %d is above 1000: %w", c.Misses, hakit.ErrConfig)
	case c.ProbeWindow <= 0:
		return fmt.Errorf("heartbeat: probe window %v must be positive: %w", c.ProbeWindow, hakit.ErrConfig)
	case c.ProbeInterval <= 0 || c.ProbeInterval > c.ProbeWindow:
		return fmt.Errorf("heartbeat: probe interval %v must be positive and at most the probe window %v: %w", c.ProbeInterval, c.ProbeWindow, hakit.ErrConfig)
	case c.Mode != ModeEarly && c.Mode != ModeStrict:
		return fmt.Errorf("heartbeat: invalid mode %d: %w", c.Mode, hakit.ErrConfig)
	case c.ProbeBudget > maxProbeBudget:
		return fmt.Errorf("heartbeat: probe budget %d is above %d a second: %w", c.ProbeBudget, maxProbeBudget, hakit.ErrConfig)
	}
	return nil
}

// Interface is one critical interface of a unit. Every Interface is
// critical: the peer is expected on each.
type Interface struct {
	// Name names the interface in reports and for the NeighbourSource.
	Name string
	// Addr is this unit's own address on the interface, advertised in its
	// heartbeats so that the peer can probe it; the zero Addr advertises
	// none.
	Addr netip.Addr
	// Conn carries the heartbeats (used by the Driver, not the Machine).
	Conn Conn
	// Prober sends EIFD probes; nil means probes on this interface are not
	// sent (used by the Driver, not the Machine; a Driver's Machine then
	// asks for none).
	Prober Prober
	// Routed marks an interface with no layer 2 shared with the peers:
	// heartbeats over unicast UDP (ListenUDP), through routers. EIFD there
	// sends no ARP or neighbour solicitations and needs no neighbour
	// list; echo requests to every unit are its probes, and when nothing
	// but the silent peer could answer, sends that succeed stand for a
	// working local side (see Routed interfaces in the package
	// documentation). A Driver sets it for a *UDPConn.
	Routed bool
}

func validateInterfaces(ifaces []Interface) error {
	if len(ifaces) == 0 {
		return fmt.Errorf("heartbeat: no interfaces: %w", hakit.ErrConfig)
	}
	if len(ifaces) > 1<<16 {
		return fmt.Errorf("heartbeat: %d interfaces: %w", len(ifaces), hakit.ErrConfig)
	}
	seen := make(map[string]bool, len(ifaces))
	for _, ifc := range ifaces {
		switch {
		case ifc.Name == "":
			return fmt.Errorf("heartbeat: interface without a name: %w", hakit.ErrConfig)
		case seen[ifc.Name]:
			return fmt.Errorf("heartbeat: duplicate interface %q: %w", ifc.Name, hakit.ErrConfig)
		}
		seen[ifc.Name] = true
	}
	return nil
}
