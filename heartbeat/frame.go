package heartbeat

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/hakit/hakit"
)

// Version is the version of the heartbeat frame this package writes and the
// only one it reads. Version 2 keys the tag with a subkey derived from the
// shared secret (see Sealer); version 3 adds the cluster tag
// (Frame.ClusterTag); version 4 the sender's nonce and the echo of a
// peer's (see Frame.Nonce). Frames of other versions are dropped as
// ErrVersion.
const Version = 4

// DefaultEtherType is the EtherType of heartbeat frames unless configured
// otherwise (Clavister's 0xC14B).
const DefaultEtherType = 0xC14B

// Frame size limits, in bytes, of the heartbeat PDU (the Ethernet payload).
const (
	// HeaderLen is the length of the fixed part of a frame.
	HeaderLen = 52
	// TagLen is the length of the truncated HMAC-SHA256 tag (128 bits).
	TagLen = 16
	// MaxPayload is the largest caller payload a frame carries.
	MaxPayload = 256
	// MaxFrameLen is the longest encoded frame: header, IPv6 address,
	// the largest payload and a tag.
	MaxFrameLen = HeaderLen + 16 + MaxPayload + TagLen
	// MinEthernetPayload is the Ethernet minimum payload: a shorter frame may
	// arrive padded with zeros up to this length, and UnmarshalBinary accepts
	// that padding.
	MinEthernetPayload = 46
)

// maxInterval is the largest advertised interval the frame can carry.
const maxInterval = time.Duration(1<<32-1) * time.Microsecond

// Frame is one heartbeat PDU, the payload of an Ethernet frame of the
// heartbeat EtherType (or of a UDP datagram). See the package documentation
// for the wire layout. Frame is a value type; its zero value is not a valid
// frame (Role is zero).
type Frame struct {
	// ClusterID identifies the cluster; frames of other clusters are dropped.
	ClusterID uint16
	// ClusterTag tells apart two clusters that were given the same
	// ClusterID (see the package documentation, Cluster identity): every
	// unit of one cluster sends the same tag, derived from the cluster's
	// key and name (see ClusterTag).
	ClusterTag uint32
	// UnitID identifies the sending unit within the cluster; 0 is invalid.
	UnitID uint16
	// Role is the sender's advertised role.
	Role hakit.Role
	// Interface identifies the sending interface on the sender (its index in
	// the sender's list of critical interfaces).
	Interface uint16
	// Epoch identifies one start of the sender; it must grow from one start
	// to the next (e.g. the start time in nanoseconds). A receiver rejects
	// frames of an epoch older than the newest it has accepted.
	Epoch uint64
	// Seq is the sequence number of the sender's send round, from 1,
	// increasing by one per round within an epoch. A round is one frame on
	// every interface, all with the same Seq, so a receiver compares frames
	// of different interfaces by it (see Heard); on each interface Seq
	// still grows by one per frame.
	Seq uint64
	// Nonce is the sender's nonce: a random number drawn at each start of
	// the sender (a Machine draws its own), 0 for none.
	Nonce uint64
	// Echo is the nonce of one peer the sender heard (the newest start of
	// that peer it knows), 0 for none. A receiver takes a peer's start as
	// live only from a frame echoing the receiver's own nonce: a frame
	// recorded before the receiver started cannot (see the package
	// documentation, Replays across restarts).
	Echo uint64
	// Interval is the sender's heartbeat interval, carried in whole
	// microseconds (0 to about 71 minutes).
	Interval time.Duration
	// Addr is the sender's own address on the sending interface, or the zero
	// Addr. A receiver probes it during Early Interface Failure Detection.
	// It must have no zone.
	Addr netip.Addr
	// Payload is opaque caller data (at most MaxPayload bytes) that
	// heartbeat carries and does not interpret. UnmarshalBinary copies it,
	// reusing the slice's capacity; an empty payload decodes as nil.
	Payload []byte
	// KeyID is the ID of the key that authenticates the frame, or 0 for an
	// unauthenticated frame (no tag on the wire).
	KeyID uint8
	// Tag is the truncated HMAC-SHA256 of the frame, present on the wire
	// when KeyID is not 0. A Sealer computes and checks it.
	Tag [TagLen]byte
}

// Len returns the length of f's encoding, without Ethernet padding.
func (f *Frame) Len() int {
	n := HeaderLen + f.addrLen() + len(f.Payload)
	if f.KeyID != 0 {
		n += TagLen
	}
	return n
}

func (f *Frame) addrLen() int {
	switch {
	case f.Addr.Is4():
		return 4
	case f.Addr.IsValid():
		return 16
	}
	return 0
}

func (f *Frame) check() error {
	switch {
	case f.UnitID == 0:
		return fmt.Errorf("heartbeat: unit ID 0: %w", ErrMalformed)
	case !f.Role.Valid():
		return fmt.Errorf("heartbeat: invalid role %d: %w", f.Role, ErrMalformed)
	case len(f.Payload) > MaxPayload:
		return fmt.Errorf("heartbeat: payload of %d bytes exceeds %d: %w", len(f.Payload), MaxPayload, ErrTooLarge)
	case f.Interval < 0 || f.Interval > maxInterval || f.Interval%time.Microsecond != 0:
		return fmt.Errorf("heartbeat: interval %v is not a whole number of microseconds in [0, %v]: %w", f.Interval, maxInterval, ErrMalformed)
	case f.Addr.Zone() != "":
		return fmt.Errorf("heartbeat: address %v has a zone: %w", f.Addr, ErrMalformed)
	}
	return nil
}

