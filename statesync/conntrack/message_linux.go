package conntrack

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/statesync"
)

// The standby writes its sessions with messages it encodes itself, because
// github.com/ti-mo/conntrack (v0.6.0) lacks three things the job needs:
//
//   - NAT bindings: its Flow has no field for CTA_NAT_SRC and CTA_NAT_DST
//     and Conn.Create never sends them, so an entry it creates is not
//     translated (the kernel applies NAT only to entries with bindings).
//   - Batches: Conn.Create, Update and Delete each send one request and
//     wait for its acknowledgement; here hundreds of requests go in one
//     sendmsg and only the last asks for an acknowledgement (the kernel
//     reports failures anyway), which is what makes a commit fast.
//   - Encoding without allocations: its marshalling builds a tree of
//     netfilter.Attribute values per message; these messages are appended
//     to one reused buffer.
//
// What is read (events, dumps, the replies to GET) is decoded with
// github.com/ti-mo/conntrack.
//
// The attribute numbers are those of include/uapi/linux/netfilter/
// nfnetlink_conntrack.h.
const (
	ctaTupleOrig  = 1
	ctaTupleReply = 2
	ctaStatus     = 3
	ctaProtoInfo  = 4
	ctaHelp       = 5 // nested: CTA_HELP_NAME (1), NUL-terminated
	ctaNATSrc     = 6
	ctaTimeout    = 7
	ctaMark       = 8
	ctaNATDst     = 13
	ctaSeqAdjOrig = 15 // nested: correction pos (1), offset before (2), after (3)
	ctaZone       = 18

	ctaTupleIP    = 1 // in a tuple
	ctaTupleProto = 2

	ctaIPv4Src = 1 // in CTA_TUPLE_IP
	ctaIPv6Src = 3

	ctaProtoNum    = 1 // in CTA_TUPLE_PROTO
	ctaProtoSrc    = 2
	ctaProtoDst    = 3
	ctaProtoICMPID = 4 // then type and code; ICMPv6: 7, 8, 9

	ctaProtoInfoTCP  = 1 // in CTA_PROTOINFO; each holds its state as 1
	ctaProtoInfoDCCP = 2
	ctaProtoInfoSCTP = 3

	ctaTCPFlagsOrig  = 4 // in CTA_PROTOINFO_TCP
	ctaTCPFlagsReply = 5

	ctaNATV4Min   = 1 // in CTA_NAT_*; the max address follows the min
	ctaNATV6Min   = 4
	ctaNATProto   = 3
	ctaNATPortMin = 1 // in CTA_NAT_PROTO; the max port is 2

	nfnlSubsysCT = 1                 // NFNL_SUBSYS_CTNETLINK
	msgCTNew     = nfnlSubsysCT << 8 // | IPCTNL_MSG_CT_NEW (0)
	msgCTGet     = nfnlSubsysCT<<8 | 1
	msgCTDelete  = nfnlSubsysCT<<8 | 2

	nlaNested = 0x8000 // NLA_F_NESTED
)

// msgBuf appends netlink messages to a reused buffer.
type msgBuf struct {
	b []byte
}

// begin starts a ctnetlink message and returns its offset for end.
func (m *msgBuf) begin(typ, flags uint16, seq uint32, family uint8) int {
	at := len(m.b)
	m.b = binary.NativeEndian.AppendUint32(m.b, 0) // length, set by end
	m.b = binary.NativeEndian.AppendUint16(m.b, typ)
	m.b = binary.NativeEndian.AppendUint16(m.b, flags|unix.NLM_F_REQUEST)
	m.b = binary.NativeEndian.AppendUint32(m.b, seq)
	m.b = binary.NativeEndian.AppendUint32(m.b, 0) // port ID: the kernel's
	m.b = append(m.b, family, 0, 0, 0)             // nfgenmsg: version 0, resource 0
	return at
}

