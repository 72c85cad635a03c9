package auth

import (
	"crypto/rand"
	"encoding/binary"
)

// Nonce returns 64 random bits, never 0 (0 is "no nonce" on the wire of
// the protocols that carry one): the nonce of one start of a protocol's
// receiver, which its peers echo to show that a frame was made after it.
func Nonce() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if n := binary.BigEndian.Uint64(b[:]); n != 0 {
			return n
		}
	}
}
