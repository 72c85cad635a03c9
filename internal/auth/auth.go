// Package auth computes and checks the authentication tags of one hakit
// protocol from a hakit.Keyring: HMAC-SHA256 truncated to TagLen bytes,
// keyed with a subkey derived from each shared secret with HKDF-SHA256 and
// the protocol's own info string, so that one secret never keys two
// protocols.
package auth

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"hash"

	"github.com/hakit/hakit"
)

// TagLen is the length of a tag: 128 bits of HMAC-SHA256.
const TagLen = 16

// MAC is one protocol core's keyed state. It keeps a resettable HMAC state
// per key so that sealing and verifying do not allocate, and rebuilds them
// when the Keyring's generation changes (one atomic load per call). It is
// not safe for concurrent use: each core has its own.
type MAC struct {
	ring    *hakit.Keyring
	info    string
	gen     uint64
	primary uint8
	keys    [256]hash.Hash
	sum     [sha256.Size]byte
}

// New returns the MAC of the protocol named info (for example "hakit
// heartbeat v1") over ring, which must not be nil.
func New(ring *hakit.Keyring, info string) *MAC {
	m := &MAC{ring: ring, info: info}
	m.rebuild()
	return m
}

// refresh rebuilds the keyed state if the ring changed.
func (m *MAC) refresh() {
	if m.ring.Generation() != m.gen {
		m.rebuild()
	}
}

func (m *MAC) rebuild() {
	// The generation is read before the keys: a Set in between leaves a
	// generation behind the keys read, and the next call rebuilds again.
	m.gen = m.ring.Generation()
	keys := m.ring.Keys()
	m.keys = [256]hash.Hash{}
	m.primary = keys[0].ID
	for _, k := range keys {
		sub, err := hkdf.Key(sha256.New, k.Secret, nil, m.info, sha256.Size)
		if err != nil {
			panic("auth: HKDF-SHA256 of a 32-byte key: " + err.Error()) // unreachable: 32 bytes is far below its limit
		}
		m.keys[k.ID] = hmac.New(sha256.New, sub)
	}
}

// Primary returns the ID of the key that seals, reading the ring's current
// keys. Compute the tag with Tag right after it, with no Set of the ring
// taken into account in between.
func (m *MAC) Primary() uint8 {
	m.refresh()
	return m.primary
}

// Tag returns the tag of prefix followed by body under key id, or nil if
// the ring (as of the last Primary or Verify) has no such key. The result
// aliases m and is valid until the next call.
func (m *MAC) Tag(id uint8, prefix, body []byte) []byte {
	h := m.keys[id]
	if h == nil {
		return nil
	}
	h.Reset()
	h.Write(prefix)
	h.Write(body)
	return h.Sum(m.sum[:0])[:TagLen]
}

// Known reports whether the ring's current keys include id.
func (m *MAC) Known(id uint8) bool {
	m.refresh()
	return m.keys[id] != nil
}

// Verify reports whether tag is the tag of prefix followed by body under
// the ring's current key id, compared in constant time.
func (m *MAC) Verify(id uint8, prefix, body, tag []byte) bool {
	m.refresh()
	want := m.Tag(id, prefix, body)
	return want != nil && subtle.ConstantTimeCompare(want, tag) == 1
}