// end sets the length of the message begun at at.
func (m *msgBuf) end(at int) {
	binary.NativeEndian.PutUint32(m.b[at:], uint32(len(m.b)-at))
}

func (m *msgBuf) nest(typ uint16) int {
	at := len(m.b)
	m.b = binary.NativeEndian.AppendUint16(m.b, 0)
	m.b = binary.NativeEndian.AppendUint16(m.b, typ|nlaNested)
	return at
}

func (m *msgBuf) endNest(at int) {
	binary.NativeEndian.PutUint16(m.b[at:], uint16(len(m.b)-at))
}

// attr appends an attribute of n bytes of payload and returns the payload
// to fill; the padding is appended.
func (m *msgBuf) attr(typ uint16, n int) []byte {
	m.b = binary.NativeEndian.AppendUint16(m.b, uint16(4+n))
	m.b = binary.NativeEndian.AppendUint16(m.b, typ)
	at := len(m.b)
	pad := (n + 3) &^ 3
	m.b = append(m.b, make([]byte, pad)...)
	return m.b[at : at+n]
}

func (m *msgBuf) u8(typ uint16, v uint8)    { m.attr(typ, 1)[0] = v }
func (m *msgBuf) be16(typ uint16, v uint16) { binary.BigEndian.PutUint16(m.attr(typ, 2), v) }
func (m *msgBuf) be32(typ uint16, v uint32) { binary.BigEndian.PutUint32(m.attr(typ, 4), v) }

func (m *msgBuf) addr(typ uint16, a netip.Addr) {
	if a.Is4() {
		b := a.As4()
		copy(m.attr(typ, 4), b[:])
		return
	}
	b := a.As16()
	copy(m.attr(typ, 16), b[:])
}

// tuple appends a tuple in the session key's convention: for ICMP the
// source port is the identifier and the destination port type<<8|code.
func (m *msgBuf) tuple(typ uint16, proto uint8, src, dst netip.AddrPort) {
	t := m.nest(typ)
	ip := m.nest(ctaTupleIP)
	v := uint16(ctaIPv4Src)
	if !src.Addr().Is4() {
		v = ctaIPv6Src
	}
	m.addr(v, src.Addr())
	m.addr(v+1, dst.Addr())
	m.endNest(ip)
	p := m.nest(ctaTupleProto)
	m.u8(ctaProtoNum, proto)
	switch proto {
	case protoICMP, protoICMPv6:
		id := uint16(ctaProtoICMPID)
		if proto == protoICMPv6 {
			id = ctaProtoICMPID + 3
		}
		m.be16(id, src.Port())
		m.u8(id+1, uint8(dst.Port()>>8))
		m.u8(id+2, uint8(dst.Port()))
	default:
		m.be16(ctaProtoSrc, src.Port())
		m.be16(ctaProtoDst, dst.Port())
	}
	m.endNest(p)
	m.endNest(t)
}

// natBinding appends CTA_NAT_SRC or CTA_NAT_DST mapping to the single
// address (and port, when ports) of to.
func (m *msgBuf) natBinding(typ uint16, to netip.AddrPort, ports bool) {
	n := m.nest(typ)
	v := uint16(ctaNATV4Min)
	if !to.Addr().Is4() {
		v = ctaNATV6Min
	}
	m.addr(v, to.Addr())
	m.addr(v+1, to.Addr())
	if ports {
		p := m.nest(ctaNATProto)
		m.be16(ctaNATPortMin, to.Port())
		m.be16(ctaNATPortMin+1, to.Port())
		m.endNest(p)
	}
	m.endNest(n)
}

// unmapped returns s with IPv4-mapped IPv6 addresses as IPv4, as the
// kernel sees them.
func unmapped(s *statesync.Session) (k statesync.Key, rs, rd netip.AddrPort) {
	um := func(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }
	k = s.Key
	k.Src, k.Dst = um(k.Src), um(k.Dst)
	rs, rd = s.Reply()
	return k, um(rs), um(rd)
}

