package vrrp

import "net/netip"

// ListenConfig configures Listen. A nil *ListenConfig means IPv4, the
// interface's first IPv4 address as the source, and the group joined.
type ListenConfig struct {
	// IPv6 selects IPv6 (group ff02::12); false selects IPv4 (224.0.0.18).
	IPv6 bool
	// Source is the address advertisements are sent from, and so
	// Config.Primary. Zero means the interface's first IPv4 address, or
	// its link-local IPv6 address.
	Source netip.Addr
	// NoJoin leaves the multicast group alone, for an instance that only
	// talks to unicast peers.
	NoJoin bool
}

// IPConn is a Conn on raw IP sockets, from Listen.
type IPConn struct {
	sys    sysConn
	source netip.Addr
}

// sysConn is the platform's side of an IPConn.
type sysConn interface {
	readFrom(b []byte) (Packet, error)
	writeTo(b []byte, src, dst netip.Addr) error
	close() error
}

// Source returns the address the IPConn sends from by default: put it in
// Config.Primary.
func (c *IPConn) Source() netip.Addr { return c.source }

// ReadFrom reads one VRRP message (see Conn). I/O errors are
// *net.OpError.
func (c *IPConn) ReadFrom(b []byte) (Packet, error) { return c.sys.readFrom(b) }

// WriteTo sends one VRRP message (see Conn). I/O errors are *net.OpError.
func (c *IPConn) WriteTo(b []byte, src, dst netip.Addr) error { return c.sys.writeTo(b, src, dst) }

// Close closes the sockets, leaving the group.
func (c *IPConn) Close() error { return c.sys.close() }

var _ Conn = (*IPConn)(nil)
