package vrrp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Version is the VRRP version this package speaks: 3 (RFC 9568).
const Version = 3

// TypeAdvertisement is the only VRRP packet type (RFC 9568 section 5.2.2).
const TypeAdvertisement = 1

// Protocol is the IP protocol number of VRRP, in both address families.
const Protocol = 112

// Sizes and limits of an advertisement, in bytes and centiseconds.
const (
	// HeaderLen is the length of the fixed part of an advertisement.
	HeaderLen = 8
	// MaxAddrs is the most addresses an advertisement can carry (the
	// count is one byte).
	MaxAddrs = 255
	// MaxLen is the length of the longest advertisement: 255 IPv6
	// addresses.
	MaxLen = HeaderLen + MaxAddrs*16
	// MaxInterval is the largest Max Advertise Interval, in centiseconds
	// (12 bits: 40.95 s).
	MaxInterval = 1<<12 - 1
)

// Advertisement is one VRRPv3 message: the payload of an IPv4 or IPv6
// packet of protocol 112 (RFC 9568 section 5.2):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|(rsvd) |     Max Adver Int     |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      IPvX Address(es)                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// It is a value type. The codec maps every field as it is on the wire, so
// that a decoded advertisement re-encodes to the same bytes; what the
// protocol does with a field (drop an unknown Type, ignore Reserved,
// refuse a zero interval) is the Machine's business. The address family
// is not on the wire: it is that of the IP packet, and UnmarshalBinary
// infers it from the length and the count.
type Advertisement struct {
	// Version is "the version field specifies the VRRP protocol version of
	// this packet": 3. It is the only version the codec reads or writes.
	Version uint8
	// Type is "the type field specifies the type of this VRRP packet. The
	// only packet type defined in this version of the protocol is:
	// 1 ADVERTISEMENT". 4 bits.
	Type uint8
	// VRID is the Virtual Rtr ID, "identifies the Virtual Router this
	// packet is reporting status for", 1 to 255.
	VRID uint8
	// Priority is "the sending VRRP Router's priority for the Virtual
	// Router. Higher values equal higher priority." 255 is the address
	// owner; 0 "indicates that the current Active Router has stopped
	// participating in VRRP".
	Priority uint8
	// Reserved is the 4-bit rsvd field: "MUST be set to zero on
	// transmission and ignored on reception". It is kept so that the
	// checksum of a received message can be verified from its fields.
	Reserved uint8
	// MaxAdvertInterval is "a 12-bit field that indicates the time
	// interval (in centiseconds) between ADVERTISEMENTS". See Interval.
	MaxAdvertInterval uint16
	// Checksum is the checksum field as sent or received. AppendBinary
	// writes it as it is; Seal computes it and Verify checks it, for a
	// given source, destination and ChecksumForm.
	Checksum uint16
	// Addrs are the IPvX addresses associated with the Virtual Router,
	// "the number of addresses included is specified in the Count IPvX
	// Addr field": one to 255 addresses, all IPv4 or all IPv6 ("IPv4 or
	// IPv6 but not both"), without zones. For IPv6 "the first address MUST
	// be the IPv6 link-local address associated with the Virtual Router";
	// the codec does not enforce it (see Config.GlobalFirst).
	Addrs []netip.Addr
}

// Interval returns MaxAdvertInterval as a duration.
func (a *Advertisement) Interval() time.Duration {
	return time.Duration(a.MaxAdvertInterval) * 10 * time.Millisecond
}

// Is6 reports whether the advertisement carries IPv6 addresses. It is false
// when Addrs is empty.
func (a *Advertisement) Is6() bool {
	return len(a.Addrs) > 0 && a.Addrs[0].Is6()
}

// Len returns the length of a's encoding.
func (a *Advertisement) Len() int {
	w := 4
	if a.Is6() {
		w = 16
	}
	return HeaderLen + w*len(a.Addrs)
}

