package heartbeat

import (
	"encoding/binary"
	"fmt"
	"io"
)

// EchoVersion is the version of the echo message this package writes and
// the only one it reads.
// Version 2 adds the cluster tag (Echo.ClusterTag).
const EchoVersion = 2

// echoMark is set in the first byte of every echo message, where a
// heartbeat frame carries its version (4): the two share a channel and the
// first byte tells them apart.
const echoMark = 0x80

// EchoLen is the length of an encoded echo message without its tag (and
// without Ethernet padding).
const EchoLen = 32

// EchoOp is the operation of an echo message. The zero value is invalid.
type EchoOp uint8

// The echo operations.
const (
	// EchoRequest asks every unit that hears it to answer.
	EchoRequest EchoOp = 1
	// EchoReply answers one request, echoing its epoch and sequence.
	EchoReply EchoOp = 2
)

// String returns the operation's name.
func (o EchoOp) String() string {
	switch o {
	case EchoRequest:
		return "request"
	case EchoReply:
		return "reply"
	}
	return fmt.Sprintf("EchoOp(%d)", uint8(o))
}

// Echo is an EIFD echo: a request that a unit sends on the heartbeat
// channel while it suspects a peer, and the replies of the units that hear
// it. It plays the role of an ARP probe where there is no layer 2 (unicast
// UDP), and of a free one on Ethernet, where it is a heartbeat-EtherType
// frame that a switch's ARP rate limit does not count. A reply proves that
// the replying unit's heartbeat daemon runs and that the path works both
// ways; a request proves the same of its sender's path to us.
//
// Echo is a value type. Its wire layout (big endian), authenticated like a
// heartbeat frame (see Sealer):
//
//	offset  size  field
//	0       1     0x80 | version (0x82); a heartbeat frame has its
//	              version (4) here
//	1       1     operation (1 request, 2 reply)
//	2       1     key ID (0: unauthenticated, no tag)
//	3       1     reserved, 0
//	4       2     cluster ID
//	6       2     sender unit ID (not 0)
//	8       2     to: the requester's unit ID in a reply, 0 in a request
//	10      2     sending interface (index in the sender's list)
//	12      8     epoch of the requester
//	20      8     sequence number of the request (from 1, increasing
//	              within the requester's epoch)
//	28      4     cluster tag of the sender (see Frame.ClusterTag)
//	32      16    tag, if key ID != 0
//
// The requester's epoch and sequence are the nonce: a reply is believed
// only for a request of this start of the unit still awaiting it, and a
// request only if its (epoch, sequence) is above the newest its sender had
// answered, so neither can be replayed. A message shorter than the
// Ethernet minimum may arrive padded with zeros; UnmarshalBinary accepts
// that padding and nothing else.
type Echo struct {
	// Op is the operation.
	Op EchoOp
	// ClusterID identifies the cluster, and ClusterTag tells apart two
	// clusters given the same ID (see Frame.ClusterTag).
	ClusterID  uint16
	ClusterTag uint32
	// UnitID is the sender; 0 is invalid.
	UnitID uint16
	// To is, in a reply, the unit whose request it answers; 0 in a request.
	To uint16
	// Interface is the sending interface's index in the sender's list.
	Interface uint16
	// Epoch and Seq identify the request: the requester's epoch and the
	// request's sequence number, echoed by a reply.
	Epoch, Seq uint64
	// KeyID is the ID of the key that authenticates the message, or 0.
	KeyID uint8
	// Tag is the truncated HMAC-SHA256 of the message when KeyID is not 0.
	Tag [TagLen]byte
}

// Len returns the length of e's encoding.
func (e *Echo) Len() int {
	if e.KeyID != 0 {
		return EchoLen + TagLen
	}
	return EchoLen
}

func (e *Echo) check() error {
	switch {
	case e.Op != EchoRequest && e.Op != EchoReply:
		return fmt.Errorf("heartbeat: echo operation %d: %w", e.Op, ErrMalformed)
	case e.UnitID == 0:
		return fmt.Errorf("heartbeat: echo from unit 0: %w", ErrMalformed)
	case e.Op == EchoRequest && e.To != 0:
		return fmt.Errorf("heartbeat: echo request to unit %d: %w", e.To, ErrMalformed)
	case e.Op == EchoReply && e.To == 0:
		return fmt.Errorf("heartbeat: echo reply to unit 0: %w", ErrMalformed)
	}
	return nil
}

// AppendBinary appends the encoding of e to b. It writes e.Tag as it is:
// use a Sealer to compute it.
func (e *Echo) AppendBinary(b []byte) ([]byte, error) {
	if err := e.check(); err != nil {
		return b, err
	}
	b = append(b, echoMark|EchoVersion, byte(e.Op), e.KeyID, 0)
	b = binary.BigEndian.AppendUint16(b, e.ClusterID)
	b = binary.BigEndian.AppendUint16(b, e.UnitID)
	b = binary.BigEndian.AppendUint16(b, e.To)
	b = binary.BigEndian.AppendUint16(b, e.Interface)
	b = binary.BigEndian.AppendUint64(b, e.Epoch)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint32(b, e.ClusterTag)
	if e.KeyID != 0 {
		b = append(b, e.Tag[:]...)
	}
	return b, nil
}

// MarshalBinary returns the encoding of e.
func (e *Echo) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(make([]byte, 0, e.Len()))
}

// isEcho reports whether b holds an echo message rather than a heartbeat
// frame.
func isEcho(b []byte) bool { return len(b) > 0 && b[0]&echoMark != 0 }

// echoLen returns the length of the echo message in b without padding.
func echoLen(b []byte) (int, error) {
	if len(b) < EchoLen {
		return 0, io.ErrUnexpectedEOF
	}
	if b[0] != echoMark|EchoVersion {
		return 0, fmt.Errorf("heartbeat: echo version byte %#x, want %#x: %w", b[0], echoMark|EchoVersion, ErrVersion)
	}
	n := EchoLen
	if b[2] != 0 {
		n += TagLen
	}
	if len(b) < n {
		return 0, io.ErrUnexpectedEOF
	}
	if err := checkPadding(b, n, "echo"); err != nil {
		return 0, err
	}
	return n, nil
}

// UnmarshalBinary decodes one echo message from b, which may carry zero
// padding up to MinEthernetPayload bytes. It returns io.ErrUnexpectedEOF
// when b is short, and an error wrapping ErrVersion or ErrMalformed for a
// bad version byte, inconsistent fields or trailing bytes. It does not
// retain b. On error e is unchanged.
func (e *Echo) UnmarshalBinary(b []byte) error {
	n, err := echoLen(b)
	if err != nil {
		return err
	}
	if b[3] != 0 {
		return fmt.Errorf("heartbeat: echo reserved byte %d: %w", b[3], ErrMalformed)
	}
	g := Echo{
		Op:         EchoOp(b[1]),
		KeyID:      b[2],
		ClusterID:  binary.BigEndian.Uint16(b[4:6]),
		UnitID:     binary.BigEndian.Uint16(b[6:8]),
		To:         binary.BigEndian.Uint16(b[8:10]),
		Interface:  binary.BigEndian.Uint16(b[10:12]),
		Epoch:      binary.BigEndian.Uint64(b[12:20]),
		Seq:        binary.BigEndian.Uint64(b[20:28]),
		ClusterTag: binary.BigEndian.Uint32(b[28:32]),
	}
	if err := g.check(); err != nil {
		return err
	}
	if g.KeyID != 0 {
		g.Tag = [TagLen]byte(b[n-TagLen : n])
	}
	*e = g
	return nil
}
