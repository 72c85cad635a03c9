package heartbeat

import "errors"

// Sentinel errors wrapped by the errors this package returns; test with
// errors.Is. Configuration errors wrap hakit.ErrConfig.
var (
	// ErrVersion reports a frame of an unsupported version.
	ErrVersion = errors.New("unsupported version")
	// ErrMalformed reports a frame whose fields are inconsistent or out of range.
	ErrMalformed = errors.New("malformed frame")
	// ErrTooLarge reports a frame or payload above the documented limits.
	ErrTooLarge = errors.New("frame too large")
	// ErrCluster reports a frame from another cluster.
	ErrCluster = errors.New("frame from another cluster")
	// ErrAuth reports a frame whose authentication failed: unknown key ID,
	// wrong tag, or missing/unexpected authentication.
	ErrAuth = errors.New("authentication failed")
	// ErrReplay reports a frame whose sequence number was already seen in the
	// sender's current epoch.
	ErrReplay = errors.New("replayed frame")
	// ErrStale reports a frame from an earlier start (epoch) of the sender.
	ErrStale = errors.New("stale epoch")
	// ErrStaleNonce reports an authenticated frame of a start of its sender
	// not yet shown to be live: it does not echo this start's nonce, so it
	// may have been recorded before this unit started (see the package
	// documentation, Replays across restarts). A peer's first frames after
	// either unit starts are dropped so too, until the nonces are exchanged.
	ErrStaleNonce = errors.New("stale nonce")
	// ErrClosed reports use of a closed Driver.
	ErrClosed = errors.New("driver closed")
)