// AppendBinary appends the encoding of f to b. It writes f.Tag as it is: use
// a Sealer to compute it.
func (f *Frame) AppendBinary(b []byte) ([]byte, error) {
	if err := f.check(); err != nil {
		return b, err
	}
	al := f.addrLen()
	b = append(b, Version, byte(f.Role), f.KeyID, byte(al))
	b = binary.BigEndian.AppendUint16(b, f.ClusterID)
	b = binary.BigEndian.AppendUint16(b, f.UnitID)
	b = binary.BigEndian.AppendUint16(b, f.Interface)
	b = binary.BigEndian.AppendUint16(b, uint16(len(f.Payload)))
	b = binary.BigEndian.AppendUint32(b, uint32(f.Interval/time.Microsecond))
	b = binary.BigEndian.AppendUint64(b, f.Epoch)
	b = binary.BigEndian.AppendUint64(b, f.Seq)
	b = binary.BigEndian.AppendUint32(b, f.ClusterTag)
	b = binary.BigEndian.AppendUint64(b, f.Nonce)
	b = binary.BigEndian.AppendUint64(b, f.Echo)
	switch al {
	case 4:
		a := f.Addr.As4()
		b = append(b, a[:]...)
	case 16:
		a := f.Addr.As16()
		b = append(b, a[:]...)
	}
	b = append(b, f.Payload...)
	if f.KeyID != 0 {
		b = append(b, f.Tag[:]...)
	}
	return b, nil
}

// MarshalBinary returns the encoding of f.
func (f *Frame) MarshalBinary() ([]byte, error) {
	return f.AppendBinary(make([]byte, 0, f.Len()))
}

// encodedLen parses the length-determining fields of an encoded frame and
// returns the frame's length without padding.
func encodedLen(b []byte) (int, error) {
	if len(b) < HeaderLen {
		return 0, io.ErrUnexpectedEOF
	}
	if b[0] != Version {
		return 0, fmt.Errorf("heartbeat: frame version %d, want %d: %w", b[0], Version, ErrVersion)
	}
	al := int(b[3])
	if al != 0 && al != 4 && al != 16 {
		return 0, fmt.Errorf("heartbeat: address length %d: %w", al, ErrMalformed)
	}
	pl := int(binary.BigEndian.Uint16(b[10:12]))
	if pl > MaxPayload {
		return 0, fmt.Errorf("heartbeat: payload of %d bytes exceeds %d: %w", pl, MaxPayload, ErrTooLarge)
	}
	n := HeaderLen + al + pl
	if b[2] != 0 {
		n += TagLen
	}
	if len(b) < n {
		return 0, io.ErrUnexpectedEOF
	}
	if err := checkPadding(b, n, "frame"); err != nil {
		return 0, err
	}
	return n, nil
}

// checkPadding checks that only Ethernet padding (zeros, up to
// MinEthernetPayload bytes in all) follows the n-byte message (what) at
// the start of b.
func checkPadding(b []byte, n int, what string) error {
	if len(b) <= n {
		return nil
	}
	if len(b) > MinEthernetPayload {
		return fmt.Errorf("heartbeat: %d bytes after a %d-byte %s: %w", len(b)-n, n, what, ErrMalformed)
	}
	for _, c := range b[n:] {
		if c != 0 {
			return fmt.Errorf("heartbeat: non-zero padding after a %d-byte %s: %w", n, what, ErrMalformed)
		}
	}
	return nil
}

// UnmarshalBinary decodes one frame from b, which may carry zero padding up
// to MinEthernetPayload bytes. It returns io.ErrUnexpectedEOF when b is
// short, and an error wrapping ErrVersion, ErrMalformed or ErrTooLarge for a
// bad version, inconsistent fields, or trailing bytes. It copies the payload
// into f.Payload's storage and does not retain b. On error f is unchanged.
func (f *Frame) UnmarshalBinary(b []byte) error {
	n, err := encodedLen(b)
	if err != nil {
		return err
	}
	role := hakit.Role(b[1])
	if !role.Valid() {
		return fmt.Errorf("heartbeat: invalid role %d: %w", b[1], ErrMalformed)
	}
	if binary.BigEndian.Uint16(b[6:8]) == 0 {
		return fmt.Errorf("heartbeat: unit ID 0: %w", ErrMalformed)
	}
	al := int(b[3])
	pl := int(binary.BigEndian.Uint16(b[10:12]))
	var addr netip.Addr
	switch al {
	case 4:
		addr = netip.AddrFrom4([4]byte(b[HeaderLen : HeaderLen+4]))
	case 16:
		addr = netip.AddrFrom16([16]byte(b[HeaderLen : HeaderLen+16]))
	}
	f.Role = role
	f.KeyID = b[2]
	f.ClusterID = binary.BigEndian.Uint16(b[4:6])
	f.UnitID = binary.BigEndian.Uint16(b[6:8])
	f.Interface = binary.BigEndian.Uint16(b[8:10])
	f.Interval = time.Duration(binary.BigEndian.Uint32(b[12:16])) * time.Microsecond
	f.Epoch = binary.BigEndian.Uint64(b[16:24])
	f.Seq = binary.BigEndian.Uint64(b[24:32])
	f.ClusterTag = binary.BigEndian.Uint32(b[32:36])
	f.Nonce = binary.BigEndian.Uint64(b[36:44])
	f.Echo = binary.BigEndian.Uint64(b[44:52])
	f.Addr = addr
	p := b[HeaderLen+al : HeaderLen+al+pl]
	if len(p) == 0 {
		f.Payload = nil
	} else {
		f.Payload = append(f.Payload[:0], p...)
	}
	if f.KeyID != 0 {
		f.Tag = [TagLen]byte(b[n-TagLen : n])
	} else {
		f.Tag = [TagLen]byte{}
	}
	return nil
}