// check reports why a cannot be encoded, or nil.
func (a *Advertisement) check() error {
	switch {
	case a.Version != Version:
		return fmt.Errorf("vrrp: version %d, want %d: %w", a.Version, Version, ErrVersion)
	case a.Type > 0x0f:
		return fmt.Errorf("vrrp: type %d does not fit in 4 bits: %w", a.Type, ErrMalformed)
	case a.Reserved > 0x0f:
		return fmt.Errorf("vrrp: reserved field %d does not fit in 4 bits: %w", a.Reserved, ErrMalformed)
	case a.MaxAdvertInterval > MaxInterval:
		return fmt.Errorf("vrrp: max advertise interval %d cs does not fit in 12 bits: %w", a.MaxAdvertInterval, ErrMalformed)
	case len(a.Addrs) == 0:
		return fmt.Errorf("vrrp: no address: %w", ErrMalformed)
	case len(a.Addrs) > MaxAddrs:
		return fmt.Errorf("vrrp: %d addresses, at most %d: %w", len(a.Addrs), MaxAddrs, ErrMalformed)
	}
	is6 := a.Is6()
	for _, ip := range a.Addrs {
		switch {
		case !ip.IsValid():
			return fmt.Errorf("vrrp: invalid address: %w", ErrMalformed)
		case ip.Is6() != is6:
			return fmt.Errorf("vrrp: addresses %v and %v mix IPv4 and IPv6: %w", a.Addrs[0], ip, ErrMalformed)
		case ip.Is4In6():
			return fmt.Errorf("vrrp: IPv4-mapped address %v: %w", ip, ErrMalformed)
		case ip.Zone() != "":
			return fmt.Errorf("vrrp: address %v has a zone: %w", ip, ErrMalformed)
		}
	}
	return nil
}

// AppendBinary appends a's encoding to b. It does not compute the checksum:
// it writes a.Checksum (see Seal). It does not allocate when b has room.
func (a *Advertisement) AppendBinary(b []byte) ([]byte, error) {
	if err := a.check(); err != nil {
		return b, err
	}
	b = append(b,
		a.Version<<4|a.Type, a.VRID, a.Priority, uint8(len(a.Addrs)),
		a.Reserved<<4|uint8(a.MaxAdvertInterval>>8), uint8(a.MaxAdvertInterval),
		uint8(a.Checksum>>8), uint8(a.Checksum))
	for _, ip := range a.Addrs {
		if ip.Is4() {
			v := ip.As4()
			b = append(b, v[:]...)
		} else {
			v := ip.As16()
			b = append(b, v[:]...)
		}
	}
	return b, nil
}

// MarshalBinary returns a's encoding (see AppendBinary).
func (a *Advertisement) MarshalBinary() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	return a.AppendBinary(make([]byte, 0, a.Len()))
}

// UnmarshalBinary decodes one advertisement, the whole of b (the IP payload).
// The address family follows from the length: HeaderLen plus 4 bytes per
// address for IPv4, 16 for IPv6. It returns io.ErrUnexpectedEOF for input
// shorter than the header, and errors wrapping ErrVersion or ErrMalformed
// for the rest; on error a is unchanged. The addresses are copied into
// a.Addrs, reusing its backing array (which is overwritten), so decoding
// into the same value again does not allocate.
func (a *Advertisement) UnmarshalBinary(b []byte) error {
	if len(b) < HeaderLen {
		return fmt.Errorf("vrrp: %d bytes, the header alone is %d: %w", len(b), HeaderLen, io.ErrUnexpectedEOF)
	}
	if v := b[0] >> 4; v != Version {
		return fmt.Errorf("vrrp: version %d, want %d: %w", v, Version, ErrVersion)
	}
	n := int(b[3])
	if n == 0 {
		return fmt.Errorf("vrrp: address count 0: %w", ErrMalformed)
	}
	var w int
	switch len(b) - HeaderLen {
	case 4 * n:
		w = 4
	case 16 * n:
		w = 16
	default:
		if len(b) < HeaderLen+4*n {
			return fmt.Errorf("vrrp: %d bytes, too short for %d addresses: %w", len(b), n, io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("vrrp: %d bytes fit neither %d IPv4 (%d bytes) nor %d IPv6 addresses (%d bytes): %w",
			len(b), n, HeaderLen+4*n, n, HeaderLen+16*n, ErrMalformed)
	}
	if w == 16 {
		for p := b[HeaderLen:]; len(p) > 0; p = p[w:] {
			if ip := netip.AddrFrom16([16]byte(p)); ip.Is4In6() {
				return fmt.Errorf("vrrp: IPv4-mapped address %v: %w", ip, ErrMalformed)
			}
		}
	}
	addrs := a.Addrs[:0]
	for p := b[HeaderLen:]; len(p) > 0; p = p[w:] {
		ip, _ := netip.AddrFromSlice(p[:w])
		addrs = append(addrs, ip)
	}
	*a = Advertisement{
		Version:           b[0] >> 4,
		Type:              b[0] & 0x0f,
		VRID:              b[1],
		Priority:          b[2],
		Reserved:          b[4] >> 4,
		MaxAdvertInterval: binary.BigEndian.Uint16(b[4:6]) & MaxInterval,
		Checksum:          binary.BigEndian.Uint16(b[6:8]),
		Addrs:             addrs,
	}
	return nil
}
