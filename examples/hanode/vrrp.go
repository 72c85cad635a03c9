package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/vrrp"
	"github.com/hakit/hakit/vmac"
)

// -protocol vrrp: the unit's role comes from a VRRPv3 virtual router
// (package election/vrrp) instead of hakit's heartbeats and election, so
// that a hanode unit can stand in for one keepalived unit of a pair, or
// share an address with a router. The takeover is the same (member's
// steps); session sync to a hakit peer stays available.

// Protocols (-protocol).
const (
	protocolHakit = "hakit"
	protocolVRRP  = "vrrp"
)

// vrrpConfig is the virtual router's part of the command line.
type vrrpConfig struct {
	VRID       uint8
	Interval   time.Duration // Advertisement_Interval
	Peers      []netip.Addr  // unicast peers; none: multicast
	Source     netip.Addr    // the advertisements' source; zero: the interface's
	Checksum   vrrp.ChecksumForm
	NoPreempt  bool
	LinkLocal  netip.Addr // IPv6: the virtual link-local address, advertised first
	MinUnicast uint8      // lowest TTL accepted on unicast advertisements
	Accept     bool
}

// vrrpFlagSet holds the flags until they are checked.
type vrrpFlagSet struct {
	protocol, checksum, src, linkLocal string
	vrid, minTTL                       uint
	interval                           time.Duration
	peers                              listFlag
	nopreempt, accept                  bool
}

// vrrpFlags registers the VRRP flags on fs.
func vrrpFlags(fs *flag.FlagSet) *vrrpFlagSet {
	f := &vrrpFlagSet{}
	fs.StringVar(&f.protocol, "protocol", protocolHakit, "election protocol: hakit (heartbeats with EIFD) or vrrp (VRRPv3, RFC 9568: pairs with keepalived or a router)")
	fs.UintVar(&f.vrid, "vrrp-vrid", 0, "with -protocol vrrp: the virtual router ID (1-255, as keepalived's virtual_router_id)")
	fs.DurationVar(&f.interval, "vrrp-advert-interval", time.Second, "with -protocol vrrp: the advertisement interval (10ms to 40.95s in steps of 10ms, as keepalived's advert_int)")
	fs.Var(&f.peers, "vrrp-unicast-peer", "with -protocol vrrp: send advertisements to this peer's address instead of the multicast group, and accept only the peers' (repeatable; keepalived's unicast_peer)")
	fs.StringVar(&f.src, "vrrp-unicast-src", "", "with -protocol vrrp: the address advertisements come from (keepalived's unicast_src_ip; default the interface's first IPv4 address, or its IPv6 link-local one)")
	fs.StringVar(&f.checksum, "vrrp-checksum", "pseudo-header", "with -protocol vrrp: the IPv4 checksum sent: pseudo-header (keepalived, FRR) or message-only (RFC 9568: Cisco, Juniper, keepalived 2.2.8+ with v3_checksum_as_v2); both are accepted")
	fs.BoolVar(&f.nopreempt, "vrrp-nopreempt", false, "with -protocol vrrp: never take the role from a Master of lower priority (keepalived's nopreempt)")
	fs.StringVar(&f.linkLocal, "vrrp-link-local", "", "with -protocol vrrp and IPv6: the virtual router's link-local address, advertised first (RFC 9568 section 5.2.9); without it the first -vip is first")
	fs.UintVar(&f.minTTL, "vrrp-min-unicast-ttl", 255, "with -protocol vrrp: the lowest TTL or hop limit accepted on unicast advertisements (keepalived sends IPv6 unicast ones with 64 unless its unicast_ttl is 255)")
	fs.BoolVar(&f.accept, "vrrp-accept", false, "with -protocol vrrp: accept mode, reported in the status (the firewall's rules enforce it)")
	return f
}

