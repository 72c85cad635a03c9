package heartbeat

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
)

// MinKeyLen is the shortest secret a Key accepts (128 bits).
const MinKeyLen = 16

// Key is one shared secret for authenticating heartbeats.
type Key struct {
	// ID names the key on the wire (1 to 255; 0 means unauthenticated).
	ID uint8
	// Secret is the shared secret, at least MinKeyLen bytes.
	Secret []byte
}

// Keyring authenticates frames with HMAC-SHA256 truncated to TagLen bytes,
// computed over the frame's EtherType (2 bytes, big endian) followed by every
// byte of the encoded frame before the tag. It seals with its primary key and
// accepts every key it holds, so that two keys overlap during rotation.
//
// A Keyring keeps one resettable HMAC state per key so that sealing and
// verifying do not allocate; it is not safe for concurrent use.
type Keyring struct {
	etherType [2]byte
	primary   uint8
	keys      [256]hash.Hash
	sum       [sha256.Size]byte
}

// NewKeyring returns a Keyring for frames of the given EtherType. The first
// key is the primary (the one used to seal); all keys are accepted. Key IDs
// must be distinct and non-zero, secrets at least MinKeyLen bytes.
func NewKeyring(etherType uint16, primary Key, others ...Key) (*Keyring, error) {
	k := &Keyring{primary: primary.ID}
	binary.BigEndian.PutUint16(k.etherType[:], etherType)
	for _, key := range append([]Key{primary}, others...) {
		switch {
		case key.ID == 0:
			return nil, fmt.Errorf("heartbeat: key ID 0 is reserved for unauthenticated frames: %w", ErrConfig)
		case len(key.Secret) < MinKeyLen:
			return nil, fmt.Errorf("heartbeat: key %d is %d bytes, want at least %d: %w", key.ID, len(key.Secret), MinKeyLen, ErrConfig)
		case k.keys[key.ID] != nil:
			return nil, fmt.Errorf("heartbeat: duplicate key ID %d: %w", key.ID, ErrConfig)
		}
		k.keys[key.ID] = hmac.New(sha256.New, append([]byte(nil), key.Secret...))
	}
	return k, nil
}

// tag computes the truncated HMAC of body (the frame up to its tag) with h
// into k.sum.
func (k *Keyring) tag(h hash.Hash, body []byte) []byte {
	h.Reset()
	h.Write(k.etherType[:])
	h.Write(body)
	return h.Sum(k.sum[:0])[:TagLen]
}

// Seal sets f.KeyID to the primary key's ID, appends f's encoding to dst with
// its tag computed, stores the tag in f.Tag, and returns the extended slice.
func (k *Keyring) Seal(dst []byte, f *Frame) ([]byte, error) {
	f.KeyID = k.primary
	start := len(dst)
	b, err := f.AppendBinary(dst)
	if err != nil {
		return dst, err
	}
	body := b[start : len(b)-TagLen]
	copy(f.Tag[:], k.tag(k.keys[k.primary], body))
	copy(b[len(b)-TagLen:], f.Tag[:])
	return b, nil
}

// Verify checks the tag of the encoded frame b (padding allowed). It returns
// an error wrapping ErrAuth if the frame is unauthenticated, names an unknown
// key, or its tag does not match (compared in constant time), and a decoding
// error if b is not a frame.
func (k *Keyring) Verify(b []byte) error {
	n, err := encodedLen(b)
	if err != nil {
		return err
	}
	id := b[2]
	if id == 0 {
		return fmt.Errorf("heartbeat: unauthenticated frame: %w", ErrAuth)
	}
	h := k.keys[id]
	if h == nil {
		return fmt.Errorf("heartbeat: unknown key ID %d: %w", id, ErrAuth)
	}
	want := k.tag(h, b[:n-TagLen])
	if subtle.ConstantTimeCompare(want, b[n-TagLen:n]) != 1 {
		return fmt.Errorf("heartbeat: bad tag for key ID %d: %w", id, ErrAuth)
	}
	return nil
}
