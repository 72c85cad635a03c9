package clusterip

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/statesync"
)

// MAC returns the multicast MAC of a cluster's interface: 03:48:4b:<the
// cluster ID, 2 bytes>:<the interface's index among the cluster's
// interfaces>. The first byte has the multicast and the locally
// administered bits set, so it collides with no vendor's and no IP
// multicast MAC.
func MAC(cluster uint16, index uint8) net.HardwareAddr {
	return net.HardwareAddr{0x03, 0x48, 0x4b, byte(cluster >> 8), byte(cluster), index}
}

// Interface is one interface that carries the cluster's traffic.
type Interface struct {
	// Name is the interface's name.
	Name string
	// MAC is the cluster's multicast MAC there (see MAC).
	MAC net.HardwareAddr
	// Addrs are the cluster's IPv4 addresses on it: ARP packets this unit
	// sends for them name MAC.
	Addrs []netip.Addr
}

// Config configures a Filter.
type Config struct {
	// Cluster is the cluster's ID; it names the nftables tables
	// (hakit_clusterip_<cluster>, in the ip and arp families).
	Cluster uint16
	// Unit is this unit's ID (nonzero): it keeps the buckets the owner map
	// gives it.
	Unit uint16
	// Interfaces are the cluster's interfaces (at least one).
	Interfaces []Interface
	// Buckets is the number of buckets (1 to 1024); zero means
	// statesync.DefaultBuckets. Every unit must use the same.
	Buckets int
	// Logger receives the owner map's changes; nil discards them.
	Logger *slog.Logger
}

// maxBuckets bounds the owner map (one netlink batch rewrites it).
const maxBuckets = 1024

func (c *Config) withDefaults() Config {
	var r Config
	if c != nil {
		r = *c
	}
	if r.Buckets == 0 {
		r.Buckets = statesync.DefaultBuckets
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// Validate reports the first invalid field of c after defaults, as an
// error wrapping hakit.ErrConfig.
func (c *Config) Validate() error {
	r := c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("clusterip: config: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	switch {
	case r.Unit == 0:
		return bad("unit ID 0")
	case len(r.Interfaces) == 0:
		return bad("no interfaces")
	case r.Buckets < 1 || r.Buckets > maxBuckets:
		return bad("%d buckets, want 1 to %d", r.Buckets, maxBuckets)
	}
	seen := map[string]bool{}
	for _, ifc := range r.Interfaces {
		switch {
		case ifc.Name == "" || len(ifc.Name) > 15:
			return bad("interface name %q", ifc.Name)
		case seen[ifc.Name]:
			return bad("interface %s twice", ifc.Name)
		case len(ifc.MAC) != 6 || ifc.MAC[0]&1 == 0:
			return bad("interface %s: MAC %v is not a multicast Ethernet address", ifc.Name, ifc.MAC)
		}
		seen[ifc.Name] = true
		for _, a := range ifc.Addrs {
			if !a.Is4() {
				return bad("interface %s: address %v is not IPv4", ifc.Name, a)
			}
		}
	}
	return nil
}

// Stats counts what a Filter did.
type Stats struct {
	// Updates counts the owner maps written; Errors the writes that
	// failed.
	Updates, Errors uint64
}
