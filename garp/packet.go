package garp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/hakit/hakit/internal/link"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// Kind is the shape of an announcement frame. The zero Kind is invalid.
type Kind uint8

const (
	// GARPRequest is a gratuitous ARP request (RFC 5227 section 3 "ARP
	// Announcement"): broadcast, operation 1, sender and target protocol
	// address both the announced address, target hardware address zero.
	GARPRequest Kind = iota + 1

	// GARPReply is a gratuitous ARP in reply form: broadcast, operation 2,
	// sender and target protocol address the announced address, and target
	// hardware address equal to the sender's (Linux treats a reply as
	// gratuitous only then, and only then overrides its lock time).
	GARPReply

	// UnsolicitedNA is an IPv6 unsolicited Neighbor Advertisement (RFC 4861
	// section 7.2.6) to all-nodes ff02::1 (Ethernet 33:33:00:00:00:01) from
	// the announced address, hop limit 255, Override set, Solicited clear,
	// Router as configured, with a Target Link-Layer Address option.
	UnsolicitedNA

	// Learn is a transparent-mode learning frame: a broadcast ARP probe
	// whose Ethernet source and sender hardware address is a MAC from the
	// other segment, with sender and target protocol address 0.0.0.0. A
	// switch learns the source MAC on the port it arrived on; hosts ignore
	// it (a probe for 0.0.0.0 is not theirs to answer and carries no
	// address to cache).
	Learn
)

// String returns the kind's name, as "garp-request".
func (k Kind) String() string {
	switch k {
	case GARPRequest:
		return "garp-request"
	case GARPReply:
		return "garp-reply"
	case UnsolicitedNA:
		return "unsolicited-na"
	case Learn:
		return "learn"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// Sizes of the frames Marshal produces.
const (
	// ARPFrameLen is the length of GARPRequest, GARPReply and Learn frames:
	// 14 bytes of Ethernet header and 28 of ARP, padded to the 60-byte
	// Ethernet minimum (without frame check sequence).
	ARPFrameLen = 60
	// NAFrameLen is the length of an UnsolicitedNA frame: 14 bytes of
	// Ethernet header, 40 of IPv6 header, 24 of Neighbor Advertisement and
	// 8 of Target Link-Layer Address option.
	NAFrameLen = 14 + 40 + 24 + 8
)

var (
	// ErrInvalid is wrapped by the errors for announcements that cannot be
	// built: a zero Kind, a MAC that is not a 6-byte unicast address, an
	// address of the wrong family or one that cannot be announced.
	ErrInvalid = errors.New("invalid announcement")

	// ErrNotAnnouncement is wrapped by Parse's errors for well-formed frames
	// that are not one of the announcements this package builds.
	ErrNotAnnouncement = errors.New("not an announcement")
)

// Announcement is one frame's worth of "this address now lives at this MAC".
// It is a comparable-by-content value: Marshal and Parse map between it and
// its wire form.
type Announcement struct {
	// Kind selects the frame shape.
	Kind Kind
	// MAC is the Ethernet source address and the ARP sender (and, for
	// GARPReply, target) hardware address or the NA target link-layer
	// address: the shared MAC for GARP and NA, a MAC of the other segment
	// for Learn. It must be a 6-byte unicast address.
	MAC net.HardwareAddr
	// Addr is the announced address: IPv4 for GARPRequest and GARPReply,
	// IPv6 for UnsolicitedNA (it is also the IPv6 source), invalid (zero)
	// for Learn.
	Addr netip.Addr
	// Router is the NA Router flag; it must be false for other kinds.
	Router bool
}

// Well-known destinations.
var (
	broadcastMAC = link.Broadcast
	allNodesMAC  = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
	allNodes     = netip.MustParseAddr("ff02::1")
	zeroMAC      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
)

// Validate reports why a cannot be marshalled, or nil.
func (a Announcement) Validate() error {
	if err := checkMAC(a.MAC); err != nil {
		return fmt.Errorf("garp: %w: %w", err, ErrInvalid)
	}
	switch a.Kind {
	case GARPRequest, GARPReply:
		if !a.Addr.Is4() {
			return fmt.Errorf("garp: %v needs an IPv4 address, not %v: %w", a.Kind, a.Addr, ErrInvalid)
		}
	case UnsolicitedNA:
		if !a.Addr.Is6() || a.Addr.Is4In6() || a.Addr.Zone() != "" {
			return fmt.Errorf("garp: %v needs an unzoned IPv6 address, not %v: %w", a.Kind, a.Addr, ErrInvalid)
		}
	case Learn:
		if a.Addr.IsValid() {
			return fmt.Errorf("garp: %v carries no address, got %v: %w", a.Kind, a.Addr, ErrInvalid)
		}
	default:
		return fmt.Errorf("garp: %v: %w", a.Kind, ErrInvalid)
	}
	if a.Kind != Learn {
		if err := checkAddr(a.Addr); err != nil {
			return fmt.Errorf("garp: %w: %w", err, ErrInvalid)
		}
	}
	if a.Router && a.Kind != UnsolicitedNA {
		return fmt.Errorf("garp: Router flag on %v: %w", a.Kind, ErrInvalid)
	}
	return nil
}

// checkMAC accepts 6-byte unicast MACs other than all-zero. Its errors are
// bare reasons, for the callers to prefix and wrap.
func checkMAC(mac net.HardwareAddr) error {
	switch {
	case len(mac) != 6:
		return fmt.Errorf("MAC %q is not 6 bytes", mac)
	case mac[0]&1 != 0:
		return fmt.Errorf("MAC %v is multicast", mac)
	case bytes.Equal(mac, zeroMAC):
		return fmt.Errorf("MAC %v is zero", mac)
	}
	return nil
}

// checkAddr accepts the addresses a host may own on a LAN. Its errors are
// bare reasons, for the callers to prefix and wrap.
func checkAddr(ip netip.Addr) error {
	switch {
	case !ip.IsValid():
		return errors.New("zero address")
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsLoopback(),
		ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("address %v cannot be announced", ip)
	}
	return nil
}

// Marshal builds a's frame with mdlayher/arp, mdlayher/ethernet and
// mdlayher/ndp. It allocates; use a Builder to rebuild frames for every send.
func Marshal(a Announcement) ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if a.Kind == UnsolicitedNA {
		return marshalNA(a)
	}
	return marshalARP(a)
}

func marshalARP(a Announcement) ([]byte, error) {
	op, tha, ip := arp.OperationRequest, zeroMAC, a.Addr
	switch a.Kind {
	case GARPReply:
		op, tha = arp.OperationReply, a.MAC
	case Learn:
		ip = netip.IPv4Unspecified()
	}
	f, err := link.ARP(op, broadcastMAC, a.MAC, ip, tha, ip)
	if err != nil {
		return nil, fmt.Errorf("garp: %v: %w", err, ErrInvalid)
	}
	return f, nil
}

func marshalNA(a Announcement) ([]byte, error) {
	na := &ndp.NeighborAdvertisement{
		Router:        a.Router,
		Override:      true,
		TargetAddress: a.Addr,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      a.MAC,
		}},
	}
	// ndp leaves the IPv6 header to the kernel; on a packet socket we write
	// it ourselves (RFC 8200 section 3).
	f, err := link.NDP(na, a.MAC, allNodesMAC, a.Addr, allNodes)
	if err != nil {
		return nil, fmt.Errorf("garp: %v: %w", err, ErrInvalid)
	}
	return f, nil
}

