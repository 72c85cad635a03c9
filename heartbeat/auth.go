package heartbeat

import (
	"encoding/binary"
	"fmt"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/auth"
)

// authInfo names the heartbeat subkeys: each key of a Keyring is turned
// into the heartbeat key with HKDF-SHA256 and this info string.
const authInfo = "hakit heartbeat v1"

// Sealer authenticates heartbeat frames with the keys of a hakit.Keyring:
// HMAC-SHA256 truncated to TagLen bytes, keyed with the key's heartbeat
// subkey (HKDF-SHA256 of the secret, info "hakit heartbeat v1") and computed
// over the frame's EtherType (2 bytes, big endian) followed by every byte of
// the encoded frame before the tag. It seals with the ring's primary key and
// accepts every key the ring holds, reading the ring on every call, so a
// rotation (hakit.Keyring.Set) takes effect at the next frame.
//
// A Machine has its own Sealer; use one to build or check frames outside a
// Machine. A Sealer keeps one resettable HMAC state per key so that sealing
// and verifying do not allocate; it is not safe for concurrent use.
type Sealer struct {
	etherType [2]byte
	mac       *auth.MAC
}

// NewSealer returns a Sealer for frames of the given EtherType over ring,
// which must not be nil.
func NewSealer(ring *hakit.Keyring, etherType uint16) *Sealer {
	s := &Sealer{mac: auth.New(ring, authInfo)}
	binary.BigEndian.PutUint16(s.etherType[:], etherType)
	return s
}

// Seal sets f.KeyID to the primary key's ID, appends f's encoding to dst with
// its tag computed, stores the tag in f.Tag, and returns the extended slice.
func (s *Sealer) Seal(dst []byte, f *Frame) ([]byte, error) {
	f.KeyID = s.mac.Primary()
	start := len(dst)
	b, err := f.AppendBinary(dst)
	if err != nil {
		return dst, err
	}
	s.tag(b[start:], f.KeyID, &f.Tag)
	return b, nil
}

// tag computes the tag of the encoded message b (its last TagLen bytes
// the tag's place) under key id, and stores it in both.
func (s *Sealer) tag(b []byte, id uint8, tag *[TagLen]byte) {
	copy(tag[:], s.mac.Tag(id, s.etherType[:], b[:len(b)-TagLen]))
	copy(b[len(b)-TagLen:], tag[:])
}

// Verify checks the tag of the encoded frame b (padding allowed). It returns
// an error wrapping ErrAuth if the frame is unauthenticated, names a key the
// ring does not hold, or its tag does not match (compared in constant time),
// and a decoding error if b is not a frame.
func (s *Sealer) Verify(b []byte) error {
	n, err := encodedLen(b)
	if err != nil {
		return err
	}
	if b[2] == 0 {
		return fmt.Errorf("heartbeat: unauthenticated frame: %w", ErrAuth)
	}
	return s.verify(b[2], b[:n-TagLen], b[n-TagLen:n])
}

// SealEcho sets e.KeyID to the primary key's ID, appends e's encoding to
// dst with its tag computed (over the EtherType and every byte before the
// tag, as for a frame), stores the tag in e.Tag, and returns the extended
// slice. The first byte of an echo differs from a frame's, so a tag of one
// never verifies the other.
func (s *Sealer) SealEcho(dst []byte, e *Echo) ([]byte, error) {
	e.KeyID = s.mac.Primary()
	start := len(dst)
	b, err := e.AppendBinary(dst)
	if err != nil {
		return dst, err
	}
	s.tag(b[start:], e.KeyID, &e.Tag)
	return b, nil
}

// VerifyEcho checks the tag of the encoded echo message b (padding
// allowed), like Verify for a frame.
func (s *Sealer) VerifyEcho(b []byte) error {
	n, err := echoLen(b)
	if err != nil {
		return err
	}
	if b[2] == 0 {
		return fmt.Errorf("heartbeat: unauthenticated echo: %w", ErrAuth)
	}
	return s.verify(b[2], b[:n-TagLen], b[n-TagLen:n])
}

// verify checks the tag of body under key id.
func (s *Sealer) verify(id uint8, body, tag []byte) error {
	switch {
	case !s.mac.Known(id):
		return fmt.Errorf("heartbeat: unknown key ID %d: %w", id, ErrAuth)
	case !s.mac.Verify(id, s.etherType[:], body, tag):
		return fmt.Errorf("heartbeat: bad tag for key ID %d: %w", id, ErrAuth)
	}
	return nil
}
