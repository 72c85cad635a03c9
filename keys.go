package hakit

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// MinKeyLen is the shortest secret a Key accepts: 128 bits.
const MinKeyLen = 16

// Key is one shared secret of a cluster.
type Key struct {
	// ID names the key on the wire, so that a receiver knows which key
	// sealed a frame: 1 to 255 (0 marks an unauthenticated frame).
	ID uint8
	// Secret is the shared secret: at least MinKeyLen bytes, not all zero.
	Secret []byte
}

// Keyring holds the shared keys that authenticate what the units of a
// cluster send each other: heartbeats and session sync take the same
// *Keyring. The primary key seals; every key verifies, so that two keys
// overlap while they are rotated.
//
// Each protocol derives its own subkey from each secret with HKDF-SHA256
// (RFC 5869, the protocol's name as the info string), so one shared secret
// never keys two protocols and a tag of one protocol is worthless in
// another.
//
// Keys are rotated at runtime, without a restart and without losing a
// frame, in three steps, each done on every unit before the next begins:
//
//	ring.Set(old, next) // every unit accepts the new key
//	ring.Set(next, old) // every unit seals with it
//	ring.Set(next)      // the old key is dropped
//
// A Keyring is safe for concurrent use; the protocols read it on every frame
// without locking (an atomic load) and rebuild their keyed state only when
// Set changed it.
type Keyring struct {
	mu  sync.Mutex // serialises Set
	cur atomic.Pointer[keySet]
}

type keySet struct {
	gen  uint64
	keys []Key // the primary first; secrets are copies
}

// NewKeyring returns a Keyring sealing with primary and verifying with
// primary and others. It refuses (with an error wrapping ErrConfig) a key ID
// of 0, two keys with the same ID, a secret shorter than MinKeyLen and a
// secret of zeros only.
func NewKeyring(primary Key, others ...Key) (*Keyring, error) {
	k := &Keyring{}
	if err := k.Set(primary, others...); err != nil {
		return nil, err
	}
	return k, nil
}

// Set replaces the keys: primary seals from now on, and primary and others
// verify. On error (see NewKeyring) the keys are unchanged. See Keyring for
// the order in which a cluster rotates its keys.
func (k *Keyring) Set(primary Key, others ...Key) error {
	keys := make([]Key, 0, 1+len(others))
	var seen [256]bool
	for _, key := range append([]Key{primary}, others...) {
		switch {
		case key.ID == 0:
			return fmt.Errorf("hakit: key ID 0 is reserved for unauthenticated frames: %w", ErrConfig)
		case seen[key.ID]:
			return fmt.Errorf("hakit: duplicate key ID %d: %w", key.ID, ErrConfig)
		case len(key.Secret) < MinKeyLen:
			return fmt.Errorf("hakit: key %d is %d bytes, want at least %d: %w", key.ID, len(key.Secret), MinKeyLen, ErrConfig)
		case allZero(key.Secret):
			return fmt.Errorf("hakit: key %d is all zeros: %w", key.ID, ErrConfig)
		}
		seen[key.ID] = true
		keys = append(keys, Key{ID: key.ID, Secret: append([]byte(nil), key.Secret...)})
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var gen uint64
	if s := k.cur.Load(); s != nil {
		gen = s.gen
	}
	k.cur.Store(&keySet{gen: gen + 1, keys: keys})
	return nil
}

// Generation returns a number that changes on every Set: the protocols
// compare it (one atomic load) to know when to rebuild their keyed state.
func (k *Keyring) Generation() uint64 { return k.cur.Load().gen }

// Keys returns copies of the keys, the primary first.
func (k *Keyring) Keys() []Key {
	s := k.cur.Load()
	out := make([]Key, len(s.keys))
	for i, key := range s.keys {
		out[i] = Key{ID: key.ID, Secret: append([]byte(nil), key.Secret...)}
	}
	return out
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
