package conntrack

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/hakit/hakit/statesync"
)

// Counts summarises a session table for an operator, as conntrackd -s
// cache does for its caches.
type Counts struct {
	// Sessions is the number of sessions.
	Sessions int
	// ByProtocol counts sessions per IP protocol number.
	ByProtocol map[uint8]int
	// TCP counts TCP sessions per state, indexed by the conntrack state
	// (statesync.TCPStateEstablished and friends).
	TCP [statesync.TCPStateSynSent2 + 1]int
	// NAT counts sessions with a translated reply tuple.
	NAT int
	// Overdue counts sessions whose deadline has passed: on a replica,
	// flows whose end the active unit has not reported yet, or busy
	// flows whose refresh is late (see the package doc).
	Overdue int
}

// Count counts the sessions of t at now, a few hundred at a time.
func Count(t *statesync.Table, now time.Time) Counts {
	c := Counts{ByProtocol: make(map[uint8]int)}
	sec := now.Unix()
	var (
		cur   statesync.Cursor
		batch []statesync.Session
	)
	for done := false; !done; {
		batch, cur, done = t.Scan(batch[:0], cur, 1024)
		for i := range batch {
			s := &batch[i]
			c.Sessions++
			c.ByProtocol[s.Key.Proto]++
			if s.Key.Proto == protoTCP && int(s.State) < len(c.TCP) {
				c.TCP[s.State]++
			}
			if s.NAT() {
				c.NAT++
			}
			if s.Expires != 0 && int64(s.Expires) <= sec {
				c.Overdue++
			}
		}
	}
	return c
}

// WriteTable writes the sessions of t, one a line, in the format of
// conntrack -L (which conntrackd -i and -e also use): the protocol's name
// and number, the seconds left (- when the session never expires), the
// TCP state, the original tuple, the reply tuple, the flags, the mark and
// the zone. The table is read a few hundred sessions at a time, so the
// dump of a large table does not hold it in memory twice.
func WriteTable(w io.Writer, t *statesync.Table, now time.Time) error {
	bw := bufio.NewWriter(w)
	var (
		cur   statesync.Cursor
		batch []statesync.Session
		line  []byte
	)
	for done := false; !done; {
		batch, cur, done = t.Scan(batch[:0], cur, 256)
		for i := range batch {
			line = appendLine(line[:0], &batch[i], now)
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

var protoNames = map[uint8]string{
	protoICMP: "icmp", protoTCP: "tcp", protoUDP: "udp", protoDCCP: "dccp",
	protoICMPv6: "icmpv6", protoSCTP: "sctp", protoUDPLite: "udplite",
}

var tcpStateNames = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// Status bits shown (nf_conntrack_common.h).
const (
	statusSeenReply = 1 << 1
	statusAssured   = 1 << 2
)

func appendLine(b []byte, s *statesync.Session, now time.Time) []byte {
	k := &s.Key
	name, ok := protoNames[k.Proto]
	if !ok {
		name = "unknown"
	}
	b = append(b, name...)
	for i := len(name); i < 8; i++ {
		b = append(b, ' ')
	}
	b = strconv.AppendUint(b, uint64(k.Proto), 10)
	b = append(b, ' ')
	if s.Expires == 0 {
		b = append(b, '-')
	} else {
		b = strconv.AppendInt(b, max(int64(s.Expires)-now.Unix(), 0), 10)
	}
	if k.Proto == protoTCP && int(s.State) < len(tcpStateNames) {
		b = append(b, ' ')
		b = append(b, tcpStateNames[s.State]...)
	}
	rs, rd := s.Reply()
	b = appendTuple(b, k.Proto, k.Src, k.Dst, false)
	if s.Status&statusSeenReply == 0 {
		b = append(b, " [UNREPLIED]"...)
	}
	b = appendTuple(b, k.Proto, rs, rd, !s.NAT())
	if s.Status&statusAssured != 0 {
		b = append(b, " [ASSURED]"...)
	}
	b = fmt.Appendf(b, " mark=%d zone=%d", s.Mark, k.Zone)
	if s.Helper != "" {
		b = append(b, " helper="...)
		b = append(b, s.Helper...)
	}
	return append(b, '\n')
}

// appendTuple appends src=… dst=… and the ports, or the ICMP type, code
// and identifier (in the key's convention). A reply tuple of a session
// without NAT (reversed) gets the reply's ICMP type.
func appendTuple(b []byte, proto uint8, src, dst netip.AddrPort, reversed bool) []byte {
	b = append(b, " src="...)
	b = src.Addr().Unmap().AppendTo(b)
	b = append(b, " dst="...)
	b = dst.Addr().Unmap().AppendTo(b)
	if isICMP(proto) {
		id, typ, code := src.Port(), uint8(dst.Port()>>8), uint8(dst.Port())
		if reversed {
			// The reply of the key's query: the identifier stays, the
			// reply type comes from the query's.
			id, typ, code = dst.Port(), uint8(src.Port()>>8), uint8(src.Port())
			if rt, ok := icmpReplyType(proto, typ); ok {
				typ = rt
			}
		}
		return fmt.Appendf(b, " type=%d code=%d id=%d", typ, code, id)
	}
	if hasPorts(proto) {
		return fmt.Appendf(b, " sport=%d dport=%d", src.Port(), dst.Port())
	}
	return b
}