// check reports whether s can be a kernel entry, as an error wrapping
// ErrUnsupportedFlow if not.
func check(s *statesync.Session) error {
	k, rs, rd := unmapped(s)
	v4 := k.Src.Addr().Is4()
	switch {
	case !hasPorts(k.Proto) && !isICMP(k.Proto):
		return fmt.Errorf("conntrack: protocol %d: %w", k.Proto, ErrUnsupportedFlow)
	case !k.Src.Addr().IsValid() || !k.Dst.Addr().IsValid() || k.Dst.Addr().Is4() != v4:
		return fmt.Errorf("conntrack: addresses %v, %v: %w", k.Src, k.Dst, ErrUnsupportedFlow)
	case !rs.Addr().IsValid() || !rd.Addr().IsValid() || rs.Addr().Is4() != v4 || rd.Addr().Is4() != v4:
		return fmt.Errorf("conntrack: reply %v, %v of another family: %w", rs, rd, ErrUnsupportedFlow)
	}
	if isICMP(k.Proto) {
		if _, ok := icmpReplyType(k.Proto, uint8(k.Dst.Port()>>8)); !ok {
			return fmt.Errorf("conntrack: ICMP type %d: %w", k.Dst.Port()>>8, ErrUnsupportedFlow)
		}
	}
	return nil
}

// form says which message writes a session.
type form uint8

const (
	// formCreate creates the entry or, when it exists, updates it: both
	// tuples, the NAT bindings, the status.
	formCreate form = iota
	// formUpdate updates an existing entry: no tuple but the original, no
	// bindings (the kernel cannot change those: EOPNOTSUPP).
	formUpdate
	// formUpdateNoStatus is formUpdate without the status, for an entry
	// holding a bit the session lacks (the kernel cannot clear
	// SEEN_REPLY or ASSURED: EBUSY).
	formUpdateNoStatus
)

