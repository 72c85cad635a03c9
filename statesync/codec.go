package statesync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/auth"
)

// Version is the version of the wire format this package speaks. Version 2
// keyed the tag with a subkey derived from the shared secret (see
// SenderConfig.Keys); version 3 names the cluster and the sending and
// receiving units in every header, so that one Driver can sync with several
// peers on one transport and drop other clusters' datagrams; version 4
// adds the records of conntrack expectations (expect_codec.go); version 5
// adds the receiver's nonce (see ReceiverStats.DropStaleNonce). Datagrams
// of other versions are dropped as ErrVersion.
const Version = 5

// EtherType is the default EtherType of sync frames on raw Ethernet, next to
// the heartbeats' 0xC14B.
const EtherType = 0xC14C

// headerLen is the length of the datagram header.
const headerLen = 40

// tagLen is the length of the truncated HMAC-SHA256 tag of an authenticated
// datagram (128 bits).
const tagLen = 16

// maxRanges is the most missing ranges one acknowledgement carries.
const maxRanges = 32

var magic = [2]byte{'h', 's'}

// Errors wrapped by the errors of this package.
var (
	// ErrNotSync: the datagram does not start with the statesync magic.
	ErrNotSync = errors.New("not a statesync datagram")
	// ErrVersion: the peer speaks another version of the wire format.
	ErrVersion = errors.New("unsupported protocol version")
	// ErrMalformed: a field has a value the format does not allow.
	ErrMalformed = errors.New("malformed datagram")
	// ErrAuth: authentication is required and missing, or the tag does
	// not match, or the key ID is unknown.
	ErrAuth = errors.New("authentication failed")
	// ErrReplay: the datagram is older than what was already accepted.
	ErrReplay = errors.New("replayed or stale datagram")
	// ErrCluster: the datagram belongs to another cluster (its header
	// names another cluster ID).
	ErrCluster = errors.New("datagram of another cluster")
	// ErrPeer: the datagram is from a unit that is not the peer, or for
	// another unit than this one.
	ErrPeer = errors.New("datagram from or to another unit")
)

// Type is the type of a datagram. The zero Type is invalid.
type dgramType uint8

// Datagram types.
const (
	// typeData carries records of a stream, with a data sequence number.
	typeData dgramType = 1
	// typeAck is the receiver's acknowledgement: cumulative ACK, missing
	// ranges, and the request for a full resync.
	typeAck dgramType = 2
	// typeProbe is the sender's announcement of its highest sequence
	// number, sent when acknowledgements stop coming, so that a lost tail
	// is noticed.
	typeProbe dgramType = 3
)

