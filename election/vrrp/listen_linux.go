//go:build linux

package vrrp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/hakit/hakit"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Listen opens a raw IP socket of protocol 112 on ifi, in the network
// namespace of the calling thread, and returns it as a Conn. The socket is
// bound to the interface (SO_BINDTODEVICE); it joins the VRRP group
// (224.0.0.18 or ff02::12) unless cfg.NoJoin; it sends with TTL or hop
// limit 255 (multicast and unicast), IPv4 precedence "network control",
// from cfg.Source, with its own multicast not looped back; and it reads the
// TTL or hop limit and the destination of every packet (IP_RECVTTL and
// IP_PKTINFO, IPV6_RECVHOPLIMIT and IPV6_RECVPKTINFO), which the Machine
// checks. Checksums are the Machine's and the Driver's: the kernel
// computes none. It needs CAP_NET_RAW (and CAP_NET_ADMIN for the binding).
func Listen(ifi *net.Interface, cfg *ListenConfig) (*IPConn, error) {
	if ifi == nil {
		return nil, fmt.Errorf("vrrp: listen: nil interface: %w", hakit.ErrConfig)
	}
	if cfg == nil {
		cfg = &ListenConfig{}
	}
	src := cfg.Source.WithZone("")
	if !src.IsValid() {
		var err error
		if src, err = interfaceSource(ifi, cfg.IPv6); err != nil {
			return nil, err
		}
	}
	if src.Is6() != cfg.IPv6 || src.Is4In6() {
		return nil, fmt.Errorf("vrrp: listen on %s: source %v is not of the family asked for: %w", ifi.Name, src, hakit.ErrConfig)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name)
		}); err != nil {
			return err
		}
		return serr
	}}
	network, wildcard := "ip4:112", "0.0.0.0"
	if cfg.IPv6 {
		network, wildcard = "ip6:112", "::"
	}
	pc, err := lc.ListenPacket(context.Background(), network, wildcard)
	if err != nil {
		return nil, fmt.Errorf("vrrp: listen on %s: %w", ifi.Name, err)
	}
	var sys sysConn
	if cfg.IPv6 {
		sys, err = setup6(pc, ifi, !cfg.NoJoin)
	} else {
		sys, err = setup4(pc, ifi, !cfg.NoJoin)
	}
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("vrrp: listen on %s: %w", ifi.Name, err)
	}
	return &IPConn{sys: sys, source: src}, nil
}

// interfaceSource returns ifi's first IPv4 address, or its first
// link-local IPv6 address.
func interfaceSource(ifi *net.Interface, v6 bool) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: listen on %s: addresses: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !v6 && ip.Is4() || v6 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	what := "IPv4 address"
	if v6 {
		what = "link-local IPv6 address"
	}
	return netip.Addr{}, fmt.Errorf("vrrp: listen on %s: the interface has no %s to send from: %w", ifi.Name, what, hakit.ErrConfig)
}

// rawConn is the sysConn of both families: the family's x/net PacketConn
// behind two small functions.
type rawConn struct {
	ifi   *net.Interface
	read  func(b []byte) (n int, h rxHeader, from net.Addr, err error)
	write func(b []byte, src, dst netip.Addr) error
	shut  func() error
}

// rxHeader is what the control messages of a received packet said.
type rxHeader struct {
	ttl, ifindex int
	dst          net.IP
}

func (c *rawConn) readFrom(b []byte) (Packet, error) {
	for {
		n, h, from, err := c.read(b)
		if err != nil {
			return Packet{}, err
		}
		if h.ifindex != 0 && h.ifindex != c.ifi.Index {
			continue // not ours (the socket is bound, so this is rare)
		}
		p := Packet{Data: b[:n], TTL: uint8(h.ttl)}
		if a, ok := from.(*net.IPAddr); ok {
			p.Src, _ = netip.AddrFromSlice(a.IP)
			p.Src = p.Src.Unmap()
		}
		p.Dst, _ = netip.AddrFromSlice(h.dst)
		p.Dst = p.Dst.Unmap()
		return p, nil
	}
}

func (c *rawConn) writeTo(b []byte, src, dst netip.Addr) error { return c.write(b, src, dst) }

func (c *rawConn) close() error { return c.shut() }

// inOrder runs steps until one fails.
func inOrder(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func setup4(pc net.PacketConn, ifi *net.Interface, join bool) (*rawConn, error) {
	p := ipv4.NewPacketConn(pc)
	err := inOrder(
		func() error { return p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true) },
		func() error { return p.SetMulticastTTL(255) },
		func() error { return p.SetTTL(255) },
		func() error { return p.SetTOS(0xc0) },
		func() error { return p.SetMulticastLoopback(false) },
		func() error { return p.SetMulticastInterface(ifi) },
		func() error {
			if !join {
				return nil
			}
			return p.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv4.AsSlice()})
		},
	)
	if err != nil {
		return nil, err
	}
	return &rawConn{
		ifi: ifi,
		read: func(b []byte) (int, rxHeader, net.Addr, error) {
			n, cm, from, err := p.ReadFrom(b)
			var h rxHeader
			if cm != nil {
				h = rxHeader{ttl: cm.TTL, ifindex: cm.IfIndex, dst: cm.Dst}
			}
			return n, h, from, err
		},
		write: func(b []byte, src, dst netip.Addr) error {
			cm := &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: ifi.Index}
			_, err := p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
			return err
		},
		shut: p.Close,
	}, nil
}

func setup6(pc net.PacketConn, ifi *net.Interface, join bool) (*rawConn, error) {
	p := ipv6.NewPacketConn(pc)
	err := inOrder(
		func() error { return p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true) },
		func() error { return p.SetMulticastHopLimit(255) },
		func() error { return p.SetHopLimit(255) },
		func() error { return p.SetMulticastLoopback(false) },
		func() error { return p.SetMulticastInterface(ifi) },
		func() error {
			if !join {
				return nil
			}
			return p.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv6.AsSlice()})
		},
	)
	if err != nil {
		return nil, err
	}
	return &rawConn{
		ifi: ifi,
		read: func(b []byte) (int, rxHeader, net.Addr, error) {
			n, cm, from, err := p.ReadFrom(b)
			var h rxHeader
			if cm != nil {
				h = rxHeader{ttl: cm.HopLimit, ifindex: cm.IfIndex, dst: cm.Dst}
			}
			return n, h, from, err
		},
		// No zone on the destination: the socket is bound to the
		// interface, which scopes link-local destinations, and a zone name
		// would be looked up in the namespace of the calling thread, which
		// need not be the socket's.
		write: func(b []byte, src, dst netip.Addr) error {
			cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: ifi.Index}
			_, err := p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
			return err
		},
		shut: p.Close,
	}, nil
}
