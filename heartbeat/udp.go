package heartbeat

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/rxqovfl"
)

// maxDatagram is the largest UDP payload ListenUDP reads.
const maxDatagram = 65535

// UDPConn is the Conn returned by ListenUDP: heartbeat frames in unicast UDP
// datagrams, for networks where the units share no layer 2 segment or where
// raw Ethernet and multicast are unavailable (clouds).
//
// WriteFrame sends one datagram to every peer; ReadFrame returns datagrams
// from the peers' addresses only. The Ethernet addresses given to
// WriteFrame are ignored.
type UDPConn struct {
	pc    *net.UDPConn
	peers []netip.AddrPort

	rmu  sync.Mutex // serialises ReadFrame's use of rbuf
	rbuf []byte

	foreign   atomic.Uint64
	truncated atomic.Uint64
	kernel    rxqovfl.Counter // the kernel's drops (KernelDrops)
}

// UDPStats counts what a UDPConn dropped.
type UDPStats struct {
	// Foreign counts datagrams from an address that is not a peer.
	Foreign uint64
	// Truncated counts datagrams longer than the buffer given to ReadFrame.
	Truncated uint64
}

var _ Conn = (*UDPConn)(nil)

// ListenUDP listens on laddr and returns a Conn that exchanges heartbeat
// frames with peers by unicast UDP. At least one peer is required. The Conn
// is a *UDPConn, whose Stats counts the datagrams it dropped.
//
// An unspecified laddr address listens on every local address; a zero port
// picks one. Datagrams are accepted from a peer's IP address whatever their
// source port (so a peer behind port translation is still heard); datagrams
// from any other address are dropped and counted in Stats. The heartbeat
// frame's own cluster ID and authentication still decide whether a datagram
// is believed.
func ListenUDP(laddr netip.AddrPort, peers ...netip.AddrPort) (Conn, error) {
	if len(peers) == 0 {
		return nil, fmt.Errorf("heartbeat: listen udp %s: no peers: %w", laddr, hakit.ErrConfig)
	}
	ps := make([]netip.AddrPort, 0, len(peers))
	for _, p := range peers {
		p = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
		if !p.Addr().IsValid() || p.Addr().IsUnspecified() || p.Port() == 0 {
			return nil, fmt.Errorf("heartbeat: listen udp %s: peer %s needs an address and a port: %w", laddr, p, hakit.ErrConfig)
		}
		ps = append(ps, p)
	}
	network := "udp"
	switch a := laddr.Addr(); {
	case a.Is4() || a.Is4In6():
		network = "udp4"
		laddr = netip.AddrPortFrom(a.Unmap(), laddr.Port())
	case a.Is6():
		network = "udp6"
	}
	var ua *net.UDPAddr
	if laddr.Addr().IsValid() || laddr.Port() != 0 {
		ua = net.UDPAddrFromAddrPort(laddr)
	}
	pc, err := net.ListenUDP(network, ua)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: listen udp: %w", err)
	}
	c := &UDPConn{pc: pc, peers: ps, rbuf: make([]byte, maxDatagram)}
	c.kernel.Enable(pc)
	return c, nil
}

// LocalAddr returns the address the connection listens on.
func (c *UDPConn) LocalAddr() netip.AddrPort {
	return c.pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// WriteFrame sends b to every peer. src and dst are ignored. It tries every
// peer; a failure is a *net.OpError, the one of the peer that failed, or
// for several peers one whose Err joins theirs.
func (c *UDPConn) WriteFrame(b []byte, src, dst net.HardwareAddr) error {
	var errs []error
	for _, p := range c.peers {
		if _, err := c.pc.WriteToUDPAddrPort(b, p); err != nil {
			errs = append(errs, err)
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return &net.OpError{Op: "write", Net: c.pc.LocalAddr().Network(), Source: c.pc.LocalAddr(), Err: errors.Join(errs...)}
}

// ReadFrame blocks until a datagram arrives from a peer, copies it into b and
// returns its length. A datagram longer than b is dropped and counted, not
// returned cut short.
func (c *UDPConn) ReadFrame(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		n, from, err := c.kernel.Read(c.pc, c.rbuf)
		if err != nil {
			return 0, err // a *net.OpError
		}
		if !c.isPeer(from.Addr().Unmap()) {
			c.foreign.Add(1)
			continue
		}
		if n > len(b) {
			c.truncated.Add(1)
			continue
		}
		return copy(b, c.rbuf[:n]), nil
	}
}

func (c *UDPConn) isPeer(a netip.Addr) bool {
	for _, p := range c.peers {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// Stats returns what the connection dropped so far.
func (c *UDPConn) Stats() UDPStats {
	return UDPStats{Foreign: c.foreign.Load(), Truncated: c.truncated.Load()}
}

// Close closes the socket; a blocked ReadFrame returns a *net.OpError that
// wraps net.ErrClosed.
func (c *UDPConn) Close() error {
	return c.pc.Close()
}
