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
	body := b[start : len(b)-TagLen]
	copy(f.Tag[:], s.mac.Tag(f.KeyID, s.etherType[:], body))
	copy(b[len(b)-TagLen:], f.Tag[:])
	return b, nil
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
	id := b[2]
	switch {
	case id == 0:
		return fmt.Errorf("heartbeat: unauthenticated frame: %w", ErrAuth)
	case !s.mac.Known(id):
		return fmt.Errorf("heartbeat: unknown key ID %d: %w", id, ErrAuth)
	case !s.mac.Verify(id, s.etherType[:], b[:n-TagLen], b[n-TagLen:n]):
		return fmt.Errorf("heartbeat: bad tag for key ID %d: %w", id, ErrAuth)
	}
	return nil
}
