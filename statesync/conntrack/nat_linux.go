package conntrack

import (
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"

	"github.com/hakit/hakit/statesync"
)

// ctnetlink attribute numbers (include/uapi/linux/netfilter/nfnetlink_conntrack.h)
// for the create message github.com/ti-mo/conntrack cannot send: one with
// CTA_NAT_SRC/CTA_NAT_DST.
const (
	ctaTupleOrig  = 1
	ctaTupleReply = 2
	ctaStatus     = 3
	ctaProtoInfo  = 4
	ctaNATSrc     = 6
	ctaTimeout    = 7
	ctaMark       = 8
	ctaNATDst     = 13
	ctaZone       = 18

	ctaTupleIP    = 1
	ctaTupleProto = 2

	ctaIPv4Src = 1
	ctaIPv4Dst = 2
	ctaIPv6Src = 3
	ctaIPv6Dst = 4

	ctaProtoNum       = 1
	ctaProtoSrcPort   = 2
	ctaProtoDstPort   = 3
	ctaProtoICMPID    = 4
	ctaProtoICMPType  = 5
	ctaProtoICMPCode  = 6
	ctaProtoICMPv6ID  = 7
	ctaProtoICMPv6Typ = 8
	ctaProtoICMPv6Cod = 9

	ctaProtoInfoTCP        = 1
	ctaProtoInfoTCPState   = 1
	ctaProtoInfoTCPWScaleO = 2
	ctaProtoInfoTCPWScaleR = 3
	ctaProtoInfoTCPFlagsO  = 4
	ctaProtoInfoTCPFlagsR  = 5
	ctaProtoInfoDCCP       = 2
	ctaProtoInfoDCCPState  = 1
	ctaProtoInfoSCTP       = 3
	ctaProtoInfoSCTPState  = 1

	ctaNATV4MinIP      = 1
	ctaNATV4MaxIP      = 2
	ctaNATProto        = 3
	ctaNATV6MinIP      = 4
	ctaNATV6MaxIP      = 5
	ctaProtoNATPortMin = 1
	ctaProtoNATPortMax = 2

	ipctnlMsgCtNew = 0 // IPCTNL_MSG_CT_NEW
)

// natBindings returns the NAT bindings that turn s's original tuple into
// its reply tuple: source NAT when the reply goes elsewhere than the
// original source, destination NAT when it comes from elsewhere than the
// original destination. Each is the single address and port to map to.
func natBindings(s *statesync.Session) (snat, dnat netip.AddrPort) {
	rs, rd := s.Reply()
	k := &s.Key
	if isICMP(k.Proto) {
		// The ports hold the ICMP identifier and type: map addresses.
		if rd.Addr() != k.Src.Addr() {
			snat = netip.AddrPortFrom(rd.Addr(), 0)
		}
		if rs.Addr() != k.Dst.Addr() {
			dnat = netip.AddrPortFrom(rs.Addr(), 0)
		}
		return snat, dnat
	}
	if rd != k.Src {
		snat = rd
	}
	if rs != k.Dst {
		dnat = rs
	}
	return snat, dnat
}

func be16(v uint16) []byte { return netfilter.Uint16Bytes(v) }
func be32(v uint32) []byte { return netfilter.Uint32Bytes(v) }

func tupleAttr(typ uint16, t ct.Tuple) netfilter.Attribute {
	ip := netfilter.Attribute{Type: ctaTupleIP, Nested: true}
	if t.IP.SourceAddress.Is4() {
		ip.Children = []netfilter.Attribute{
			{Type: ctaIPv4Src, Data: t.IP.SourceAddress.AsSlice()},
			{Type: ctaIPv4Dst, Data: t.IP.DestinationAddress.AsSlice()},
		}
	} else {
		ip.Children = []netfilter.Attribute{
			{Type: ctaIPv6Src, Data: t.IP.SourceAddress.AsSlice()},
			{Type: ctaIPv6Dst, Data: t.IP.DestinationAddress.AsSlice()},
		}
	}
	p := t.Proto
	proto := netfilter.Attribute{Type: ctaTupleProto, Nested: true,
		Children: []netfilter.Attribute{{Type: ctaProtoNum, Data: []byte{p.Protocol}}}}
	switch p.Protocol {
	case protoICMP:
		proto.Children = append(proto.Children,
			netfilter.Attribute{Type: ctaProtoICMPID, Data: be16(p.ICMPID)},
			netfilter.Attribute{Type: ctaProtoICMPType, Data: []byte{p.ICMPType}},
			netfilter.Attribute{Type: ctaProtoICMPCode, Data: []byte{p.ICMPCode}})
	case protoICMPv6:
		proto.Children = append(proto.Children,
			netfilter.Attribute{Type: ctaProtoICMPv6ID, Data: be16(p.ICMPID)},
			netfilter.Attribute{Type: ctaProtoICMPv6Typ, Data: []byte{p.ICMPType}},
			netfilter.Attribute{Type: ctaProtoICMPv6Cod, Data: []byte{p.ICMPCode}})
	default:
		proto.Children = append(proto.Children,
			netfilter.Attribute{Type: ctaProtoSrcPort, Data: be16(p.SourcePort)},
			netfilter.Attribute{Type: ctaProtoDstPort, Data: be16(p.DestinationPort)})
	}
	return netfilter.Attribute{Type: typ, Nested: true, Children: []netfilter.Attribute{ip, proto}}
}

