package vrrp

import (
	"fmt"
	"net/netip"

	"github.com/hakit/hakit"
)

// ChecksumForm says what the VRRPv3 checksum of an IPv4 advertisement
// covers. Implementations differ: RFC 5798 said "the entire VRRP message
// ... and a pseudo-header", which keepalived (before 2.2.8, and later by
// default) and FRR read as including an IPv4 pseudo-header; RFC 9568
// section 5.2.8 settles that for IPv4 "the checksum computation only
// includes the VRRP message", as Cisco and Juniper compute it. For IPv6
// both RFCs and every implementation include the IPv6 pseudo-header
// (RFC 8200 section 8.1), whatever the form. The zero value is invalid; a
// zero ChecksumForm in a Config means ChecksumPseudoHeader.
type ChecksumForm uint8

// The checksum forms.
const (
	// ChecksumPseudoHeader includes a pseudo-header: for IPv4 the source
	// and destination address, a zero byte, the protocol (112) and the
	// VRRP message length. It is keepalived's (every version up to 2.2.7,
	// the only form it accepts) and FRR's default, and Wireshark's.
	ChecksumPseudoHeader ChecksumForm = iota + 1
	// ChecksumMessageOnly covers the VRRP message alone for IPv4 (RFC 9568
	// section 5.2.8, as in VRRPv2): what Cisco and Juniper send, and
	// keepalived 2.2.8 and later with v3_checksum_as_v2. For IPv6 it is the
	// same as ChecksumPseudoHeader.
	ChecksumMessageOnly
)

// String returns the form's name.
func (f ChecksumForm) String() string {
	switch f {
	case ChecksumPseudoHeader:
		return "pseudo-header"
	case ChecksumMessageOnly:
		return "message-only"
	}
	return fmt.Sprintf("ChecksumForm(%d)", uint8(f))
}

// Seal sets a.Checksum to the checksum in form f of a sent from src to dst:
// the unicast or group destination of the IP packet, and the source the
// packet will carry. Both must be of a's family. It does not allocate.
func (a *Advertisement) Seal(f ChecksumForm, src, dst netip.Addr) error {
	if f != ChecksumPseudoHeader && f != ChecksumMessageOnly {
		return fmt.Errorf("vrrp: checksum form %v: %w", f, hakit.ErrConfig)
	}
	if err := a.check(); err != nil {
		return err
	}
	if err := a.checkEnds(src, dst); err != nil {
		return err
	}
	a.Checksum = 0
	a.Checksum = fold(a.sum(f, src, dst))
	return nil
}

// Verify checks a.Checksum for a received from src to dst (the packet's
// source and destination addresses) and returns the form it matches. For
// IPv4 it tries ChecksumPseudoHeader first and then ChecksumMessageOnly;
// for one message in 65535 or so both match, and it reports
// ChecksumPseudoHeader. For IPv6 only the pseudo-header form is valid, and
// it reports ChecksumPseudoHeader. A mismatch is an error wrapping
// ErrChecksum. It does not allocate.
func (a *Advertisement) Verify(src, dst netip.Addr) (ChecksumForm, error) {
	if err := a.check(); err != nil {
		return 0, err
	}
	if err := a.checkEnds(src, dst); err != nil {
		return 0, err
	}
	if fold(a.sum(ChecksumPseudoHeader, src, dst)) == 0 {
		return ChecksumPseudoHeader, nil
	}
	if !a.Is6() && fold(a.sum(ChecksumMessageOnly, src, dst)) == 0 {
		return ChecksumMessageOnly, nil
	}
	return 0, fmt.Errorf("vrrp: checksum %#04x from %v to %v matches no form: %w", a.Checksum, src, dst, ErrChecksum)
}

// checkEnds reports whether src and dst are addresses of a's family.
func (a *Advertisement) checkEnds(src, dst netip.Addr) error {
	is6 := a.Is6()
	for _, ip := range []netip.Addr{src, dst} {
		if !ip.IsValid() || ip.Is4In6() || ip.Is6() != is6 {
			return fmt.Errorf("vrrp: address %v is not of the advertisement's family: %w", ip, ErrMalformed)
		}
	}
	return nil
}

// sum returns the 32-bit one's complement sum, not yet folded, of a's
// encoding (with its Checksum field) and, unless f is ChecksumMessageOnly
// on IPv4, of its pseudo-header: the addresses, the length and the
// protocol. The IPv4 pseudo-header (zero, protocol, 16-bit length) and the
// IPv6 one (32-bit length, three zero bytes, next header) sum to the same.
func (a *Advertisement) sum(f ChecksumForm, src, dst netip.Addr) uint32 {
	s := uint32(a.Version<<4|a.Type)<<8 | uint32(a.VRID)
	s += uint32(a.Priority)<<8 | uint32(len(a.Addrs))
	s += uint32(a.Reserved)<<12 | uint32(a.MaxAdvertInterval)
	s += uint32(a.Checksum)
	for _, ip := range a.Addrs {
		s += sumAddr(ip)
	}
	if f == ChecksumPseudoHeader || a.Is6() {
		s += sumAddr(src) + sumAddr(dst) + uint32(a.Len()) + Protocol
	}
	return s
}

// sumAddr returns the sum of ip's 16-bit words.
func sumAddr(ip netip.Addr) uint32 {
	var s uint32
	if ip.Is4() {
		b := ip.As4()
		return (uint32(b[0])<<8 | uint32(b[1])) + (uint32(b[2])<<8 | uint32(b[3]))
	}
	b := ip.As16()
	for i := 0; i < 16; i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	return s
}

// fold folds a 32-bit one's complement sum into 16 bits and complements
// it: the Internet checksum (RFC 1071). A message whose checksum field is
// right folds to 0.
func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
