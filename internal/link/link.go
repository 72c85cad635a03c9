// Package link builds the link-layer frames that several hakit packages
// send (ARP requests and replies, IPv6 neighbour discovery inside an IPv6
// header), the ICMPv6 checksum that checks them, and, on Linux, the packet
// sockets and interface lookups they share.
package link

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// EthernetHeaderLen is the length of an untagged Ethernet II header.
const EthernetHeaderLen = 14

// IPv6HeaderLen is the length of an IPv6 header without extensions.
const IPv6HeaderLen = 40

// protoICMPv6 is the IPv6 next-header value of ICMPv6.
const protoICMPv6 = 58

// Broadcast is the Ethernet broadcast address.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// zeroMAC is the target hardware address of an ARP request.
var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

// ARP returns an Ethernet frame to dst from senderMAC carrying an ARP packet
// of operation op from (senderMAC, senderIP) about (targetMAC, targetIP).
func ARP(op arp.Operation, dst, senderMAC net.HardwareAddr, senderIP netip.Addr, targetMAC net.HardwareAddr, targetIP netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(op, senderMAC, senderIP, targetMAC, targetIP)
	if err != nil {
		return nil, err
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	f := ethernet.Frame{Destination: dst, Source: senderMAC, EtherType: ethernet.EtherTypeARP, Payload: pb}
	return f.MarshalBinary()
}

// ARPRequest returns an Ethernet frame carrying a broadcast ARP request from
// mac and src (0.0.0.0 makes it an RFC 5227 probe) for target.
func ARPRequest(mac net.HardwareAddr, src, target netip.Addr) ([]byte, error) {
	return ARP(arp.OperationRequest, Broadcast, mac, src, zeroMAC, target)
}

// NeighbourSolicitation returns an Ethernet frame carrying an IPv6
// neighbour solicitation from mac and src for target, sent to target's
// solicited-node multicast group. From the unspecified address (no address
// of our own yet) it carries no source link-layer option, as RFC 4861
// requires.
func NeighbourSolicitation(mac net.HardwareAddr, src, target netip.Addr) ([]byte, error) {
	dst, err := ndp.SolicitedNodeMulticast(target)
	if err != nil {
		return nil, err
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: target}
	if !src.IsUnspecified() {
		ns.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac}}
	}
	return NDP(ns, mac, MulticastMAC(dst), src, dst)
}

// NDP returns an Ethernet frame from mac to dstMAC carrying the neighbour
// discovery message m in an IPv6 packet from src to dst.
func NDP(m ndp.Message, mac, dstMAC net.HardwareAddr, src, dst netip.Addr) ([]byte, error) {
	icmp, err := ndp.MarshalMessageChecksum(m, src, dst)
	if err != nil {
		return nil, err
	}
	f := ethernet.Frame{
		Destination: dstMAC,
		Source:      mac,
		EtherType:   ethernet.EtherTypeIPv6,
		Payload:     AppendIPv6(make([]byte, 0, IPv6HeaderLen+len(icmp)), src, dst, icmp),
	}
	return f.MarshalBinary()
}

// MulticastMAC returns the Ethernet address of the IPv6 multicast group a
// (RFC 2464 section 7): 33:33 and the group's last four bytes.
func MulticastMAC(a netip.Addr) net.HardwareAddr {
	d := a.As16()
	return net.HardwareAddr{0x33, 0x33, d[12], d[13], d[14], d[15]}
}

// AppendIPv6 appends to b an IPv6 packet from src to dst with hop limit 255
// (neighbour discovery requires it, RFC 4861 section 7.1) carrying the
// ICMPv6 message icmp. The packet sockets hakit sends on have no kernel to
// write the header.
func AppendIPv6(b []byte, src, dst netip.Addr, icmp []byte) []byte {
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow label 0
	b = binary.BigEndian.AppendUint16(b, uint16(len(icmp)))
	b = append(b, protoICMPv6, 255)
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	return append(b, icmp...)
}

// ICMPv6Checksum returns the Internet checksum of the IPv6 pseudo-header
// (RFC 8200 section 8.1) and the ICMPv6 message msg, folded and
// complemented: 0 for a message whose checksum field is right.
func ICMPv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	sum += uint32(len(msg)) + protoICMPv6
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// Addrs returns the addresses of ifi, IPv4 ones unmapped, without zones.
func Addrs(ifi *net.Interface) ([]netip.Addr, error) {
	as, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}