func natAttr(typ uint16, to netip.AddrPort, ports bool) netfilter.Attribute {
	a := netfilter.Attribute{Type: typ, Nested: true}
	addr := to.Addr().Unmap()
	if addr.Is4() {
		a.Children = append(a.Children,
			netfilter.Attribute{Type: ctaNATV4MinIP, Data: addr.AsSlice()},
			netfilter.Attribute{Type: ctaNATV4MaxIP, Data: addr.AsSlice()})
	} else {
		a.Children = append(a.Children,
			netfilter.Attribute{Type: ctaNATV6MinIP, Data: addr.AsSlice()},
			netfilter.Attribute{Type: ctaNATV6MaxIP, Data: addr.AsSlice()})
	}
	if ports {
		a.Children = append(a.Children, netfilter.Attribute{Type: ctaNATProto, Nested: true,
			Children: []netfilter.Attribute{
				{Type: ctaProtoNATPortMin, Data: be16(to.Port())},
				{Type: ctaProtoNATPortMax, Data: be16(to.Port())},
			}})
	}
	return a
}

// natCreateMessage returns the ctnetlink message that creates f, the
// conversion of s, with the NAT bindings of s, so that the kernel
// translates the session's packets as the unit that created it did.
//
// The reply tuple sent is the reversed original: the kernel derives the
// translated one from the bindings, and sets the NAT status bits only when
// the bindings change the tuple it was given.
func natCreateMessage(s *statesync.Session, f ct.Flow) (netlink.Message, error) {
	plain := *s
	plain.ReplySrc, plain.ReplyDst = netip.AddrPort{}, netip.AddrPort{}
	pf, err := SessionToFlow(plain, time.Unix(0, 0), time.Second)
	if err != nil {
		return netlink.Message{}, err
	}
	attrs := []netfilter.Attribute{
		tupleAttr(ctaTupleOrig, f.TupleOrig),
		tupleAttr(ctaTupleReply, pf.TupleReply),
		{Type: ctaTimeout, Data: be32(f.Timeout)},
		{Type: ctaStatus, Data: be32(uint32(f.Status.Value))},
	}
	if f.Mark != 0 {
		attrs = append(attrs, netfilter.Attribute{Type: ctaMark, Data: be32(f.Mark)})
	}
	if f.Zone != 0 {
		attrs = append(attrs, netfilter.Attribute{Type: ctaZone, Data: be16(f.Zone)})
	}
	switch pi := f.ProtoInfo; {
	case pi.TCP != nil:
		attrs = append(attrs, netfilter.Attribute{Type: ctaProtoInfo, Nested: true, Children: []netfilter.Attribute{{
			Type: ctaProtoInfoTCP, Nested: true, Children: []netfilter.Attribute{
				{Type: ctaProtoInfoTCPState, Data: []byte{pi.TCP.State}},
				{Type: ctaProtoInfoTCPWScaleO, Data: []byte{pi.TCP.OriginalWindowScale}},
				{Type: ctaProtoInfoTCPWScaleR, Data: []byte{pi.TCP.ReplyWindowScale}},
				{Type: ctaProtoInfoTCPFlagsO, Data: be16(pi.TCP.OriginalFlags)},
				{Type: ctaProtoInfoTCPFlagsR, Data: be16(pi.TCP.ReplyFlags)},
			}}}})
	case pi.SCTP != nil:
		attrs = append(attrs, netfilter.Attribute{Type: ctaProtoInfo, Nested: true, Children: []netfilter.Attribute{{
			Type: ctaProtoInfoSCTP, Nested: true, Children: []netfilter.Attribute{
				{Type: ctaProtoInfoSCTPState, Data: []byte{pi.SCTP.State}},
			}}}})
	case pi.DCCP != nil:
		attrs = append(attrs, netfilter.Attribute{Type: ctaProtoInfo, Nested: true, Children: []netfilter.Attribute{{
			Type: ctaProtoInfoDCCP, Nested: true, Children: []netfilter.Attribute{
				{Type: ctaProtoInfoDCCPState, Data: []byte{pi.DCCP.State}},
			}}}})
	}
	snat, dnat := natBindings(s)
	ports := hasPorts(s.Key.Proto)
	if dnat.IsValid() {
		attrs = append(attrs, natAttr(ctaNATDst, dnat, ports))
	}
	if snat.IsValid() {
		attrs = append(attrs, natAttr(ctaNATSrc, snat, ports))
	}
	family := netfilter.ProtoIPv4
	if f.TupleOrig.IP.SourceAddress.Is6() {
		family = netfilter.ProtoIPv6
	}
	return netfilter.MarshalNetlink(netfilter.Header{
		SubsystemID: netfilter.NFSubsysCTNetlink,
		MessageType: ipctnlMsgCtNew,
		Family:      family,
		Flags:       netlink.Request | netlink.Acknowledge | netlink.Excl | netlink.Create,
	}, attrs)
}
