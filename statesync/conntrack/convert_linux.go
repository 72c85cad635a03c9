package conntrack

import (
	"fmt"
	"net/netip"
	"time"

	ct "github.com/ti-mo/conntrack"

	"github.com/hakit/hakit/statesync"
)

// tcpBeLiberal is IP_CT_TCP_FLAG_BE_LIBERAL (nf_conntrack_tcp.h); on the
// wire struct nf_ct_tcp_flags is {flags, mask}, which ti-mo/conntrack sends
// as a big-endian uint16.
const tcpBeLiberal = 0x08

// creatable are the status bits ctnetlink lets user space set on a new
// entry, besides IPS_CONFIRMED (statusConfirmed) which must be sent as it
// is always set.
const (
	creatable       = uint32(ct.StatusSeenReply | ct.StatusAssured | ct.StatusFixedTimeout)
	statusConfirmed = uint32(ct.StatusConfirmed)
)

// endpoints returns the source and destination of t as AddrPorts in the
// key's convention (ICMP: identifier and type<<8|code as ports).
func endpoints(t ct.Tuple) (src, dst netip.AddrPort) {
	sp, dp := t.Proto.SourcePort, t.Proto.DestinationPort
	if isICMP(t.Proto.Protocol) {
		sp, dp = t.Proto.ICMPID, uint16(t.Proto.ICMPType)<<8|uint16(t.Proto.ICMPCode)
	}
	return netip.AddrPortFrom(t.IP.SourceAddress.Unmap(), sp),
		netip.AddrPortFrom(t.IP.DestinationAddress.Unmap(), dp)
}

func validTuple(t ct.Tuple) bool {
	s, d := t.IP.SourceAddress, t.IP.DestinationAddress
	return s.IsValid() && d.IsValid() && s.Is4() == d.Is4()
}

// FlowToSession converts a kernel conntrack flow to a session, with
// Expires computed from the flow's timeout and now. It returns an error
// wrapping ErrUnsupportedFlow for flows a session cannot represent: protocols
// other than TCP, UDP, UDP-Lite, SCTP, DCCP, ICMP and ICMPv6, templates,
// untracked entries, and tuples that are missing or mix address families.
// Version is left 0 (the table sets it).
func FlowToSession(f ct.Flow, now time.Time) (statesync.Session, error) {
	var s statesync.Session
	o := f.TupleOrig
	p := o.Proto.Protocol
	switch {
	case f.Status&(ct.StatusTemplate|ct.StatusUntracked) != 0:
		return s, fmt.Errorf("conntrack: template or untracked entry: %w", ErrUnsupportedFlow)
	case !validTuple(o):
		return s, fmt.Errorf("conntrack: original tuple %v: %w", o, ErrUnsupportedFlow)
	case !hasPorts(p) && !isICMP(p):
		return s, fmt.Errorf("conntrack: protocol %d: %w", p, ErrUnsupportedFlow)
	}
	zone := f.Zone
	if zone == 0 {
		zone = o.Zone
	}
	src, dst := endpoints(o)
	s.Key = statesync.Key{Zone: zone, Proto: p, Src: src, Dst: dst}
	if r := f.TupleReply; validTuple(r) {
		if r.IP.SourceAddress.Is4() != o.IP.SourceAddress.Is4() {
			return s, fmt.Errorf("conntrack: reply tuple %v of another family: %w", r, ErrUnsupportedFlow)
		}
		rs, rd := endpoints(r)
		if isICMP(p) {
			// The reply's type differs from the query's: compare the
			// addresses and the identifier only.
			if rs.Addr() != dst.Addr() || rd.Addr() != src.Addr() || rs.Port() != src.Port() {
				s.ReplySrc, s.ReplyDst = rs, rd
			}
		} else if rs != dst || rd != src {
			s.ReplySrc, s.ReplyDst = rs, rd
		}
	}
	switch {
	case f.ProtoInfo.TCP != nil:
		s.State = f.ProtoInfo.TCP.State
	case f.ProtoInfo.SCTP != nil:
		s.State = f.ProtoInfo.SCTP.State
	case f.ProtoInfo.DCCP != nil:
		s.State = f.ProtoInfo.DCCP.State
	}
	s.Status = uint32(f.Status)
	if f.Timeout > 0 {
		s.Expires = statesync.Deadline(now.Add(time.Duration(f.Timeout) * time.Second))
	}
	s.Mark = f.Mark
	if len(f.Helper.Name) <= statesync.MaxHelperLen {
		s.Helper = f.Helper.Name
	}
	for i, a := range []ct.SequenceAdjust{f.SeqAdjOrig, f.SeqAdjReply} {
		s.SeqAdj[i] = statesync.SeqAdj{CorrectionPos: a.Position, Before: int32(a.OffsetBefore), After: int32(a.OffsetAfter)}
	}
	s.Packets = f.CountersOrig.Packets + f.CountersReply.Packets
	s.Bytes = f.CountersOrig.Bytes + f.CountersReply.Bytes
	return s, nil
}

