package vmac

import (
	"errors"
	"fmt"
	"net"

	"github.com/hakit/hakit"
)

// ErrCollision is wrapped by every *CollisionError.
var ErrCollision = errors.New("cluster identity collision")

// CollisionKind says what gave a collision away.
type CollisionKind int

// Collision kinds. The zero value is invalid.
const (
	// ForeignVirtualMAC: a frame arrived whose source is one of our
	// virtual MACs while this unit holds them, so another station sends
	// with our address.
	ForeignVirtualMAC CollisionKind = iota + 1
	// ForeignUnit: a heartbeat carries our cluster ID from a unit ID that is
	// not in our membership.
	ForeignUnit
	// ImpostorUnit: a heartbeat carries our cluster ID and a member's unit
	// ID (possibly our own) but comes from a source MAC that member does not
	// use.
	ImpostorUnit
)

// String names the kind.
func (k CollisionKind) String() string {
	switch k {
	case ForeignVirtualMAC:
		return "foreign-virtual-mac"
	case ForeignUnit:
		return "foreign-unit"
	case ImpostorUnit:
		return "impostor-unit"
	default:
		return fmt.Sprintf("CollisionKind(%d)", int(k))
	}
}

// CollisionError reports evidence that another cluster (or a misconfigured
// unit) on the segment uses our cluster identity. It wraps ErrCollision.
type CollisionError struct {
	Kind      CollisionKind
	ClusterID uint16           // our cluster ID, which the other party uses too
	UnitID    uint16           // the unit ID the heartbeat claimed (heartbeat kinds only)
	MAC       net.HardwareAddr // ForeignVirtualMAC: our virtual MAC seen as a source
	From      net.HardwareAddr // source MAC of the offending frame
	Interface string           // where it was seen, as the caller named it
}

// Error describes the collision.
func (e *CollisionError) Error() string {
	switch e.Kind {
	case ForeignVirtualMAC:
		return fmt.Sprintf("vmac: cluster %d: our virtual MAC %v sent by another station on %q: %v", e.ClusterID, e.MAC, e.Interface, ErrCollision)
	case ForeignUnit:
		return fmt.Sprintf("vmac: cluster %d: heartbeat from unit %d, not a member, source %v on %q: %v", e.ClusterID, e.UnitID, e.From, e.Interface, ErrCollision)
	default:
		return fmt.Sprintf("vmac: cluster %d: heartbeat claiming unit %d from unexpected source %v on %q: %v", e.ClusterID, e.UnitID, e.From, e.Interface, ErrCollision)
	}
}

// Unwrap returns ErrCollision.
func (e *CollisionError) Unwrap() error { return ErrCollision }

// GuardConfig describes our cluster's identity for a Guard.
type GuardConfig struct {
	// ClusterID is our cluster ID.
	ClusterID uint16
	// Self is this unit's ID (not 0); it must be a key of Members.
	Self uint16
	// Members maps every unit ID in our cluster to the source MACs its
	// heartbeats may come from. An empty list means any source is accepted
	// for that unit (use it when heartbeat source MACs are derived from
	// roles and change on failover). For Self, list our own interfaces'
	// MACs to catch a second unit configured with our unit ID.
	Members map[uint16][]net.HardwareAddr
	// VirtualMACs are the virtual MACs our cluster presents.
	VirtualMACs []net.HardwareAddr
}

// GuardStats counts what a Guard was fed and what it found.
type GuardStats struct {
	Frames         uint64 // frames checked
	Heartbeats     uint64 // heartbeats checked
	OtherClusters  uint64 // heartbeats of other cluster IDs (not collisions)
	ForeignMAC     uint64 // ForeignVirtualMAC collisions
	ForeignUnits   uint64 // ForeignUnit collisions
	ImpostorUnits  uint64 // ImpostorUnit collisions
	MalformedInput uint64 // inputs ignored for a bad source MAC
}

// Guard detects that another cluster on the segment uses our cluster
// identity. It is pure: the caller feeds it what it sees and acts on the
// *CollisionError it returns (log it, raise an alarm, refuse to take over).
// It does no I/O and keeps no time. A Guard is not safe for concurrent use.
//
// Two kinds of evidence are checked:
//
//   - CheckFrame, for frames received on a segment (not ones this unit sent):
//     while this unit holds the virtual MACs (SetHolding(true)), any
//     received frame whose source is one of them was sent by someone else.
//     While another unit of ours holds them, a frame from a virtual MAC is
//     expected and proves nothing, so only heartbeats can tell.
//   - CheckHeartbeat, for every heartbeat received: our cluster ID from a
//     unit ID outside Members, or from a member's ID but a source MAC that
//     member does not use, is a collision. Other cluster IDs are counted and
//     ignored.
type Guard struct {
	cluster uint16
	self    uint16
	members map[uint16]map[[6]byte]bool // unit -> allowed sources (nil/empty: any)
	vmacs   map[[6]byte]bool
	holding bool
	stats   GuardStats
}

// DefaultGuardConfig returns the defaults of a GuardConfig. A Guard's
// settings are the cluster's identity, so most have none: Self and Members
// must be set.
func DefaultGuardConfig() *GuardConfig {
	return &GuardConfig{
		// Cluster 0, a valid ID in every hakit package.
		ClusterID: 0,
		// None: 0 is invalid, and each unit has its own.
		Self: 0,
		// None: a Guard must know every unit of the cluster, or it would
		// report the peers' heartbeats as collisions.
		Members: nil,
		// None: only heartbeats are checked until the caller lists the
		// cluster's virtual MACs.
		VirtualMACs: nil,
	}
}