// Parse recognizes a frame built by Marshal (or an equivalent one from
// another implementation) and returns its Announcement. It checks the
// Ethernet destination, the ARP shape, and for NA the IPv6 header (hop limit
// 255, destination ff02::1, source equal to the target) and the ICMPv6
// checksum. The returned MAC does not alias b.
func Parse(b []byte) (Announcement, error) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(b); err != nil {
		return Announcement{}, fmt.Errorf("garp: ethernet: %w", err)
	}
	if f.VLAN != nil || f.ServiceVLAN != nil {
		return Announcement{}, fmt.Errorf("garp: VLAN-tagged frame: %w", ErrNotAnnouncement)
	}
	switch f.EtherType {
	case ethernet.EtherTypeARP:
		return parseARP(&f)
	case ethernet.EtherTypeIPv6:
		return parseNA(&f)
	}
	return Announcement{}, fmt.Errorf("garp: EtherType %#04x: %w", uint16(f.EtherType), ErrNotAnnouncement)
}

func parseARP(f *ethernet.Frame) (Announcement, error) {
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		return Announcement{}, fmt.Errorf("garp: arp: %w", err)
	}
	if p.HardwareType != 1 || p.ProtocolType != uint16(ethernet.EtherTypeIPv4) ||
		p.HardwareAddrLength != 6 || p.IPLength != 4 {
		return Announcement{}, fmt.Errorf("garp: arp for hardware %d protocol %#04x: %w", p.HardwareType, p.ProtocolType, ErrNotAnnouncement)
	}
	if !bytes.Equal(f.Destination, broadcastMAC) || !bytes.Equal(f.Source, p.SenderHardwareAddr) {
		return Announcement{}, fmt.Errorf("garp: arp not broadcast from its sender: %w", ErrNotAnnouncement)
	}
	if p.SenderIP != p.TargetIP {
		return Announcement{}, fmt.Errorf("garp: arp for %v from %v: %w", p.TargetIP, p.SenderIP, ErrNotAnnouncement)
	}
	a := Announcement{MAC: bytes.Clone(p.SenderHardwareAddr), Addr: p.SenderIP}
	switch {
	case p.Operation == arp.OperationRequest && p.SenderIP.IsUnspecified() && bytes.Equal(p.TargetHardwareAddr, zeroMAC):
		a.Kind, a.Addr = Learn, netip.Addr{}
	case p.Operation == arp.OperationRequest && bytes.Equal(p.TargetHardwareAddr, zeroMAC):
		a.Kind = GARPRequest
	case p.Operation == arp.OperationReply && bytes.Equal(p.TargetHardwareAddr, p.SenderHardwareAddr):
		a.Kind = GARPReply
	default:
		return Announcement{}, fmt.Errorf("garp: arp operation %v to %v: %w", p.Operation, p.TargetHardwareAddr, ErrNotAnnouncement)
	}
	if err := a.Validate(); err != nil {
		return Announcement{}, err
	}
	return a, nil
}

