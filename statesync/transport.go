package statesync

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mdlayher/packet"

	"github.com/hakit/hakit/internal/link"
)

// Transport carries sync datagrams between this unit and one peer. It is
// net.PacketConn-shaped: ReadFrom returns one whole datagram from the peer,
// WriteTo sends one to the peer (addr may be nil: a transport knows its
// peer). EthernetTransport and UDPTransport implement it; so does a
// connected *net.UDPConn.
type Transport interface {
	ReadFrom(b []byte) (n int, addr net.Addr, err error)
	WriteTo(b []byte, addr net.Addr) (n int, err error)
	Close() error
}

// PushTransport is implemented by transports that can deliver datagrams by
// calling a handler instead of through ReadFrom (the simulated segment on a
// simulated clock). A Driver uses it when available.
type PushTransport interface {
	Transport
	// SetHandler makes the transport call h with each datagram received
	// (h must not keep b); nil returns to ReadFrom.
	SetHandler(h func(b []byte))
}

// EthernetStats counts the frames an EthernetTransport ignored.
type EthernetStats struct {
	Short, OtherType, OtherPeer uint64
}

// EthernetTransport carries datagrams in raw Ethernet frames over a
// net.PacketConn that reads and writes whole frames: an AF_PACKET SOCK_RAW
// socket (github.com/mdlayher/packet) or a simulated segment's port. Each
// frame is destination MAC, source MAC, EtherType (EtherType by default,
// 0xC14C), then the datagram. Frames of another EtherType, or not from the
// peer's MAC, are ignored and counted; Ethernet padding is harmless since
// the datagram header carries its length.
type EthernetTransport struct {
	pc        net.PacketConn
	src, dst  net.HardwareAddr
	etherType uint16
	addr      net.Addr

	wmu  sync.Mutex
	wbuf []byte
	rmu  sync.Mutex
	rbuf []byte

	short, otherType, otherPeer atomic.Uint64
}

// NewEthernetTransport returns a transport over pc sending frames from src
// to dst (the peer's MAC; a multicast or broadcast dst accepts frames from
// any source) with the given EtherType (0 means EtherType).
func NewEthernetTransport(pc net.PacketConn, src, dst net.HardwareAddr, etherType uint16) *EthernetTransport {
	if etherType == 0 {
		etherType = EtherType
	}
	return &EthernetTransport{
		pc: pc, src: src, dst: dst, etherType: etherType,
		addr: &packet.Addr{HardwareAddr: dst},
		rbuf: make([]byte, 65536),
	}
}

// Stats returns the counters of ignored frames.
func (t *EthernetTransport) Stats() EthernetStats {
	return EthernetStats{Short: t.short.Load(), OtherType: t.otherType.Load(), OtherPeer: t.otherPeer.Load()}
}

// WriteTo sends b to the peer in one frame; addr is ignored.
func (t *EthernetTransport) WriteTo(b []byte, _ net.Addr) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	f := append(t.wbuf[:0], t.dst...)
	f = append(f, t.src...)
	f = binary.BigEndian.AppendUint16(f, t.etherType)
	f = append(f, b...)
	t.wbuf = f
	if _, err := t.pc.WriteTo(f, t.addr); err != nil {
		return 0, err
	}
	return len(b), nil
}

// payload returns the datagram of frame f, or nil if f is to be ignored.
func (t *EthernetTransport) payload(f []byte) []byte {
	if len(f) < 14 {
		t.short.Add(1)
		return nil
	}
	if binary.BigEndian.Uint16(f[12:14]) != t.etherType {
		t.otherType.Add(1)
		return nil
	}
	if t.dst[0]&1 == 0 && !bytes.Equal(f[6:12], t.dst) {
		t.otherPeer.Add(1)
		return nil
	}
	return f[14:]
}

// ReadFrom reads the next datagram from the peer into b.
func (t *EthernetTransport) ReadFrom(b []byte) (int, net.Addr, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	for {
		n, _, err := t.pc.ReadFrom(t.rbuf)
		if err != nil {
			return 0, nil, err
		}
		if p := t.payload(t.rbuf[:n]); p != nil {
			return copy(b, p), t.addr, nil
		}
	}
}

// SetHandler delivers datagrams to h when the underlying conn supports
// handlers (a simulated port); otherwise it panics, as that is a mistake in
// the program's setup.
func (t *EthernetTransport) SetHandler(h func(b []byte)) {
	var fh func([]byte)
	if h != nil {
		fh = func(frame []byte) {
			if p := t.payload(frame); p != nil {
				h(p)
			}
		}
	}
	if !link.SetHandler(t.pc, fh) {
		panic(fmt.Sprintf("statesync: %T has no SetHandler", t.pc))
	}
}

// CanPush reports whether SetHandler is supported.
func (t *EthernetTransport) CanPush() bool { return link.CanPush(t.pc) }

// Close closes the underlying conn.
func (t *EthernetTransport) Close() error { return t.pc.Close() }

// UDPTransport carries datagrams in unicast UDP to one peer, for networks
// without raw Ethernet (clouds). Datagrams from other sources are ignored
// and counted.
type UDPTransport struct {
	conn  *net.UDPConn
	peer  netip.AddrPort
	addr  *net.UDPAddr
	other atomic.Uint64
}

// ListenUDP opens a UDP socket on local and returns a transport to peer.
// It asks for 4 MB socket buffers (the kernel caps them at
// net.core.rmem_max and wmem_max), since a bulk sync sends a window of
// datagrams in a burst.
func ListenUDP(local, peer netip.AddrPort) (*UDPTransport, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("statesync: %w", err)
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	return NewUDPTransport(c, peer), nil
}

// NewUDPTransport returns a transport over conn to peer.
func NewUDPTransport(conn *net.UDPConn, peer netip.AddrPort) *UDPTransport {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	return &UDPTransport{conn: conn, peer: peer, addr: net.UDPAddrFromAddrPort(peer)}
}

// LocalAddr returns the socket's address.
func (t *UDPTransport) LocalAddr() netip.AddrPort {
	return t.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Ignored returns the number of datagrams from other sources.
func (t *UDPTransport) Ignored() uint64 { return t.other.Load() }

// WriteTo sends b to the peer; addr is ignored.
func (t *UDPTransport) WriteTo(b []byte, _ net.Addr) (int, error) {
	return t.conn.WriteToUDPAddrPort(b, t.peer)
}

// ReadFrom reads the next datagram from the peer into b.
func (t *UDPTransport) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := t.conn.ReadFromUDPAddrPort(b)
		if err != nil {
			return 0, nil, err
		}
		if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != t.peer {
			t.other.Add(1)
			continue
		}
		return n, t.addr, nil
	}
}

// Close closes the socket.
func (t *UDPTransport) Close() error { return t.conn.Close() }

var (
	_ Transport     = (*EthernetTransport)(nil)
	_ PushTransport = (*EthernetTransport)(nil)
	_ Transport     = (*UDPTransport)(nil)
)