// Validate reports the first invalid field of c, as an error wrapping
// hakit.ErrConfig: Self 0 or not a member, a member 0, a member source MAC
// that is not a 6-byte unicast address, or a virtual MAC that is not a
// 6-byte non-zero unicast address. A nil c is DefaultGuardConfig().
func (c *GuardConfig) Validate() error {
	_, err := NewGuard(c)
	return err
}

// NewGuard returns a Guard for cfg (see Validate). A nil cfg means
// DefaultGuardConfig(), which lacks Self and Members.
func NewGuard(cfg *GuardConfig) (*Guard, error) {
	if cfg == nil {
		cfg = DefaultGuardConfig()
	}
	if cfg.Self == 0 {
		return nil, fmt.Errorf("vmac: guard: self unit ID 0: %w", hakit.ErrConfig)
	}
	g := &Guard{
		cluster: cfg.ClusterID,
		self:    cfg.Self,
		vmacs:   make(map[[6]byte]bool, len(cfg.VirtualMACs)),
	}
	if err := g.SetMembers(cfg.Members); err != nil {
		return nil, err
	}
	for _, m := range cfg.VirtualMACs {
		if err := checkUnicastMAC(m); err != nil {
			return nil, fmt.Errorf("vmac: guard: virtual %w: %w", err, hakit.ErrConfig)
		}
		k, _ := key(m)
		g.vmacs[k] = true
	}
	return g, nil
}

// SetMembers replaces the membership (see GuardConfig.Members), for
// clusters whose units join and leave. It must still include our own unit;
// on error the membership is unchanged.
func (g *Guard) SetMembers(members map[uint16][]net.HardwareAddr) error {
	if _, ok := members[g.self]; !ok {
		return fmt.Errorf("vmac: guard: self unit %d is not a member: %w", g.self, hakit.ErrConfig)
	}
	next := make(map[uint16]map[[6]byte]bool, len(members))
	for unit, macs := range members {
		if unit == 0 {
			return fmt.Errorf("vmac: guard: unit ID 0: %w", hakit.ErrConfig)
		}
		set := make(map[[6]byte]bool, len(macs))
		for _, m := range macs {
			k, ok := key(m)
			if !ok || m[0]&1 != 0 {
				return fmt.Errorf("vmac: guard: unit %d source MAC %q: %w", unit, m, hakit.ErrConfig)
			}
			set[k] = true
		}
		next[unit] = set
	}
	g.members = next
	return nil
}

// SetHolding tells the Guard whether this unit currently carries the
// virtual MACs (it is the primary and applied them).
func (g *Guard) SetHolding(holding bool) { g.holding = holding }

// CheckFrame checks the source MAC of a frame received on interface ifname.
// The caller must not feed frames this unit sent itself (on Linux, skip
// PACKET_OUTGOING). It returns a *CollisionError when this unit holds the
// virtual MACs and src is one of them, else nil.
func (g *Guard) CheckFrame(ifname string, src net.HardwareAddr) error {
	g.stats.Frames++
	k, ok := key(src)
	if !ok {
		g.stats.MalformedInput++
		return nil
	}
	if !g.holding || !g.vmacs[k] {
		return nil
	}
	g.stats.ForeignMAC++
	return &CollisionError{
		Kind:      ForeignVirtualMAC,
		ClusterID: g.cluster,
		MAC:       cloneMAC(src),
		From:      cloneMAC(src),
		Interface: ifname,
	}
}

// CheckHeartbeat checks a heartbeat received on interface ifname that
// claims cluster clusterID and unit unitID and came from source MAC src. The
// caller feeds every heartbeat whose header it could parse, none it sent
// itself, and also those that fail authentication with our key: another
// cluster configured with our cluster ID but its own key is exactly what
// this detects. So a report is an alarm for the operator, evidence of a
// misconfiguration or of forged frames; it must never change roles.
func (g *Guard) CheckHeartbeat(ifname string, clusterID, unitID uint16, src net.HardwareAddr) error {
	g.stats.Heartbeats++
	k, ok := key(src)
	if !ok {
		g.stats.MalformedInput++
		return nil
	}
	if clusterID != g.cluster {
		g.stats.OtherClusters++
		return nil
	}
	allowed, member := g.members[unitID]
	switch {
	case !member:
		g.stats.ForeignUnits++
		return &CollisionError{Kind: ForeignUnit, ClusterID: g.cluster, UnitID: unitID, From: cloneMAC(src), Interface: ifname}
	case unitID == g.self && len(allowed) == 0:
		// We do not receive our own heartbeats: this one is from a second
		// unit configured with our ID.
		g.stats.ImpostorUnits++
		return &CollisionError{Kind: ImpostorUnit, ClusterID: g.cluster, UnitID: unitID, From: cloneMAC(src), Interface: ifname}
	case len(allowed) > 0 && !allowed[k]:
		g.stats.ImpostorUnits++
		return &CollisionError{Kind: ImpostorUnit, ClusterID: g.cluster, UnitID: unitID, From: cloneMAC(src), Interface: ifname}
	}
	return nil
}

// Stats returns the counters.
func (g *Guard) Stats() GuardStats { return g.stats }

func key(m net.HardwareAddr) ([6]byte, bool) {
	var k [6]byte
	if len(m) != 6 {
		return k, false
	}
	copy(k[:], m)
	return k, true
}

func cloneMAC(m net.HardwareAddr) net.HardwareAddr {
	return append(net.HardwareAddr(nil), m...)
}