func parseNA(f *ethernet.Frame) (Announcement, error) {
	b := f.Payload
	if len(b) < 40 {
		return Announcement{}, fmt.Errorf("garp: short IPv6 header: %w", ErrNotAnnouncement)
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if b[0]>>4 != 6 || b[6] != 58 || b[7] != 255 || 40+plen > len(b) {
		return Announcement{}, fmt.Errorf("garp: IPv6 header is not ND's: %w", ErrNotAnnouncement)
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	if dst != allNodes || !bytes.Equal(f.Destination, allNodesMAC) {
		return Announcement{}, fmt.Errorf("garp: NA to %v: %w", dst, ErrNotAnnouncement)
	}
	icmp := b[40 : 40+plen]
	if link.ICMPv6Checksum(src, dst, icmp) != 0 {
		return Announcement{}, fmt.Errorf("garp: bad ICMPv6 checksum: %w", ErrNotAnnouncement)
	}
	m, err := ndp.ParseMessage(icmp)
	if err != nil {
		return Announcement{}, fmt.Errorf("garp: ndp: %w", err)
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok || na.Solicited || !na.Override || na.TargetAddress != src || len(na.Options) != 1 {
		return Announcement{}, fmt.Errorf("garp: ICMPv6 %v is not an unsolicited NA: %w", m.Type(), ErrNotAnnouncement)
	}
	lla, ok := na.Options[0].(*ndp.LinkLayerAddress)
	if !ok || lla.Direction != ndp.Target || !bytes.Equal(lla.Addr, f.Source) {
		return Announcement{}, fmt.Errorf("garp: NA without a matching target link-layer address: %w", ErrNotAnnouncement)
	}
	a := Announcement{Kind: UnsolicitedNA, MAC: bytes.Clone(f.Source), Addr: src, Router: na.Router}
	if err := a.Validate(); err != nil {
		return Announcement{}, err
	}
	return a, nil
}

// Builder appends announcement frames to caller buffers without allocating
// once it has seen an announcement: the first Append for a given
// Announcement builds the frame with Marshal and keeps it; later ones copy
// it. The cache grows with the number of distinct announcements (a cluster
// has a few hundred at most). A Builder is not safe for concurrent use; the
// zero value is ready to use.
type Builder struct {
	cache map[builderKey][]byte
}

type builderKey struct {
	kind   Kind
	mac    [6]byte
	addr   netip.Addr
	router bool
}

// Append appends a's frame to dst.
func (b *Builder) Append(dst []byte, a Announcement) ([]byte, error) {
	if len(a.MAC) != 6 {
		return dst, fmt.Errorf("garp: %w: %w", checkMAC(a.MAC), ErrInvalid)
	}
	k := builderKey{kind: a.Kind, mac: [6]byte(a.MAC), addr: a.Addr, router: a.Router}
	if f, ok := b.cache[k]; ok {
		return append(dst, f...), nil
	}
	f, err := Marshal(a)
	if err != nil {
		return dst, err
	}
	if b.cache == nil {
		b.cache = make(map[builderKey][]byte)
	}
	b.cache[k] = f
	return append(dst, f...), nil
}