func tuple(proto uint8, zone uint16, src, dst netip.AddrPort) ct.Tuple {
	t := ct.Tuple{
		IP:    ct.IPTuple{SourceAddress: src.Addr().Unmap(), DestinationAddress: dst.Addr().Unmap()},
		Proto: ct.ProtoTuple{Protocol: proto, SourcePort: src.Port(), DestinationPort: dst.Port()},
		Zone:  zone,
	}
	if isICMP(proto) {
		t.Proto.SourcePort, t.Proto.DestinationPort = 0, 0
		t.Proto.ICMPID = src.Port()
		t.Proto.ICMPType, t.Proto.ICMPCode = uint8(dst.Port()>>8), uint8(dst.Port())
		t.Proto.ICMPv4, t.Proto.ICMPv6 = proto == protoICMP, proto == protoICMPv6
	}
	return t
}

// SessionToFlow converts a session to the flow that creates it in the
// kernel, its timeout the time left until s.Expires (at least 1 s;
// defaultTimeout when s never expires). Only the status bits ctnetlink
// accepts on creation are kept, and TCP entries are marked "be liberal"
// (see the package doc). It returns an error wrapping ErrExpired when the
// deadline has passed and ErrUnsupportedFlow when the session cannot be a
// kernel entry.
func SessionToFlow(s statesync.Session, now time.Time, defaultTimeout time.Duration) (ct.Flow, error) {
	var f ct.Flow
	k := s.Key
	switch {
	case !hasPorts(k.Proto) && !isICMP(k.Proto):
		return f, fmt.Errorf("conntrack: protocol %d: %w", k.Proto, ErrUnsupportedFlow)
	case !k.Src.Addr().IsValid() || !k.Dst.Addr().IsValid() || k.Src.Addr().Unmap().Is4() != k.Dst.Addr().Unmap().Is4():
		return f, fmt.Errorf("conntrack: addresses %v, %v: %w", k.Src, k.Dst, ErrUnsupportedFlow)
	}
	rs, rd := s.Reply()
	if rs.Addr().Unmap().Is4() != k.Src.Addr().Unmap().Is4() || rd.Addr().Unmap().Is4() != k.Src.Addr().Unmap().Is4() {
		return f, fmt.Errorf("conntrack: reply %v, %v of another family: %w", rs, rd, ErrUnsupportedFlow)
	}
	if isICMP(k.Proto) {
		rt, ok := icmpReplyType(k.Proto, uint8(k.Dst.Port()>>8))
		if !ok {
			return f, fmt.Errorf("conntrack: ICMP type %d: %w", k.Dst.Port()>>8, ErrUnsupportedFlow)
		}
		if !s.NAT() {
			// The kernel keeps the identifier in the source slot of
			// both tuples and the reply's type in the destination's.
			rs = netip.AddrPortFrom(k.Dst.Addr(), k.Src.Port())
			rd = netip.AddrPortFrom(k.Src.Addr(), uint16(rt)<<8|k.Dst.Port()&0xff)
		}
	}
	timeout := defaultTimeout
	if s.Expires != 0 {
		timeout = time.Unix(int64(s.Expires), 0).Sub(now)
		if timeout <= 0 {
			return f, fmt.Errorf("conntrack: %v expired %v ago: %w", k, -timeout, ErrExpired)
		}
	}
	secs := (timeout + time.Second - 1) / time.Second
	f.Timeout = uint32(min(max(secs, 1), 1<<31-1))
	f.Zone = k.Zone
	f.TupleOrig = tuple(k.Proto, 0, k.Src, k.Dst)
	f.TupleReply = tuple(k.Proto, 0, rs, rd)
	// The kernel marks a created entry confirmed before applying the
	// status and refuses (EBUSY) a status without the bit.
	f.Status = ct.Status(s.Status&creatable | statusConfirmed)
	f.Mark = s.Mark
	f.Helper.Name = s.Helper
	for i, a := range s.SeqAdj {
		if a != (statesync.SeqAdj{}) {
			sa := ct.SequenceAdjust{Direction: i == 1, Position: a.CorrectionPos, OffsetBefore: uint32(a.Before), OffsetAfter: uint32(a.After)}
			if i == 0 {
				f.SeqAdjOrig = sa
			} else {
				f.SeqAdjReply = sa
			}
		}
	}
	switch k.Proto {
	case protoTCP:
		f.ProtoInfo.TCP = &ct.ProtoInfoTCP{
			State:         s.State,
			OriginalFlags: tcpBeLiberal<<8 | tcpBeLiberal,
			ReplyFlags:    tcpBeLiberal<<8 | tcpBeLiberal,
		}
	case protoSCTP:
		if s.State != 0 {
			f.ProtoInfo.SCTP = &ct.ProtoInfoSCTP{State: s.State}
		}
	case protoDCCP:
		if s.State != 0 {
			f.ProtoInfo.DCCP = &ct.ProtoInfoDCCP{State: s.State}
		}
	}
	return f, nil
}
