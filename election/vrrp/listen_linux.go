//go:build linux

package vrrp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

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
		return nil, fmt.Errorf("vrrp: listen: nil interface: %w", ErrConfig)
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
		return nil, fmt.Errorf("vrrp: listen on %s: source %v is not of the family asked for: %w", ifi.Name, src, ErrConfig)
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
	return netip.Addr{}, fmt.Errorf("vrrp: listen on %s: the interface has no %s to send from: %w", ifi.Name, what, ErrConfig)
}

type conn4 struct {
	p   *ipv4.PacketConn
	ifi *net.Interface
}

func setup4(pc net.PacketConn, ifi *net.Interface, join bool) (*conn4, error) {
	p := ipv4.NewPacketConn(pc)
	steps := []func() error{
		func() error { return p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true) },
		func() error { return p.SetMulticastTTL(255) },
		func() error { return p.SetTTL(255) },
		func() error { return p.SetTOS(0xc0) },
		func() error { return p.SetMulticastLoopback(false) },
		func() error { return p.SetMulticastInterface(ifi) },
	}
	if join {
		steps = append(steps, func() error { return p.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv4.AsSlice()}) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return &conn4{p: p, ifi: ifi}, nil
}

func (c *conn4) readFrom(b []byte) (Packet, error) {
	for {
		n, cm, from, err := c.p.ReadFrom(b)
		if err != nil {
			return Packet{}, err
		}
		p := Packet{Data: b[:n]}
		if a, ok := from.(*net.IPAddr); ok {
			p.Src, _ = netip.AddrFromSlice(a.IP)
			p.Src = p.Src.Unmap()
		}
		if cm != nil {
			if cm.IfIndex != 0 && cm.IfIndex != c.ifi.Index {
				continue // not ours (the socket is bound, so this is rare)
			}
			p.TTL = uint8(cm.TTL)
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
			p.Dst = p.Dst.Unmap()
		}
		return p, nil
	}
}

func (c *conn4) writeTo(b []byte, src, dst netip.Addr) error {
	cm := &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index}
	_, err := c.p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

func (c *conn4) close() error { return c.p.Close() }

type conn6 struct {
	p   *ipv6.PacketConn
	ifi *net.Interface
}

func setup6(pc net.PacketConn, ifi *net.Interface, join bool) (*conn6, error) {
	p := ipv6.NewPacketConn(pc)
	steps := []func() error{
		func() error {
			return p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		},
		func() error { return p.SetMulticastHopLimit(255) },
		func() error { return p.SetHopLimit(255) },
		func() error { return p.SetMulticastLoopback(false) },
		func() error { return p.SetMulticastInterface(ifi) },
	}
	if join {
		steps = append(steps, func() error { return p.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv6.AsSlice()}) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return &conn6{p: p, ifi: ifi}, nil
}

func (c *conn6) readFrom(b []byte) (Packet, error) {
	for {
		n, cm, from, err := c.p.ReadFrom(b)
		if err != nil {
			return Packet{}, err
		}
		p := Packet{Data: b[:n]}
		if a, ok := from.(*net.IPAddr); ok {
			p.Src, _ = netip.AddrFromSlice(a.IP)
		}
		if cm != nil {
			if cm.IfIndex != 0 && cm.IfIndex != c.ifi.Index {
				continue
			}
			p.TTL = uint8(cm.HopLimit)
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		return p, nil
	}
}

func (c *conn6) writeTo(b []byte, src, dst netip.Addr) error {
	cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index}
	// No zone: the socket is bound to the interface, which scopes
	// link-local destinations, and a zone name would be looked up in the
	// namespace of the calling thread, which need not be the socket's.
	_, err := c.p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

func (c *conn6) close() error { return c.p.Close() }