// parse checks the VRRP flags against c (parsed already) and sets
// c.VRRP; with -protocol hakit no VRRP flag may be given.
func (f *vrrpFlagSet) parse(fs *flag.FlagSet, c *config) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, a...))
	}
	switch f.protocol {
	case protocolHakit:
		var set []string
		fs.Visit(func(fl *flag.Flag) {
			if strings.HasPrefix(fl.Name, "vrrp-") {
				set = append(set, "-"+fl.Name)
			}
		})
		if len(set) > 0 {
			return bad("%s needs -protocol vrrp", strings.Join(set, ", "))
		}
		return nil
	case protocolVRRP:
	default:
		return bad("-protocol %q: want hakit or vrrp", f.protocol)
	}
	var hakitOnly []string
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "interval", "misses", "probe-window", "mode", "preempt":
			hakitOnly = append(hakitOnly, "-"+fl.Name)
		}
	})
	if len(hakitOnly) > 0 {
		return bad("%s: hakit's heartbeat and election settings, not VRRP's (see -vrrp-advert-interval, -vrrp-nopreempt)", strings.Join(hakitOnly, ", "))
	}
	v := &vrrpConfig{Interval: f.interval, NoPreempt: f.nopreempt, Accept: f.accept}
	switch {
	case f.vrid < 1 || f.vrid > 255:
		return bad("-protocol vrrp needs -vrrp-vrid 1-255 (got %d)", f.vrid)
	case c.Priority == 0:
		return bad("-priority 0 with -protocol vrrp: VRRP priorities are 1-255 (0 is a Master stopping)")
	case len(c.Ifaces) != 1:
		return bad("-protocol vrrp runs on one interface: give exactly one -iface (got %d)", len(c.Ifaces))
	case len(c.VIPs) == 0:
		return bad("-protocol vrrp needs at least one -vip")
	case f.minTTL < 1 || f.minTTL > 255:
		return bad("-vrrp-min-unicast-ttl %d: out of range 1-255", f.minTTL)
	}
	v.VRID, v.MinUnicast = uint8(f.vrid), uint8(f.minTTL)
	is6 := c.VIPs[0].Prefix.Addr().Is6()
	for _, x := range c.VIPs {
		if x.Iface != c.Ifaces[0] {
			return bad("-vip %s is on %s: with -protocol vrrp every -vip is on the -iface (%s)", x.Prefix, x.Iface, c.Ifaces[0])
		}
		if x.Prefix.Addr().Is6() != is6 {
			return bad("-vip %s and %s mix IPv4 and IPv6: a VRRP virtual router has one family (run one hanode per family)", c.VIPs[0].Prefix, x.Prefix)
		}
	}
	switch f.checksum {
	case "pseudo-header":
		v.Checksum = vrrp.ChecksumPseudoHeader
	case "message-only":
		v.Checksum = vrrp.ChecksumMessageOnly
	default:
		return bad("-vrrp-checksum %q: want pseudo-header or message-only", f.checksum)
	}
	for _, p := range f.peers {
		a, err := netip.ParseAddr(p)
		if err != nil {
			return bad("-vrrp-unicast-peer %q: %v", p, err)
		}
		v.Peers = append(v.Peers, a)
	}
	if f.src != "" {
		a, err := netip.ParseAddr(f.src)
		if err != nil || a.Is6() != is6 {
			return bad("-vrrp-unicast-src %q: want an address of the -vip family", f.src)
		}
		v.Source = a
	}
	if f.linkLocal != "" {
		a, err := netip.ParseAddr(f.linkLocal)
		if err != nil || !a.Is6() || !a.IsLinkLocalUnicast() || !is6 {
			return bad("-vrrp-link-local %q: want an IPv6 link-local address, with IPv6 -vip", f.linkLocal)
		}
		v.LinkLocal = a
	}
	c.VRRP = v
	if err := c.vrrpConfig(netip.Addr{}).Validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// vrrpConfig returns the virtual router's configuration with primary as
