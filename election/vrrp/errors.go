package vrrp

import "errors"

// Sentinel errors wrapped by the errors this package returns; test with
// errors.Is. Every advertisement the Machine drops comes back as an error
// wrapping one of the ones below hakit.ErrConfig, and is counted in Counters.
var (
	// ErrVersion reports a message of a VRRP version other than 3.
	ErrVersion = errors.New("unsupported VRRP version")
	// ErrMalformed reports a message whose fields are inconsistent or out
	// of range: a length that fits no address count, no address, mixed
	// families, a zero advertisement interval.
	ErrMalformed = errors.New("malformed VRRP message")
	// ErrChecksum reports a message whose checksum matches no form.
	ErrChecksum = errors.New("bad VRRP checksum")
	// ErrTTL reports a message whose IPv4 TTL or IPv6 hop limit is not
	// 255 (RFC 9568 sections 5.1.1.3 and 5.1.2.3): it may come from off
	// the link.
	ErrTTL = errors.New("TTL or hop limit is not 255")
	// ErrType reports a message of a type other than ADVERTISEMENT.
	ErrType = errors.New("unknown VRRP packet type")
	// ErrVRID reports an advertisement for another virtual router: normal
	// on a LAN with several, and counted apart.
	ErrVRID = errors.New("advertisement for another virtual router")
	// ErrSource reports an advertisement from a source this instance does
	// not accept: its own address, or, with unicast peers, an address that
	// is not one of them.
	ErrSource = errors.New("advertisement from an unexpected source")
	// ErrClosed reports use of a closed Driver.
	ErrClosed = errors.New("driver closed")
)
