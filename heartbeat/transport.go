package heartbeat

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/hakit/hakit/internal/link"

	"github.com/hakit/hakit"

	"github.com/mdlayher/packet"
)

// Conn carries encoded heartbeat frames on one critical interface.
//
// A Conn is used by one reader goroutine and one writer at a time; Close may
// be called concurrently with both.
type Conn interface {
	// WriteFrame sends one encoded frame. On Ethernet, src and dst are the
	// link-layer addresses for the header; other transports ignore them.
	WriteFrame(b []byte, src, dst net.HardwareAddr) error
	// ReadFrame blocks until a frame arrives, copies it into b and returns its length.
	ReadFrame(b []byte) (int, error)
	// Close unblocks ReadFrame and releases the transport.
	Close() error
}

// Prober sends Early Interface Failure Detection probes on one interface.
type Prober interface {
	// Probe sends one ARP request (IPv4 target) or neighbour solicitation (IPv6 target).
	Probe(target netip.Addr) error
	// ReadReply blocks until a neighbour answers and returns the neighbour's address.
	ReadReply() (netip.Addr, error)
	// Close unblocks ReadReply and releases the prober.
	Close() error
}

// PushConn is a Conn that can also deliver frames by calling a handler
// instead of through ReadFrame: a simulated segment's port, on a simulated
// clock. A Driver uses the handler, and runs no reader goroutine for the
// Conn, when the Conn has one (a CanPush method, if present, reports true).
type PushConn interface {
	Conn
	// SetHandler makes the Conn call h with each frame received, as
	// ReadFrame would return it (h must not keep b); nil returns to
	// ReadFrame.
	SetHandler(h func(b []byte))
}

// PushProber is a Prober that can also deliver replies by calling a
// handler instead of through ReadReply; see PushConn.
type PushProber interface {
	Prober
	// SetHandler makes the Prober call h with the address of each
	// neighbour that answers; nil returns to ReadReply.
	SetHandler(h func(from netip.Addr))
}

// canPush reports whether x, a PushConn or PushProber, has a handler to
// offer (its CanPush method, if any, says so).
func canPush(x any) bool {
	if c, ok := x.(interface{ CanPush() bool }); ok {
		return c.CanPush()
	}
	return true
}

// NeighbourSource lists the neighbours already resolved on an interface.
type NeighbourSource interface {
	Neighbours(ifname string) ([]netip.Addr, error)
}

// NewEthernetConn returns a Conn over pc, a net.PacketConn that carries whole
// Ethernet frames (an AF_PACKET SOCK_RAW socket or a simulated segment port).
// It writes frames with the given EtherType and drops any other.
//
// WriteFrame prepends the 14-byte Ethernet header (dst, src, EtherType) and
// sends to dst; ReadFrame strips the header of a received frame and returns
// its payload, which may carry trailing padding up to the Ethernet minimum
// (UnmarshalBinary accepts zero padding). The Conn owns pc: Close closes it.
// When pc can deliver frames to a handler (a simulated segment's port), the
// Conn is a PushConn.
func NewEthernetConn(pc net.PacketConn, etherType uint16) Conn {
	return &ethernetConn{pc: pc, etherType: etherType}
}

type ethernetConn struct {
	pc        net.PacketConn
	etherType uint16

	wmu  sync.Mutex
	wbuf []byte
	rmu  sync.Mutex
	rbuf []byte
}

func (c *ethernetConn) WriteFrame(b []byte, src, dst net.HardwareAddr) error {
	if len(src) != 6 || len(dst) != 6 {
		return fmt.Errorf("heartbeat: ethernet addresses must be 6 bytes (src %d, dst %d): %w", len(src), len(dst), hakit.ErrConfig)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w := append(c.wbuf[:0], dst...)
	w = append(w, src...)
	w = binary.BigEndian.AppendUint16(w, c.etherType)
	w = append(w, b...)
	c.wbuf = w
	_, err := c.pc.WriteTo(w, &packet.Addr{HardwareAddr: dst})
	return err
}

func (c *ethernetConn) ReadFrame(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rbuf == nil {
		c.rbuf = make([]byte, 1<<16)
	}
	for {
		n, _, err := c.pc.ReadFrom(c.rbuf)
		if err != nil {
			return 0, err
		}
		if p := c.payload(c.rbuf[:n]); p != nil {
			return copy(b, p), nil
		}
		// not ours: dropped, as documented
	}
}

func (c *ethernetConn) Close() error { return c.pc.Close() }

// payload returns the heartbeat in frame f, or nil if f is not one.
func (c *ethernetConn) payload(f []byte) []byte {
	if len(f) < link.EthernetHeaderLen || binary.BigEndian.Uint16(f[12:14]) != c.etherType {
		return nil
	}
	return f[link.EthernetHeaderLen:]
}

// SetHandler delivers the heartbeats to h when pc supports handlers (see
// CanPush); otherwise it does nothing.
func (c *ethernetConn) SetHandler(h func(b []byte)) {
	if h == nil {
		link.SetHandler(c.pc, nil)
		return
	}
	link.SetHandler(c.pc, func(f []byte) {
		if p := c.payload(f); p != nil {
			h(p)
		}
	})
}

// CanPush reports whether pc supports handlers.
func (c *ethernetConn) CanPush() bool { return link.CanPush(c.pc) }
