package statesync

import (
	"net/netip"
	"time"
)

// Key identifies a session: the conntrack zone and the original direction's
// protocol and endpoints. Key is comparable and can be used as a map key.
//
// Src and Dst are the original direction's source and destination (the
// packet that created the session). For protocols without ports (ICMP and
// others) the ports are zero. Table stores addresses as 16 bytes and does not
// keep IPv6 zone names: a zoned address is stored and returned without its
// zone.
type Key struct {
	// Zone is the conntrack zone (or VRF) the session belongs to; 0 is the
	// default zone.
	Zone uint16
	// Proto is the IP protocol number: 6 for TCP, 17 for UDP, 1 for ICMP,
	// 58 for ICMPv6, 132 for SCTP.
	Proto uint8
	// Src is the original direction's source address and port.
	Src netip.AddrPort
	// Dst is the original direction's destination address and port.
	Dst netip.AddrPort
}

// Reversed returns the key of the reply direction when no address
// translation happens: Src and Dst swapped.
func (k Key) Reversed() Key {
	return Key{Zone: k.Zone, Proto: k.Proto, Src: k.Dst, Dst: k.Src}
}

// TCP connection states, as numbered by the Linux kernel's enum tcp_conntrack
// (include/uapi/linux/netfilter/nf_conntrack_tcp.h). Session.State holds one
// of these for TCP sessions.
const (
	TCPStateNone        uint8 = 0
	TCPStateSynSent     uint8 = 1
	TCPStateSynRecv     uint8 = 2
	TCPStateEstablished uint8 = 3
	TCPStateFinWait     uint8 = 4
	TCPStateCloseWait   uint8 = 5
	TCPStateLastAck     uint8 = 6
	TCPStateTimeWait    uint8 = 7
	TCPStateClose       uint8 = 8
	TCPStateSynSent2    uint8 = 9
)

// Session is one entry of the session table: a tracked connection and the
// state a unit needs to keep forwarding it after a failover.
type Session struct {
	// Key identifies the session.
	Key Key
	// State is the protocol state. For TCP it is the conntrack TCP state
	// (TCPStateEstablished and friends); for SCTP the conntrack SCTP state;
	// for other protocols it is free for the caller (conntrack keeps none,
	// so 0).
	State uint8
	// Status holds the conntrack status bits (IPS_SEEN_REPLY, IPS_ASSURED,
	// IPS_SRC_NAT, ... from nf_conntrack_common.h). statesync only carries
	// them.
	Status uint32
	// Expires is the absolute deadline after which the session is idle and
	// may be removed, in Unix seconds; 0 means it never expires. Units of a
	// cluster compare it with their own clocks, which should therefore be
	// synchronised to within a few seconds (conntrack timeouts are minutes
	// to days). Use Deadline to convert from a time.Time.
	Expires uint32
	// ReplySrc and ReplyDst are the reply direction's source and
	// destination when address translation is in effect. Both are the zero
	// AddrPort when the reply tuple is just the reversed original (no NAT);
	// Table normalises an explicitly reversed tuple to zero.
	ReplySrc, ReplyDst netip.AddrPort
	// Packets and Bytes count the traffic of the session, both directions
	// together.
	Packets, Bytes uint64
	// Mark is the connection mark (ct mark).
	Mark uint32
	// Version counts the changes to the entry on the unit that owns it:
	// Table.Upsert sets it to the previous version plus one (1 for a new
	// entry); replicas store the owner's version unchanged (Table.Store).
	Version uint64
	// Helper names the conntrack helper attached to the session ("ftp",
	// "sip", …; at most MaxHelperLen bytes), which follows its payload and
	// expects the connections it announces; empty for none.
	Helper string
	// SeqAdj holds the TCP sequence adjustments of a session whose payload
	// a NAT helper resized (an FTP PORT command rewritten to another
	// address), original direction first, as the kernel keeps them; zero
	// for none. The unit that takes the session over must apply them too,
	// or the endpoints' sequence numbers no longer match.
	SeqAdj [2]SeqAdj
}

// MaxHelperLen is the longest Session.Helper: the kernel's helper names
// hold 15 bytes.
const MaxHelperLen = 15

// SeqAdj is one direction's TCP sequence adjustment (the kernel's struct
// nf_ct_seqadj): sequence numbers before CorrectionPos are moved by Before,
// those after it by After.
type SeqAdj struct {
	CorrectionPos uint32
	Before, After int32
}

// ext reports whether the session has a helper or sequence adjustments.
func (s *Session) ext() bool { return s.Helper != "" || s.SeqAdj != [2]SeqAdj{} }

// NAT reports whether the session has a translated reply tuple.
func (s *Session) NAT() bool {
	return s.ReplySrc.IsValid() || s.ReplyDst.IsValid()
}

// Reply returns the reply direction's source and destination: the NAT
// mapping if there is one, the reversed original otherwise.
func (s *Session) Reply() (src, dst netip.AddrPort) {
	if s.NAT() {
		return s.ReplySrc, s.ReplyDst
	}
	return s.Key.Dst, s.Key.Src
}

// Deadline converts t to the Unix-seconds form of Session.Expires, rounding
// up to the next second. The zero time gives 0 (never expires); times
// before 1970 or after 2106 are clamped.
func Deadline(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	switch {
	case sec < 1:
		return 1
	case sec > int64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(sec)
}

// ExpiresAt returns Expires as a time.Time; the zero time when the session
// never expires.
func (s *Session) ExpiresAt() time.Time {
	if s.Expires == 0 {
		return time.Time{}
	}
	return time.Unix(int64(s.Expires), 0)
}

// The session table's method set, implemented by *Table (table.go):
//
//	NewTable(sizeHint int) *Table
//	(*Table).Upsert(s Session) Session              // owner side: Version = previous+1
//	(*Table).Store(s Session)                       // replica side: Version kept
//	(*Table).Delete(k Key) (Session, bool)
//	(*Table).Get(k Key) (Session, bool)
//	(*Table).Len() int
//	(*Table).Range(fn func(Session) bool)
//	(*Table).Expire(now time.Time, fn func(Session)) int // fn may be nil
//
// All methods are safe for concurrent use.