// its own address. The zero Addr means -vrrp-unicast-src, or without it a
// placeholder of the right family, for checking the flags before the
// interface is opened.
func (c *config) vrrpConfig(primary netip.Addr) *vrrp.Config {
	v := c.VRRP
	cfg := &vrrp.Config{VRID: v.VRID, Priority: c.Priority, AdvertInterval: v.Interval, NoPreempt: v.NoPreempt,
		AcceptMode: v.Accept, Peers: v.Peers, Checksum: v.Checksum, MinUnicastTTL: v.MinUnicast, Primary: primary}
	if v.LinkLocal.IsValid() {
		cfg.Addrs = append(cfg.Addrs, v.LinkLocal)
	}
	for _, x := range c.VIPs {
		cfg.Addrs = append(cfg.Addrs, x.Prefix.Addr())
	}
	cfg.GlobalFirst = !v.LinkLocal.IsValid()
	switch {
	case primary.IsValid():
	case v.Source.IsValid():
		cfg.Primary = v.Source
	case cfg.Addrs[len(cfg.Addrs)-1].Is6():
		cfg.Primary = netip.MustParseAddr("fe80::1")
	default:
		cfg.Primary = netip.MustParseAddr("192.0.2.1")
	}
	return cfg
}

// virtualMAC returns the virtual MAC of the n-th virtual-address
// interface: VRRP's 00-00-5E-00-01-{VRID} (00-00-5E-00-02-{VRID} for
// IPv6) with -protocol vrrp, else hakit's own for the cluster (and its
// -cluster-name).
func (c *config) virtualMAC(n int) (net.HardwareAddr, error) {
	switch {
	case c.VRRP == nil:
		return c.localMAC(n) // clusterid.go
	case c.VIPs[0].Prefix.Addr().Is6():
		return vmac.VRRPv6MAC(int(c.VRRP.VRID))
	}
	return vmac.VRRPMAC(int(c.VRRP.VRID))
}

// heartbeatIfaces returns the interfaces heartbeats are sent on: none
// when VRRP decides the role.
func (c *config) heartbeatIfaces() []string {
	if c.VRRP != nil {
		return nil
	}
	return c.Ifaces
}

// roleSource opens the virtual router on the -iface with -protocol vrrp;
// it returns nil otherwise. The member.Driver owns what it returns.
func (d *daemon) roleSource(ifis map[string]*net.Interface) (member.RoleSource, error) {
	v := d.cfg.VRRP
	if v == nil {
		return nil, nil
	}
	ifi := ifis[d.cfg.Ifaces[0]]
	conn, err := vrrp.Listen(ifi, &vrrp.ListenConfig{IPv6: d.cfg.VIPs[0].Prefix.Addr().Is6(), Source: v.Source,
		NoJoin: len(v.Peers) > 0})
	if err != nil {
		return nil, fmt.Errorf("VRRP on %s: %w", ifi.Name, err)
	}
	src, err := member.NewVRRP(conn, d.cfg.vrrpConfig(conn.Source()), &vrrp.DriverConfig{Logger: d.log.With("part", "vrrp")})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	d.vrrp = src
	return src, nil
}

// VRRPStatus is the virtual router's part of the status.
type VRRPStatus struct {
	VRID     uint8            `json:"vrid"`
	State    string           `json:"state"`
	Priority uint8            `json:"priority"`
	Master   string           `json:"master,omitempty"`
	Peers    []VRRPPeerStatus `json:"peers"`
	Counters vrrp.Counters    `json:"counters"`
}

// VRRPPeerStatus is another router of the virtual router, from its
// advertisements: keepalived, a router, or another hanode.
type VRRPPeerStatus struct {
	Addr     string    `json:"addr"`
	Priority uint8     `json:"priority"`
	Interval string    `json:"interval"`
	Checksum string    `json:"checksum"`
	Last     time.Time `json:"last"`
}

// vrrpStatus returns the virtual router's status, or nil without VRRP.
func (d *daemon) vrrpStatus() *VRRPStatus {
	if d.vrrp == nil {
		return nil
	}
	st := d.vrrp.Driver().Status()
	s := &VRRPStatus{VRID: d.cfg.VRRP.VRID, State: st.State.String(), Priority: st.Priority, Counters: st.Counters}
	if st.Master.IsValid() {
		s.Master = st.Master.String()
	}
	for _, p := range st.Peers {
		s.Peers = append(s.Peers, VRRPPeerStatus{Addr: p.Addr.String(), Priority: p.Priority,
			Interval: p.Interval.String(), Checksum: p.Checksum.String(), Last: p.Last})
	}
	return s
}
