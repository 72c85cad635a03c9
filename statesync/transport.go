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

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/link"
	"github.com/hakit/hakit/internal/rxqovfl"
)

// Transport carries sync datagrams between this unit and its peers. It is
// net.PacketConn-shaped: ReadFrom returns one whole datagram from a peer,
// WriteTo sends one to the peer at addr (nil: the transport's only peer).
// EthernetTransport and UDPTransport implement it, for one peer or
// several; so does a connected *net.UDPConn, for one.
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
// 0xC14C), then the datagram. Frames of another EtherType, or not from a
// peer's MAC, are ignored and counted; Ethernet padding is harmless since
// the datagram header carries its length.
type EthernetTransport struct {
	pc        net.PacketConn
	src       net.HardwareAddr
	peers     []net.HardwareAddr
	addrs     []*packet.Addr // of peers, for WriteTo and ReadFrom
	any       bool           // a multicast or broadcast peer: frames from any source
	etherType uint16

	wmu  sync.Mutex
	wbuf []byte
	rmu  sync.Mutex
	rbuf []byte

	short, otherType, otherPeer atomic.Uint64
}

// NewEthernetTransport returns a transport over pc sending frames from src
// to dst (the peer's MAC; a multicast or broadcast dst accepts frames from
// any source) with the given EtherType (0 means EtherType). More peers
// may follow dst: WriteTo then sends to the one its addr (a *packet.Addr)
// names, and frames from any of them are read.
func NewEthernetTransport(pc net.PacketConn, src, dst net.HardwareAddr, etherType uint16, more ...net.HardwareAddr) *EthernetTransport {
	if etherType == 0 {
		etherType = EtherType
	}
	if c, ok := pc.(*packet.Conn); ok {
		pc = countKernelDrops(c) // drops.go
	}
	t := &EthernetTransport{pc: pc, src: src, etherType: etherType, rbuf: make([]byte, 65536)}
	for _, mac := range append([]net.HardwareAddr{dst}, more...) {
		t.peers = append(t.peers, mac)
		t.addrs = append(t.addrs, &packet.Addr{HardwareAddr: mac})
		t.any = t.any || len(mac) > 0 && mac[0]&1 != 0
	}
	return t
}

// Stats returns the counters of ignored frames.
func (t *EthernetTransport) Stats() EthernetStats {
	return EthernetStats{Short: t.short.Load(), OtherType: t.otherType.Load(), OtherPeer: t.otherPeer.Load()}
}

// WriteTo sends b in one frame to the peer addr names (a *packet.Addr),
// or to the first peer when addr is nil.
func (t *EthernetTransport) WriteTo(b []byte, addr net.Addr) (int, error) {
	dst, to := t.peers[0], net.Addr(t.addrs[0])
	if a, ok := addr.(*packet.Addr); ok {
		dst, to = a.HardwareAddr, a
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	f := append(t.wbuf[:0], dst...)
	f = append(f, t.src...)
	f = binary.BigEndian.AppendUint16(f, t.etherType)
	f = append(f, b...)
	t.wbuf = f
	if _, err := t.pc.WriteTo(f, to); err != nil {
		return 0, err
	}
	return len(b), nil
}

// payload returns the datagram of frame f and the address of its peer, or
// nil if f is to be ignored.
func (t *EthernetTransport) payload(f []byte) ([]byte, net.Addr) {
	if len(f) < 14 {
		t.short.Add(1)
		return nil, nil
	}
	if binary.BigEndian.Uint16(f[12:14]) != t.etherType {
		t.otherType.Add(1)
		return nil, nil
	}
	for i, mac := range t.peers {
		if bytes.Equal(f[6:12], mac) {
			return f[14:], t.addrs[i]
		}
	}
	if t.any {
		return f[14:], t.addrs[0]
	}
	t.otherPeer.Add(1)
	return nil, nil
}

// ReadFrom reads the next datagram from a peer into b.
func (t *EthernetTransport) ReadFrom(b []byte) (int, net.Addr, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	for {
		n, _, err := t.pc.ReadFrom(t.rbuf)
		if err != nil {
			return 0, nil, err
		}
		if p, from := t.payload(t.rbuf[:n]); p != nil {
			return copy(b, p), from, nil
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
			if p, _ := t.payload(frame); p != nil {
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

// UDPTransport carries datagrams in unicast UDP to its peers, for networks
// without raw Ethernet (clouds). Datagrams from other sources are ignored
// and counted.
type UDPTransport struct {
	conn   *net.UDPConn
	peers  []netip.AddrPort
	addrs  []*net.UDPAddr // of peers, for WriteTo and ReadFrom
	other  atomic.Uint64
	kernel rxqovfl.Counter // the kernel's drops
}

// ListenUDP opens a UDP socket on local and returns a transport to peers
// (at least one). It asks for 4 MB socket buffers (the kernel caps them at
// net.core.rmem_max and wmem_max), since a bulk sync sends a window of
// datagrams in a burst.
func ListenUDP(local netip.AddrPort, peers ...netip.AddrPort) (*UDPTransport, error) {
	if len(peers) == 0 {
		return nil, fmt.Errorf("statesync: listen UDP on %v: no peer: %w", local, hakit.ErrConfig)
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("statesync: %w", err)
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	return NewUDPTransport(c, peers[0], peers[1:]...), nil
}

// NewUDPTransport returns a transport over conn to peer, and the more
// peers given: WriteTo then sends to the one its addr (a *net.UDPAddr)
// names, and datagrams from any of them are read.
func NewUDPTransport(conn *net.UDPConn, peer netip.AddrPort, more ...netip.AddrPort) *UDPTransport {
	t := &UDPTransport{conn: conn}
	t.kernel.Enable(conn)
	for _, p := range append([]netip.AddrPort{peer}, more...) {
		p = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
		t.peers = append(t.peers, p)
		t.addrs = append(t.addrs, net.UDPAddrFromAddrPort(p))
	}
	return t
}

// LocalAddr returns the socket's address.
func (t *UDPTransport) LocalAddr() netip.AddrPort {
	return t.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Ignored returns the number of datagrams from other sources.
func (t *UDPTransport) Ignored() uint64 { return t.other.Load() }

// WriteTo sends b to the peer addr names (a *net.UDPAddr), or to the
// first peer when addr is nil.
func (t *UDPTransport) WriteTo(b []byte, addr net.Addr) (int, error) {
	to := t.peers[0]
	if a, ok := addr.(*net.UDPAddr); ok {
		to = a.AddrPort()
	}
	return t.conn.WriteToUDPAddrPort(b, to)
}

// ReadFrom reads the next datagram from a peer into b.
func (t *UDPTransport) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := t.kernel.Read(t.conn, b)
		if err != nil {
			return 0, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		for i, p := range t.peers {
			if p == from {
				return n, t.addrs[i], nil
			}
		}
		t.other.Add(1)
	}
}

// Close closes the socket.
func (t *UDPTransport) Close() error { return t.conn.Close() }

var (
	_ Transport     = (*EthernetTransport)(nil)
	_ PushTransport = (*EthernetTransport)(nil)
	_ Transport     = (*UDPTransport)(nil)
)
