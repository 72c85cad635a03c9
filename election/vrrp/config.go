package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/hakit/hakit"
)

// The multicast groups of VRRP (RFC 9568 sections 5.1.1.2 and 5.1.2.2).
var (
	// GroupIPv4 is 224.0.0.18, the IPv4 destination of advertisements.
	GroupIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	// GroupIPv6 is ff02::12, the IPv6 destination of advertisements.
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// Priorities with a meaning of their own (RFC 9568 section 5.2.4).
const (
	// PriorityOwner is the priority of the router that owns the virtual
	// addresses (they are its interface addresses): it becomes Master at
	// once on startup, and accepts packets to them whatever AcceptMode.
	PriorityOwner = 255
	// PriorityStop is the priority of the advertisement a Master sends when
	// it stops: the Backups take over after Skew_Time instead of
	// Master_Down_Interval.
	PriorityStop = 0
	// DefaultPriority is the priority of a Backup unless configured.
	DefaultPriority = 100
)

// Config configures one VRRP instance (one virtual router on one
// interface, one address family): RFC 9568 section 6.1's parameters, and
// the choices implementations differ on. A nil *Config is invalid, as a
// virtual router needs at least its VRID, its addresses and its own
// address; zero fields take the defaults of DefaultConfig.
type Config struct {
	// VRID is the Virtual Router Identifier, 1 to 255, shared by every
	// router of the virtual router.
	VRID uint8
	// Priority is this router's priority, 1 to 255; 255 makes it the
	// address owner. Zero means DefaultPriority (100).
	Priority uint8
	// Addrs are the virtual router's addresses, 1 to 255, all IPv4 or all
	// IPv6. They go in every advertisement in this order; a peer (such as
	// keepalived) may refuse advertisements whose list differs from its
	// own. For IPv6 the first must be link-local (RFC 9568 section 5.2.9)
	// unless GlobalFirst is set.
	Addrs []netip.Addr
	// Primary is this router's own address on the interface, of the
	// family of Addrs: the source of its advertisements and the address
	// compared when priorities tie. For IPv4 it is the interface's primary
	// address; for IPv6 it must be the interface's link-local address
	// unless Peers are set (then it is the address the peers know).
	Primary netip.Addr
	// AdvertInterval is the Advertisement_Interval, 10ms to 40.95s in
	// steps of 10ms (centiseconds on the wire). Zero means 1s.
	AdvertInterval time.Duration
	// NoPreempt clears Preempt_Mode: a Backup then never takes the role
	// from a Master of lower priority (keepalived's nopreempt). The address
	// owner preempts regardless.
	NoPreempt bool
	// AcceptMode sets Accept_Mode: as Master, accept packets addressed to
	// the virtual addresses although this router does not own them. The
	// Machine reports it (Status.Accept); enforcing it is the caller's.
	AcceptMode bool
	// Peers, when set, are unicast peers (keepalived's unicast_peer):
	// advertisements go to each of them instead of the multicast group,
	// and only advertisements from them are accepted. At most MaxPeers.
	Peers []netip.Addr
	// Checksum is the form of the IPv4 checksum this router sends; zero
	// means ChecksumPseudoHeader, which keepalived and FRR accept.
	// ChecksumMessageOnly is RFC 9568's and what Cisco and Juniper accept.
	// Both are accepted on receipt, whatever this says, and the form each
	// peer uses is reported (Status.Peers). IPv6 always uses the
	// pseudo-header.
	Checksum ChecksumForm
	// MinUnicastTTL is the lowest TTL (hop limit) accepted on an
	// advertisement sent to a unicast address; zero means 255, as for
	// multicast, where 255 is always required. keepalived sends IPv6
	// unicast advertisements with the kernel's default hop limit (64)
	// unless its unicast_ttl is set.
	MinUnicastTTL uint8
	// GlobalFirst allows an IPv6 virtual router whose first address is not
	// link-local, as keepalived does outside vrrp_strict. RFC 9568 requires
	// a link-local first address.
	GlobalFirst bool
	// MaxPeers caps the routers whose advertisements are tracked in
	// Status.Peers, and the number of unicast Peers; zero means 16. An
	// advertisement from a router beyond the cap is still processed, and
	// counted in Counters.UntrackedPeers.
	MaxPeers int
}

// DefaultConfig returns the defaults, each with its reason. The caller
// still sets VRID, Addrs and Primary.
func DefaultConfig() *Config {
	return &Config{
		// RFC 9568 section 6.1: "The default value is 100 (decimal)."
		Priority: DefaultPriority,
		// RFC 9568 section 6.1: "Default is 100 centiseconds (1 second)."
		AdvertInterval: time.Second,
		// Preempt_Mode "Default is True": a higher-priority Backup takes over.
		NoPreempt: false,
		// Accept_Mode "Default is False".
		AcceptMode: false,
		// The form keepalived (up to 2.2.7 it accepts no other) and FRR
		// accept by default; routers that want RFC 9568's form are set per
		// instance.
		Checksum: ChecksumPseudoHeader,
		// RFC 9568: "A VRRP Router receiving a packet with the TTL not equal
		// to 255 MUST discard the packet".
		MinUnicastTTL: 255,
		// Enough for any real virtual router (a LAN with 16 routers of one
		// VRID is already unusual) while bounding what peers can make us keep.
		MaxPeers: 16,
	}
}

// withDefaults returns a copy of c with zero fields set to their defaults,
// the address slices copied and zones dropped.
func (c *Config) withDefaults() Config {
	d := DefaultConfig()
	if c == nil {
		return *d
	}
	r := *c
	if r.Priority == 0 {
		r.Priority = d.Priority
	}
	if r.AdvertInterval == 0 {
		r.AdvertInterval = d.AdvertInterval
	}
	if r.Checksum == 0 {
		r.Checksum = d.Checksum
	}
	if r.MinUnicastTTL == 0 {
		r.MinUnicastTTL = d.MinUnicastTTL
	}
	if r.MaxPeers == 0 {
		r.MaxPeers = d.MaxPeers
	}
	r.Addrs = unzoned(r.Addrs)
	r.Peers = unzoned(r.Peers)
	r.Primary = r.Primary.WithZone("")
	return r
}

func unzoned(in []netip.Addr) []netip.Addr {
	if in == nil {
		return nil
	}
	out := make([]netip.Addr, len(in))
	for i, a := range in {
		out[i] = a.WithZone("")
	}
	return out
}

// Validate reports why c cannot configure an instance, with an error
// wrapping hakit.ErrConfig, or nil. Zero fields are taken as their defaults.
func (c *Config) Validate() error {
	if c == nil {
		return fmt.Errorf("vrrp: nil config: the VRID, addresses and primary address are required: %w", hakit.ErrConfig)
	}
	r := c.withDefaults()
	return r.validate()
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("vrrp: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	if c.VRID == 0 {
		return bad("VRID 0: it must be 1 to 255")
	}
	if len(c.Addrs) == 0 {
		return bad("no virtual address")
	}
	if len(c.Addrs) > MaxAddrs {
		return bad("%d virtual addresses, at most %d", len(c.Addrs), MaxAddrs)
	}
	is6 := c.Addrs[0].Is6()
	for i, a := range c.Addrs {
		switch {
		case !a.IsValid() || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() ||
			a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return bad("virtual address %v cannot be a virtual router's", a)
		case a.Is6() != is6:
			return bad("virtual addresses %v and %v mix IPv4 and IPv6: use one instance per family", c.Addrs[0], a)
		case slices.Contains(c.Addrs[:i], a):
			return bad("virtual address %v listed twice", a)
		}
	}
	if is6 && !c.GlobalFirst && !c.Addrs[0].IsLinkLocalUnicast() {
		return bad("first IPv6 virtual address %v is not link-local (RFC 9568 section 5.2.9; set GlobalFirst to allow it)", c.Addrs[0])
	}
	p := c.Primary
	switch {
	case !p.IsValid():
		return bad("no primary address: set this router's own address on the interface")
	case p.Is4In6() || p.Is6() != is6 || p.IsUnspecified() || p.IsMulticast():
		return bad("primary address %v is not a unicast address of the virtual addresses' family", p)
	case is6 && len(c.Peers) == 0 && !p.IsLinkLocalUnicast():
		return bad("primary address %v is not link-local: IPv6 advertisements come from the link-local address (RFC 9568 section 7.2)", p)
	}
	if c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > MaxInterval*10*time.Millisecond ||
		c.AdvertInterval%(10*time.Millisecond) != 0 {
		return bad("advertisement interval %v: it must be 10ms to 40.95s in steps of 10ms", c.AdvertInterval)
	}
	if c.Checksum != ChecksumPseudoHeader && c.Checksum != ChecksumMessageOnly {
		return bad("checksum form %v", c.Checksum)
	}
	if c.MaxPeers < 0 {
		return bad("MaxPeers %d is negative", c.MaxPeers)
	}
	if len(c.Peers) > c.MaxPeers {
		return bad("%d unicast peers, MaxPeers is %d", len(c.Peers), c.MaxPeers)
	}
	for i, a := range c.Peers {
		switch {
		case !a.IsValid() || a.Is4In6() || a.Is6() != is6 || a.IsUnspecified() || a.IsMulticast():
			return bad("unicast peer %v is not a unicast address of the virtual addresses' family", a)
		case a == p:
			return bad("unicast peer %v is this router's primary address", a)
		case slices.Contains(c.Peers[:i], a):
			return bad("unicast peer %v listed twice", a)
		}
	}
	return nil
}

// interval returns the configured Advertisement_Interval in centiseconds.
func (c *Config) interval() uint16 { return uint16(c.AdvertInterval / (10 * time.Millisecond)) }

// SkewTime returns Skew_Time for a router of priority p that follows a
// Master advertising interval: ((256 - p) * interval) / 256 (RFC 9568
// section 6.1). The higher the priority, the shorter the skew, so that the
// best Backup takes over first.
func SkewTime(p uint8, interval time.Duration) time.Duration {
	return time.Duration(256-int(p)) * interval / 256
}

// MasterDownInterval returns Master_Down_Interval (RFC 9568's
// Active_Down_Interval) for a router of priority p that follows a Master
// advertising interval: 3 * interval + SkewTime(p, interval), the silence
// after which a Backup takes over.
func MasterDownInterval(p uint8, interval time.Duration) time.Duration {
	return 3*interval + SkewTime(p, interval)
}
