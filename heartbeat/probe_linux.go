//go:build linux

package heartbeat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"unsafe"

	"github.com/hakit/hakit/internal/link"

	"github.com/hakit/hakit"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// NewProber opens an AF_PACKET socket on ifi that sends Early Interface
// Failure Detection probes and reads the answers: an ARP request for an IPv4
// target, an ICMPv6 neighbour solicitation for an IPv6 one.
//
// Requests are broadcast (ARP) or sent to the target's solicited-node
// multicast group (NDP), so a neighbour whose MAC changed still hears them.
// The sender addresses are the interface's MAC at the time of each probe (it
// follows a virtual MAC moved onto the interface), its first IPv4 address
// (0.0.0.0, an RFC 5227 probe, when it has none) and its link-local IPv6
// address (else its first IPv6 address, else ::), read when NewProber is
// called.
//
// ReadReply returns the sender of every ARP reply addressed to one of those
// IPv4 sources and the target of every solicited neighbour advertisement
// addressed to the IPv6 source, whoever asked: a reply from the peer unit's
// own address is reported like any other. Frames this host sent are never
// reported. The socket is opened in the network namespace of the calling
// thread and needs CAP_NET_RAW.
func NewProber(ifi *net.Interface) (Prober, error) {
	if ifi == nil {
		return nil, fmt.Errorf("heartbeat: prober: nil interface: %w", hakit.ErrConfig)
	}
	v4, v6, err := sourceAddrs(ifi)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: prober on %s: %w", ifi.Name, err)
	}
	filter, err := replyFilter()
	if err != nil {
		return nil, fmt.Errorf("heartbeat: prober on %s: %w", ifi.Name, err)
	}
	pc, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("heartbeat: prober on %s: %w", ifi.Name, err)
	}
	return &prober{ifi: ifi, pc: pc, v4: v4, v6: v6, rbuf: make([]byte, 1500)}, nil
}

// prober is the Linux Prober.
type prober struct {
	ifi    *net.Interface
	pc     *packet.Conn
	v4, v6 netip.Addr // sender protocol addresses

	rmu  sync.Mutex // serialises ReadReply's use of rbuf
	rbuf []byte
}

// Probe sends one ARP request (IPv4 target) or neighbour solicitation (IPv6
// target) to target.
func (p *prober) Probe(target netip.Addr) error {
	target = target.Unmap().WithZone("")
	if !target.IsValid() || target.IsUnspecified() || target.IsMulticast() {
		return fmt.Errorf("heartbeat: probe %s on %s: not a unicast address: %w", target, p.ifi.Name, hakit.ErrConfig)
	}
	mac := p.hardwareAddr()
	var frame []byte
	var err error
	if target.Is4() {
		frame, err = link.ARPRequest(mac, p.v4, target)
	} else {
		frame, err = link.NeighbourSolicitation(mac, p.v6, target)
	}
	if err != nil {
		return p.opError(target, err)
	}
	if _, err := p.pc.WriteTo(frame, &packet.Addr{HardwareAddr: frame[:6]}); err != nil {
		return p.opError(target, err)
	}
	return nil
}

// ReadReply blocks until a neighbour answers a probe and returns its address.
func (p *prober) ReadReply() (netip.Addr, error) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	for {
		n, _, err := p.pc.ReadFrom(p.rbuf)
		if err != nil {
			return netip.Addr{}, err // a *net.OpError
		}
		if a, ok := parseReply(p.rbuf[:n], p.v4, p.v6); ok {
			return a, nil
		}
	}
}

// Close closes the socket; a blocked ReadReply returns a *net.OpError that
// wraps net.ErrClosed.
func (p *prober) Close() error { return p.pc.Close() }

// opError returns the *net.OpError of a probe of target that failed.
func (p *prober) opError(target netip.Addr, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	return &net.OpError{Op: "probe", Net: "packet", Source: p.pc.LocalAddr(), Addr: &net.IPAddr{IP: target.AsSlice()}, Err: err}
}

// hardwareAddr returns the interface's current MAC, asked of the kernel
// through the socket (so in the socket's namespace, from any thread).
func (p *prober) hardwareAddr() net.HardwareAddr {
	mac := p.ifi.HardwareAddr
	rc, err := p.pc.SyscallConn()
	if err != nil {
		return mac
	}
	_ = rc.Control(func(fd uintptr) {
		// struct ifreq with ifr_hwaddr, a struct sockaddr.
		var req struct {
			name   [unix.IFNAMSIZ]byte
			family uint16
			data   [14]byte
			_      [8]byte
		}
		copy(req.name[:unix.IFNAMSIZ-1], p.ifi.Name)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.SIOCGIFHWADDR, uintptr(unsafe.Pointer(&req)))
		if errno == 0 && req.family == unix.ARPHRD_ETHER {
			mac = net.HardwareAddr(bytes.Clone(req.data[:6]))
		}
	})
	return mac
}

