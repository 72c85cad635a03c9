package statesync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrStaleNonce: with keys, an authentic datagram of a stream the
// receiver does not follow yet, that does not echo the receiver's nonce: it
// may have been recorded before the receiver started (see the package
// documentation, Replays across restarts). The receiver tells the sender
// its nonce in its next acknowledgement, and the sender starts a new stream
// that echoes it.
var ErrStaleNonce = errors.New("stream does not echo the receiver's nonce")

// fresh checks, with keys, that a data or probe datagram h of a stream
// newer than the one followed (or the first) echoes this Receiver's nonce:
// only a sender that heard this Receiver's acknowledgements can have made
// it. Otherwise it returns an error wrapping ErrStaleNonce and makes an
// acknowledgement due (at most one per NackInterval) that carries the
// nonce. Without keys anything can be forged, and nothing is checked.
func (r *Receiver) fresh(h header) error {
	if r.fr.mac == nil || h.Epoch <= r.epoch || h.Nonce == r.nonce {
		return nil
	}
	r.hello = true
	return fmt.Errorf("statesync: stream %d does not echo this receiver's nonce (recorded before it started, or the sender has not heard it yet): %w",
		h.Epoch, ErrStaleNonce)
}

// learnNonce takes the nonce of an accepted acknowledgement (of the
// receiver's stream ackEpoch): a new one is a new Receiver, which follows
// no stream this Sender can continue, and unless it already follows the
// current one, a new stream starts, echoing the nonce (it reports whether
// it did). That is a resync (counted, with an event) when another nonce
// was known before: the receiver restarted.
func (s *Sender) learnNonce(now time.Time, nonce, ackEpoch uint64) bool {
	if nonce == s.peerNonce {
		return false
	}
	first := s.peerNonce == 0
	s.peerNonce = nonce
	if ackEpoch == s.epoch {
		return false
	}
	if first {
		// Like the first stream, not a resync: first contact.
		s.newStream(now, "")
	} else {
		s.newStream(now, "the receiver restarted")
	}
	return true
}

// putNonce sets the nonce field of the datagram b begun by framer.begin.
func putNonce(b []byte, nonce uint64) { binary.BigEndian.PutUint64(b[32:40], nonce) }