// appendWrite appends the message that writes s (checked) into the
// kernel's table with the given timeout in seconds.
//
// The reply tuple of a created entry is the reversed original; a NATed
// session adds a source binding (to its reply's destination) and/or a
// destination binding (to its reply's source), from which the kernel
// derives the translated reply tuple and sets the NAT status bits, as on
// the unit that created the entry. ICMP sessions are mapped by address
// only.
func (m *msgBuf) appendWrite(seq uint32, flags uint16, s *statesync.Session, timeout uint32, f form) {
	k, _, _ := unmapped(s)
	family := uint8(unix.AF_INET)
	if !k.Src.Addr().Is4() {
		family = unix.AF_INET6
	}
	if f == formCreate {
		flags |= unix.NLM_F_CREATE
	}
	at := m.begin(msgCTNew, flags, seq, family)
	m.tuple(ctaTupleOrig, k.Proto, k.Src, k.Dst)
	if f == formCreate {
		// The reply of the untranslated session: for ICMP the kernel keeps
		// the identifier in the source slot of both tuples and the reply's
		// type in the destination's.
		src, dst := k.Dst, k.Src
		if isICMP(k.Proto) {
			rt, _ := icmpReplyType(k.Proto, uint8(k.Dst.Port()>>8))
			src = netip.AddrPortFrom(k.Dst.Addr(), k.Src.Port())
			dst = netip.AddrPortFrom(k.Src.Addr(), uint16(rt)<<8|k.Dst.Port()&0xff)
		}
		m.tuple(ctaTupleReply, k.Proto, src, dst)
	}
	m.be32(ctaTimeout, timeout)
	if f != formUpdateNoStatus {
		// The kernel marks a created entry confirmed before it applies
		// the status and refuses (EBUSY) a status without the bit.
		m.be32(ctaStatus, s.Status&creatable|statusConfirmed)
	}
	if s.Mark != 0 {
		m.be32(ctaMark, s.Mark)
	}
	if k.Zone != 0 {
		m.be16(ctaZone, k.Zone)
	}
	switch k.Proto {
	case protoTCP:
		pi := m.nest(ctaProtoInfo)
		tcp := m.nest(ctaProtoInfoTCP)
		m.u8(1, s.State)
		// struct nf_ct_tcp_flags {flags, mask}: be liberal both ways
		// (window tracking is not exported; see the package doc).
		m.be16(ctaTCPFlagsOrig, tcpBeLiberal<<8|tcpBeLiberal)
		m.be16(ctaTCPFlagsReply, tcpBeLiberal<<8|tcpBeLiberal)
		m.endNest(tcp)
		m.endNest(pi)
	case protoSCTP:
		if s.State != 0 {
			// The kernel requires the verification tags, which it does
			// not export: 0, as ti-mo/conntrack sends them.
			pi := m.nest(ctaProtoInfo)
			st := m.nest(ctaProtoInfoSCTP)
			m.u8(1, s.State)
			m.be32(2, 0) // CTA_PROTOINFO_SCTP_VTAG_ORIGINAL
			m.be32(3, 0) // CTA_PROTOINFO_SCTP_VTAG_REPLY
			m.endNest(st)
			m.endNest(pi)
		}
	case protoDCCP:
		if s.State != 0 {
			// The role (client) and handshake sequence are required too.
			pi := m.nest(ctaProtoInfo)
			st := m.nest(ctaProtoInfoDCCP)
			m.u8(1, s.State)
			m.u8(2, 0)                                  // CTA_PROTOINFO_DCCP_ROLE
			binary.BigEndian.PutUint64(m.attr(3, 8), 0) // CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ
			m.endNest(st)
			m.endNest(pi)
		}
	}
	if f == formCreate && s.Helper != "" {
		// Only at creation: the kernel attaches a helper to an entry
		// once.
		h := m.nest(ctaHelp)
		copy(m.attr(1, len(s.Helper)+1), s.Helper) // and the NUL
		m.endNest(h)
	}
	for dir, a := range s.SeqAdj {
		if a != (statesync.SeqAdj{}) {
			n := m.nest(ctaSeqAdjOrig + uint16(dir))
			m.be32(1, a.CorrectionPos)
			m.be32(2, uint32(a.Before))
			m.be32(3, uint32(a.After))
			m.endNest(n)
		}
	}
	if f == formCreate && s.NAT() {
		snat, dnat := natBindings(s)
		ports := hasPorts(k.Proto)
		if dnat.IsValid() {
			m.natBinding(ctaNATDst, dnat, ports)
		}
		if snat.IsValid() {
			m.natBinding(ctaNATSrc, snat, ports)
		}
	}
	m.end(at)
}

// natBindings returns the NAT bindings that turn s's original tuple into
// its reply tuple: source NAT when the reply goes elsewhere than the
// original source, destination NAT when it comes from elsewhere than the
// original destination. Each is the single address and port to map to;
// ICMP sessions are mapped by address only (their ports hold the
// identifier and the type).
func natBindings(s *statesync.Session) (snat, dnat netip.AddrPort) {
	k, rs, rd := unmapped(s)
	if isICMP(k.Proto) {
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

// appendKeyed appends a GET or DELETE message for the entry of k.
func (m *msgBuf) appendKeyed(typ uint16, seq uint32, flags uint16, k statesync.Key) {
	k.Src = netip.AddrPortFrom(k.Src.Addr().Unmap(), k.Src.Port())
	k.Dst = netip.AddrPortFrom(k.Dst.Addr().Unmap(), k.Dst.Port())
	family := uint8(unix.AF_INET)
	if !k.Src.Addr().Is4() {
		family = unix.AF_INET6
	}
	at := m.begin(typ, flags, seq, family)
	m.tuple(ctaTupleOrig, k.Proto, k.Src, k.Dst)
	if k.Zone != 0 {
		m.be16(ctaZone, k.Zone)
	}
	m.end(at)
}