func (t dgramType) String() string {
	switch t {
	case typeData:
		return "data"
	case typeAck:
		return "ack"
	case typeProbe:
		return "probe"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

const flagAuth = 1

// header is the fixed part at the start of every datagram.
//
//	0      2        3     4      5       6       8        10     12   14         16      24    32      40
//	+------+--------+-----+------+-------+-------+--------+------+----+----------+-------+-----+-------+
//	| "hs" | version| type| flags| key ID| length| cluster| from | to | reserved | epoch | seq | nonce |
//	+------+--------+-----+------+-------+-------+--------+------+----+----------+-------+-----+-------+
//
// All integers are big-endian; reserved is zero.
type header struct {
	// Version is the wire format version; Version for this package.
	Version uint8
	// Type is the datagram type.
	dgramType dgramType
	// Auth reports whether the datagram ends with a tagLen-byte
	// HMAC-SHA256 tag over all bytes before it.
	Auth bool
	// KeyID names the key of the tag (0 when not authenticated).
	KeyID uint8
	// Length is the length of the whole datagram, header and tag
	// included; bytes after it (Ethernet padding) are ignored.
	Length uint16
	// Cluster is the cluster ID of the sending unit.
	Cluster uint16
	// From and To are the unit IDs of the sending and the receiving unit
	// (0: not named, on a point-to-point link).
	From, To uint16
	// Epoch identifies the stream: for data and probes, the sender's
	// stream; for acknowledgements, the receiver's control stream. An
	// epoch only ever grows; a new epoch starts a new stream.
	Epoch uint64
	// Seq is the data sequence number (typeData, from 1) or the control
	// sequence number (typeAck, typeProbe, from 1) within the epoch.
	Seq uint64
	// Nonce is, in an acknowledgement, the receiver's nonce (random, one
	// per Receiver); in data and probes, the echo of the newest one the
	// sender accepted (0: none yet). A receiver with keys adopts a new
	// stream only from a datagram echoing its own nonce.
	Nonce uint64
}

// AppendBinary appends the encoded header to b.
func (h header) AppendBinary(b []byte) ([]byte, error) {
	var f uint8
	if h.Auth {
		f |= flagAuth
	}
	b = append(b, magic[0], magic[1], h.Version, uint8(h.dgramType), f, h.KeyID)
	b = binary.BigEndian.AppendUint16(b, h.Length)
	b = binary.BigEndian.AppendUint16(b, h.Cluster)
	b = binary.BigEndian.AppendUint16(b, h.From)
	b = binary.BigEndian.AppendUint16(b, h.To)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint64(b, h.Epoch)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	return binary.BigEndian.AppendUint64(b, h.Nonce), nil
}

// MarshalBinary returns the encoded header.
func (h header) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(make([]byte, 0, headerLen))
}

// UnmarshalBinary decodes a header from the first headerLen bytes of b. A
// datagram of another protocol version gives an error wrapping ErrVersion.
func (h *header) UnmarshalBinary(b []byte) error {
	if len(b) < 3 {
		return fmt.Errorf("statesync: header: %w", io.ErrUnexpectedEOF)
	}
	if b[0] != magic[0] || b[1] != magic[1] {
		return fmt.Errorf("statesync: header: %w", ErrNotSync)
	}
	if b[2] != Version {
		return fmt.Errorf("statesync: peer speaks version %d, want %d: %w", b[2], Version, ErrVersion)
	}
	if len(b) < headerLen {
		return fmt.Errorf("statesync: header: %w", io.ErrUnexpectedEOF)
	}
	t := dgramType(b[3])
	if t < typeData || t > typeProbe {
		return fmt.Errorf("statesync: unknown datagram type %d: %w", b[3], ErrMalformed)
	}
	if b[4]&^flagAuth != 0 || (b[4]&flagAuth == 0 && b[5] != 0) {
		return fmt.Errorf("statesync: header flags %#x key %d: %w", b[4], b[5], ErrMalformed)
	}
	if b[14] != 0 || b[15] != 0 {
		return fmt.Errorf("statesync: reserved header bytes %#x %#x: %w", b[14], b[15], ErrMalformed)
	}
	*h = header{
		Version:   b[2],
		dgramType: t,
		Auth:      b[4]&flagAuth != 0,
		KeyID:     b[5],
		Length:    binary.BigEndian.Uint16(b[6:8]),
		Cluster:   binary.BigEndian.Uint16(b[8:10]),
		From:      binary.BigEndian.Uint16(b[10:12]),
		To:        binary.BigEndian.Uint16(b[12:14]),
		Epoch:     binary.BigEndian.Uint64(b[16:24]),
		Seq:       binary.BigEndian.Uint64(b[24:32]),
		Nonce:     binary.BigEndian.Uint64(b[32:40]),
	}
	return nil
}

// peekIdentity returns the cluster, sending and receiving units of a
// datagram without checking anything else (a Driver routes with it; the
// core it routes to checks the whole datagram).
func peekIdentity(b []byte) (cluster, from, to uint16, ok bool) {
	if len(b) < headerLen || b[0] != magic[0] || b[1] != magic[1] || b[2] != Version {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint16(b[8:10]), binary.BigEndian.Uint16(b[10:12]), binary.BigEndian.Uint16(b[12:14]), true
}

// Op is the operation of a record. The zero Op is invalid.
type recordOp uint8

// record operations.
const (
	// opUpsert inserts or replaces a session.
	opUpsert recordOp = 1
	// opDelete removes a session (record.Session.Key).
	opDelete recordOp = 2
	// opBulkBegin starts bulk sync generation record.Gen, which will send
	// record.Total sessions.
	opBulkBegin recordOp = 3
	// opBulkEnd ends bulk sync generation record.Gen: sessions of the
	// stream's origin not written since the matching opBulkBegin no longer
	// exist at the source.
	opBulkEnd recordOp = 4

	// opExt, or-ed into an opUpsert's byte, says that the helper and the
	// sequence adjustments follow.
	opExt = 0x80
)

func (o recordOp) String() string {
	switch o {
	case opUpsert:
		return "upsert"
	case opDelete:
		return "delete"
	case opBulkBegin:
		return "bulk-begin"
	case opBulkEnd:
		return "bulk-end"
	case opExpect:
		return "expect"
	case opExpectDelete:
		return "expect-delete"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// record is one change carried in a data datagram.
//
// Encoding (big-endian). Every record starts with its Op byte. Upsert and
// Delete continue with the key:
//
//	fam(1) proto(1) zone(2) sport(2) dport(2) src(0|4|16) dst(0|4|16)
//
// where fam holds a 2-bit family per address (0 none, 1 IPv4, 2 IPv6):
// bits 0-1 Src, 2-3 Dst, 4-5 ReplySrc, 6-7 ReplyDst (the reply bits are
// zero in a Delete). An Upsert then carries
//
//	state(1) status(4) expires(4) mark(4) version(8) packets(8) bytes(8)
//
// and, when either reply family is not zero, the NAT tuple:
//
//	rsport(2) rdport(2) rsrc(0|4|16) rdst(0|4|16)
//
// and, when the op byte has bit 7 set (opExt), the session's helper and
// sequence adjustments:
//
//	hlen(1) helper(hlen) nadj(1) nadj × (pos(4) before(4) after(4))
//
// with hlen at most 15 and nadj 0 or 2 (original direction first).
// BulkBegin is op(1) gen(1) total(8); BulkEnd is op(1) gen(1). An IPv4
// Upsert without NAT takes 54 bytes.
type record struct {
	// Op is the operation.
	recordOp recordOp
	// Session is the session for opUpsert, and carries the key for
	// opDelete (other fields zero).
	Session Session
	// Gen is the bulk generation for opBulkBegin and opBulkEnd.
	Gen uint8
	// Total is the number of sessions a bulk sync will send (opBulkBegin).
	Total uint64
	// Expect is the expectation of opExpect, and carries the key for
	// opExpectDelete.
	Expect Expectation
}

func addrLen(fam uint8) int {
	switch fam {
	case famV4:
		return 4
	case famV6:
		return 16
	}
	return 0
}

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		a4 := a.As4()
		return append(b, a4[:]...)
	case a.Is6():
		a16 := a.As16()
		return append(b, a16[:]...)
	}
	return b
}

// EncodedLen returns the length of the encoded record.
func (r *record) EncodedLen() int {
	switch r.recordOp {
	case opBulkBegin:
		return 10
	case opBulkEnd:
		return 2
	case opExpect:
		return expectLen(&r.Expect)
	case opExpectDelete:
		return 9 + addrLen(famOf(r.Expect.Key.Src.Addr())) + addrLen(famOf(r.Expect.Key.Dst.Addr()))
	}
	k := &r.Session.Key
	n := 9 + addrLen(famOf(k.Src.Addr())) + addrLen(famOf(k.Dst.Addr()))
	if r.recordOp == opUpsert {
		n += 37
		if r.Session.NAT() {
			n += 4 + addrLen(famOf(r.Session.ReplySrc.Addr())) + addrLen(famOf(r.Session.ReplyDst.Addr()))
		}
		if r.Session.ext() {
			n += 2 + len(r.Session.Helper)
			if r.Session.SeqAdj != [2]SeqAdj{} {
				n += 24
			}
		}
	}
	return n
}

// AppendBinary appends the encoded record to b. It does not allocate when b
// has room.
func (r record) AppendBinary(b []byte) ([]byte, error) {
	return r.appendTo(b)
}

func (r *record) appendTo(b []byte) ([]byte, error) {
	switch r.recordOp {
	case opBulkBegin:
		b = append(b, byte(r.recordOp), r.Gen)
		return binary.BigEndian.AppendUint64(b, r.Total), nil
	case opBulkEnd:
		return append(b, byte(r.recordOp), r.Gen), nil
	case opExpect, opExpectDelete:
		return appendExpect(b, r.recordOp, &r.Expect)
	case opUpsert, opDelete:
	default:
		return b, fmt.Errorf("statesync: encode record: invalid op %d: %w", r.recordOp, ErrMalformed)
	}
	s := &r.Session
	k := &s.Key
	fam := famOf(k.Src.Addr()) | famOf(k.Dst.Addr())<<2
	nat := r.recordOp == opUpsert && s.NAT()
	if nat {
		fam |= famOf(s.ReplySrc.Addr())<<4 | famOf(s.ReplyDst.Addr())<<6
	}
	op := byte(r.recordOp)
	ext := r.recordOp == opUpsert && s.ext()
	if ext {
		if len(s.Helper) > MaxHelperLen {
			return b, fmt.Errorf("statesync: encode record: helper name of %d bytes: %w", len(s.Helper), ErrMalformed)
		}
		op |= opExt
	}
	b = append(b, op, fam, k.Proto)
	b = binary.BigEndian.AppendUint16(b, k.Zone)
	b = binary.BigEndian.AppendUint16(b, k.Src.Port())
	b = binary.BigEndian.AppendUint16(b, k.Dst.Port())
	b = appendAddr(b, k.Src.Addr())
	b = appendAddr(b, k.Dst.Addr())
	if r.recordOp == opDelete {
		return b, nil
	}
	b = append(b, s.State)
	b = binary.BigEndian.AppendUint32(b, s.Status)
	b = binary.BigEndian.AppendUint32(b, s.Expires)
	b = binary.BigEndian.AppendUint32(b, s.Mark)
	b = binary.BigEndian.AppendUint64(b, s.Version)
	b = binary.BigEndian.AppendUint64(b, s.Packets)
	b = binary.BigEndian.AppendUint64(b, s.Bytes)
	if nat {
		b = binary.BigEndian.AppendUint16(b, s.ReplySrc.Port())
		b = binary.BigEndian.AppendUint16(b, s.ReplyDst.Port())
		b = appendAddr(b, s.ReplySrc.Addr())
		b = appendAddr(b, s.ReplyDst.Addr())
	}
	if ext {
		b = append(b, byte(len(s.Helper)))
		b = append(b, s.Helper...)
		if s.SeqAdj == [2]SeqAdj{} {
			return append(b, 0), nil
		}
		b = append(b, 2)
		for _, a := range s.SeqAdj {
			b = binary.BigEndian.AppendUint32(b, a.CorrectionPos)
			b = binary.BigEndian.AppendUint32(b, uint32(a.Before))
			b = binary.BigEndian.AppendUint32(b, uint32(a.After))
		}
	}
	return b, nil
}

// MarshalBinary returns the encoded record.
func (r record) MarshalBinary() ([]byte, error) {
	return r.appendTo(make([]byte, 0, r.EncodedLen()))
}

// UnmarshalBinary decodes a record that takes all of b.
func (r *record) UnmarshalBinary(b []byte) error {
	n, err := r.decode(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("statesync: record: %d trailing bytes: %w", len(b)-n, ErrMalformed)
	}
	return nil
}

func readAddr(b []byte, fam uint8) netip.Addr {
	switch fam {
	case famV4:
		return netip.AddrFrom4([4]byte(b))
	case famV6:
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.Addr{}
}

var errShortRecord = fmt.Errorf("statesync: record: %w", io.ErrUnexpectedEOF)

// decode decodes the record at the start of b and returns its length.
func (r *record) decode(b []byte) (int, error) {
	if len(b) < 1 {
		return 0, errShortRecord
	}
	op := recordOp(b[0])
	ext := false
	if op&opExt != 0 && op&^opExt == opUpsert {
		op, ext = opUpsert, true
	}
	switch op {
	case opBulkBegin:
		if len(b) < 10 {
			return 0, errShortRecord
		}
		*r = record{recordOp: op, Gen: b[1], Total: binary.BigEndian.Uint64(b[2:10])}
		return 10, nil
	case opBulkEnd:
		if len(b) < 2 {
			return 0, errShortRecord
		}
		*r = record{recordOp: op, Gen: b[1]}
		return 2, nil
	case opExpect, opExpectDelete:
		*r = record{recordOp: op}
		return decodeExpect(b, op, &r.Expect)
	case opUpsert, opDelete:
	default:
		return 0, fmt.Errorf("statesync: record: unknown op %d: %w", b[0], ErrMalformed)
	}
	if len(b) < 9 {
		return 0, errShortRecord
	}
	fam := b[1]
	if err := checkFam(fam); err != nil {
		return 0, err
	}
	if op == opDelete && fam>>4 != 0 {
		return 0, fmt.Errorf("statesync: record: delete with NAT tuple: %w", ErrMalformed)
	}
	sf, df := fam&3, fam>>2&3
	n := 9 + addrLen(sf) + addrLen(df)
	if len(b) < n {
		return 0, errShortRecord
	}
	*r = record{recordOp: op}
	s := &r.Session
	s.Key.Proto = b[2]
	s.Key.Zone = binary.BigEndian.Uint16(b[3:5])
	sport := binary.BigEndian.Uint16(b[5:7])
	dport := binary.BigEndian.Uint16(b[7:9])
	p := 9
	s.Key.Src = netip.AddrPortFrom(readAddr(b[p:p+addrLen(sf)], sf), sport)
	p += addrLen(sf)
	s.Key.Dst = netip.AddrPortFrom(readAddr(b[p:p+addrLen(df)], df), dport)
	p += addrLen(df)
	if op == opDelete {
		return p, nil
	}
	if len(b) < p+37 {
		return 0, errShortRecord
	}
	s.State = b[p]
	s.Status = binary.BigEndian.Uint32(b[p+1:])
	s.Expires = binary.BigEndian.Uint32(b[p+5:])
	s.Mark = binary.BigEndian.Uint32(b[p+9:])
	s.Version = binary.BigEndian.Uint64(b[p+13:])
	s.Packets = binary.BigEndian.Uint64(b[p+21:])
	s.Bytes = binary.BigEndian.Uint64(b[p+29:])
	p += 37
	rsf, rdf := fam>>4&3, fam>>6&3
	if rsf != 0 || rdf != 0 {
		if len(b) < p+4+addrLen(rsf)+addrLen(rdf) {
			return 0, errShortRecord
		}
		rsport := binary.BigEndian.Uint16(b[p:])
		rdport := binary.BigEndian.Uint16(b[p+2:])
		p += 4
		s.ReplySrc = netip.AddrPortFrom(readAddr(b[p:p+addrLen(rsf)], rsf), rsport)
		p += addrLen(rsf)
		s.ReplyDst = netip.AddrPortFrom(readAddr(b[p:p+addrLen(rdf)], rdf), rdport)
		p += addrLen(rdf)
	}
	if !ext {
		return p, nil
	}
	return decodeExt(b, p, s)
}

// decodeExt decodes the helper and sequence adjustments at b[p:] into s.
func decodeExt(b []byte, p int, s *Session) (int, error) {
	if len(b) < p+1 {
		return 0, errShortRecord
	}
	hlen := int(b[p])
	if hlen > MaxHelperLen {
		return 0, fmt.Errorf("statesync: record: helper name of %d bytes: %w", hlen, ErrMalformed)
	}
	p++
	if len(b) < p+hlen+1 {
		return 0, errShortRecord
	}
	s.Helper = helperName(b[p : p+hlen])
	p += hlen
	nadj := b[p]
	p++
	switch {
	case nadj == 0:
	case nadj != 2:
		return 0, fmt.Errorf("statesync: record: %d sequence adjustments: %w", nadj, ErrMalformed)
	case len(b) < p+24:
		return 0, errShortRecord
	default:
		for i := range s.SeqAdj {
			s.SeqAdj[i] = SeqAdj{
				CorrectionPos: binary.BigEndian.Uint32(b[p:]),
				Before:        int32(binary.BigEndian.Uint32(b[p+4:])),
				After:         int32(binary.BigEndian.Uint32(b[p+8:])),
			}
			p += 12
		}
		if s.SeqAdj == [2]SeqAdj{} {
			return 0, fmt.Errorf("statesync: record: zero sequence adjustments sent: %w", ErrMalformed)
		}
	}
	if !s.ext() {
		return 0, fmt.Errorf("statesync: record: an empty extension: %w", ErrMalformed)
	}
	return p, nil
}

// helperName returns the helper name b, without allocating for the
// kernel's own helpers.
func helperName(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "ftp":
		return "ftp"
	case "sip":
		return "sip"
	case "tftp":
		return "tftp"
	case "irc":
		return "irc"
	case "RAS":
		return "RAS"
	case "Q.931":
		return "Q.931"
	case "pptp":
		return "pptp"
	case "amanda":
		return "amanda"
	case "sane":
		return "sane"
	case "snmp":
		return "snmp"
	case "netbios-ns":
		return "netbios-ns"
	}
	return string(b)
}

// seqRange is an inclusive range of data sequence numbers.
type seqRange struct {
	First, Last uint64
}

// ackPayload is the payload of a typeAck datagram.
//
//	epoch(8) cum(8) flags(1) n(1) n × (first(8) last(8))
//
// flags bit 0 is NeedSync; other bits must be zero.
type ackPayload struct {
	// Epoch is the data stream being acknowledged.
	Epoch uint64
	// Cum acknowledges every data sequence number up to and including
	// it; 0 acknowledges nothing.
	Cum uint64
	// NeedSync asks the sender for a full resync (a new stream starting
	// with a bulk sync): the receiver restarted, or cannot continue the
	// stream.
	NeedSync bool
	// Missing lists ranges above Cum that the receiver asks to be resent
	// (at most maxRanges, ascending, not overlapping).
	Missing []seqRange
}

// AppendBinary appends the encoded acknowledgement to b.
func (a ackPayload) AppendBinary(b []byte) ([]byte, error) {
	if len(a.Missing) > maxRanges {
		return b, fmt.Errorf("statesync: ack: %d ranges, at most %d: %w", len(a.Missing), maxRanges, ErrMalformed)
	}
	b = binary.BigEndian.AppendUint64(b, a.Epoch)
	b = binary.BigEndian.AppendUint64(b, a.Cum)
	var f uint8
	if a.NeedSync {
		f = 1
	}
	b = append(b, f, uint8(len(a.Missing)))
	for _, r := range a.Missing {
		b = binary.BigEndian.AppendUint64(b, r.First)
		b = binary.BigEndian.AppendUint64(b, r.Last)
	}
	return b, nil
}

// MarshalBinary returns the encoded acknowledgement.
func (a ackPayload) MarshalBinary() ([]byte, error) {
	return a.AppendBinary(make([]byte, 0, 18+16*len(a.Missing)))
}

// UnmarshalBinary decodes an acknowledgement taking all of b. It reuses the
// capacity of a.Missing.
func (a *ackPayload) UnmarshalBinary(b []byte) error {
	if len(b) < 18 {
		return fmt.Errorf("statesync: ack: %w", io.ErrUnexpectedEOF)
	}
	n := int(b[17])
	if b[16]&^1 != 0 || n > maxRanges {
		return fmt.Errorf("statesync: ack flags %#x ranges %d: %w", b[16], n, ErrMalformed)
	}
	if len(b) != 18+16*n {
		if len(b) < 18+16*n {
			return fmt.Errorf("statesync: ack: %w", io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("statesync: ack: trailing bytes: %w", ErrMalformed)
	}
	a.Epoch = binary.BigEndian.Uint64(b[0:8])
	a.Cum = binary.BigEndian.Uint64(b[8:16])
	a.NeedSync = b[16]&1 != 0
	a.Missing = a.Missing[:0]
	prev := a.Cum
	for i := range n {
		p := 18 + 16*i
		r := seqRange{binary.BigEndian.Uint64(b[p:]), binary.BigEndian.Uint64(b[p+8:])}
		if r.First <= prev || r.Last < r.First {
			return fmt.Errorf("statesync: ack range %d-%d after %d: %w", r.First, r.Last, prev, ErrMalformed)
		}
		prev = r.Last
		a.Missing = append(a.Missing, r)
	}
	if n == 0 {
		a.Missing = nil
	}
	return nil
}

// probePayload is the payload of a typeProbe datagram: head(8), the highest data
// sequence number the sender has sent in the stream of the header's epoch.
type probePayload struct {
	Head uint64
}

// AppendBinary appends the encoded probe to b.
func (p probePayload) AppendBinary(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint64(b, p.Head), nil
}

// MarshalBinary returns the encoded probe.
func (p probePayload) MarshalBinary() ([]byte, error) { return p.AppendBinary(make([]byte, 0, 8)) }

// UnmarshalBinary decodes a probe taking all of b.
func (p *probePayload) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		if len(b) < 8 {
			return fmt.Errorf("statesync: probe: %w", io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("statesync: probe: trailing bytes: %w", ErrMalformed)
	}
	p.Head = binary.BigEndian.Uint64(b)
	return nil
}

// authInfo names the statesync subkeys: each key of a Keyring is turned
// into the statesync key with HKDF-SHA256 and this info string.
const authInfo = "hakit statesync v1"

// framer seals and opens datagrams: the header's identity (cluster, units),
// length field and the optional HMAC-SHA256 tag. It is not safe for
// concurrent use.
type framer struct {
	mac *auth.MAC // nil: no authentication
	id  identity
}

// identity is what a core writes in its headers and requires of its peer's:
// the cluster, this unit and the peer (a unit 0 is not named: not checked).
type identity struct {
	Cluster, Self, Peer uint16
}

func newFramer(keys *hakit.Keyring, id identity) framer {
	if keys == nil {
		return framer{id: id}
	}
	return framer{mac: auth.New(keys, authInfo), id: id}
}

// begin appends a header to b (key ID, length and tag filled in by seal).
func (f *framer) begin(b []byte, t dgramType, epoch, seq, nonce uint64) []byte {
	h := header{Version: Version, dgramType: t, Epoch: epoch, Seq: seq, Nonce: nonce, Auth: f.mac != nil,
		Cluster: f.id.Cluster, From: f.id.Self, To: f.id.Peer}
	b, _ = h.AppendBinary(b)
	return b
}

// seal completes the datagram b begun by begin, with the tag of the key that
// is primary now.
func (f *framer) seal(b []byte) []byte {
	n := len(b)
	if f.mac != nil {
		n += tagLen
	}
	binary.BigEndian.PutUint16(b[6:8], uint16(n))
	if f.mac != nil {
		b[5] = f.mac.Primary()
		b = append(b, f.mac.Tag(b[5], nil, b)...)
	}
	return b
}

// open checks a datagram's header, length and tag, and returns the header
// and the payload (aliasing b).
func (f *framer) open(b []byte) (header, []byte, error) {
	var h header
	if err := h.UnmarshalBinary(b); err != nil {
		return h, nil, err
	}
	n := int(h.Length)
	min := headerLen
	if h.Auth {
		min += tagLen
	}
	if n < min || n > len(b) {
		if n > len(b) {
			return h, nil, fmt.Errorf("statesync: datagram length %d, have %d: %w", n, len(b), io.ErrUnexpectedEOF)
		}
		return h, nil, fmt.Errorf("statesync: datagram length %d: %w", n, ErrMalformed)
	}
	b = b[:n]
	switch {
	case h.Cluster != f.id.Cluster:
		return h, nil, fmt.Errorf("statesync: datagram of cluster %d, this is %d: %w", h.Cluster, f.id.Cluster, ErrCluster)
	case f.id.Peer != 0 && h.From != f.id.Peer:
		return h, nil, fmt.Errorf("statesync: datagram from unit %d, the peer is %d: %w", h.From, f.id.Peer, ErrPeer)
	case f.id.Self != 0 && h.To != f.id.Self:
		return h, nil, fmt.Errorf("statesync: datagram for unit %d, this is %d: %w", h.To, f.id.Self, ErrPeer)
	}
	if f.mac == nil {
		if h.Auth {
			return h, nil, fmt.Errorf("statesync: authenticated datagram but no key configured: %w", ErrAuth)
		}
		return h, b[headerLen:], nil
	}
	if !h.Auth {
		return h, nil, fmt.Errorf("statesync: unauthenticated datagram: %w", ErrAuth)
	}
	if !f.mac.Known(h.KeyID) {
		return h, nil, fmt.Errorf("statesync: unknown key ID %d: %w", h.KeyID, ErrAuth)
	}
	body := b[:n-tagLen]
	if !f.mac.Verify(h.KeyID, nil, body, b[n-tagLen:]) {
		return h, nil, fmt.Errorf("statesync: bad tag: %w", ErrAuth)
	}
	return h, body[headerLen:], nil
}