// sourceAddrs picks the probe sender addresses of ifi.
func sourceAddrs(ifi *net.Interface) (v4, v6 netip.Addr, err error) {
	addrs, err := link.Addrs(ifi)
	if err != nil {
		return netip.Addr{}, netip.Addr{}, err
	}
	v4, v6 = netip.IPv4Unspecified(), netip.IPv6Unspecified()
	var linkLocal netip.Addr
	for _, ip := range addrs {
		switch {
		case ip.Is4():
			if v4.IsUnspecified() {
				v4 = ip
			}
		case ip.IsLinkLocalUnicast():
			if !linkLocal.IsValid() {
				linkLocal = ip
			}
		default:
			if v6.IsUnspecified() {
				v6 = ip
			}
		}
	}
	if linkLocal.IsValid() {
		v6 = linkLocal
	}
	return v4, v6, nil
}

// replyFilter assembles the socket filter of NewProber: accept ARP replies
// and ICMPv6 neighbour advertisements (without extension headers) that were
// not sent by this host.
func replyFilter() ([]bpf.RawInstruction, error) {
	const (
		accept = 11
		drop   = 12
	)
	return bpf.Assemble([]bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_ARP, SkipFalse: 4 - 2},
		/* 2 */ bpf.LoadAbsolute{Off: 14 + 6, Size: 2}, // ARP operation
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(arp.OperationReply), SkipTrue: 9 - 4, SkipFalse: drop - 4},
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IPV6, SkipFalse: drop - 5},
		/* 5 */ bpf.LoadAbsolute{Off: 14 + 6, Size: 1}, // IPv6 next header
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_ICMPV6, SkipFalse: drop - 7},
		/* 7 */ bpf.LoadAbsolute{Off: 14 + 40, Size: 1}, // ICMPv6 type
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: icmpNeighbourAdvertisement, SkipFalse: drop - 9},
		/* 9 */ bpf.LoadExtension{Num: bpf.ExtType},
		/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: drop - 11},
		/* accept */ bpf.RetConstant{Val: 0xffff},
		/* drop */ bpf.RetConstant{Val: 0},
	})
}

const (
	icmpNeighbourSolicitation  = 135
	icmpNeighbourAdvertisement = 136
	ipv6HeaderLen              = link.IPv6HeaderLen
)

// parseReply returns the neighbour's address if frame is an ARP reply to v4
// or a valid solicited neighbour advertisement to v6.
func parseReply(frame []byte, v4, v6 netip.Addr) (netip.Addr, bool) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil {
		return netip.Addr{}, false
	}
	switch f.EtherType {
	case ethernet.EtherTypeARP:
		var p arp.Packet
		if err := p.UnmarshalBinary(f.Payload); err != nil {
			return netip.Addr{}, false
		}
		if p.Operation != arp.OperationReply || p.TargetIP != v4 || !p.SenderIP.Is4() ||
			p.SenderIP.IsUnspecified() || p.SenderIP.IsMulticast() {
			return netip.Addr{}, false
		}
		return p.SenderIP, true
	case ethernet.EtherTypeIPv6:
		return parseAdvertisement(f.Payload, v6)
	}
	return netip.Addr{}, false
}

// parseAdvertisement validates an IPv6 packet carrying a neighbour
// advertisement (RFC 4861 section 7.1.2) sent to v6 (or to all nodes, the
// answer to a solicitation from ::) and returns the advertised address.
func parseAdvertisement(b []byte, v6 netip.Addr) (netip.Addr, bool) {
	if len(b) < ipv6HeaderLen || b[0]>>4 != 6 || b[6] != unix.IPPROTO_ICMPV6 || b[7] != 255 {
		return netip.Addr{}, false
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if len(b) < ipv6HeaderLen+plen {
		return netip.Addr{}, false
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	icmp := b[ipv6HeaderLen : ipv6HeaderLen+plen]
	if len(icmp) < 4 || icmp[0] != icmpNeighbourAdvertisement || icmp[1] != 0 {
		return netip.Addr{}, false
	}
	allNodes := netip.IPv6LinkLocalAllNodes()
	if dst != v6 && !(v6.IsUnspecified() && dst == allNodes) {
		return netip.Addr{}, false
	}
	if link.ICMPv6Checksum(src, dst, icmp) != 0 {
		return netip.Addr{}, false
	}
	m, err := ndp.ParseMessage(icmp)
	if err != nil {
		return netip.Addr{}, false
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok || !na.Solicited || na.TargetAddress.IsMulticast() {
		return netip.Addr{}, false
	}
	return na.TargetAddress, true
}
