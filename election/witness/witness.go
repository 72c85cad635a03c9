package witness

import (
	"context"
	"errors"
	"time"
)

// Witness is an outside arbiter that lets at most one unit of a cluster hold
// a lease at a time. The election polls Status (see the package
// documentation for what it does with it) and asks for the lease with
// Acquire and gives it up with Release. Implementations are safe for
// concurrent use.
type Witness interface {
	// Status returns what the witness knows now. It is cheap and does not
	// block on the arbiter: call it on every decision. Held is computed
	// from the clock at the call, so it turns false at Until even if no
	// renewal attempt has run since.
	Status() Status
	// Acquire makes this unit contend for the lease from now until
	// Release: the witness takes the lease whenever it is free and renews
	// it in the background while it holds it. Acquire makes one attempt at
	// once and returns the status after it, with the attempt's error (the
	// arbiter unreachable, or ctx done); contending goes on whatever it
	// returns. Called while already contending, it returns at once.
	Acquire(ctx context.Context) (Status, error)
	// Release stops contending. If this unit holds the lease, Held turns
	// false before Release talks to the arbiter, and the arbiter is told
	// to end the lease so another unit can take it at once; if that fails
	// (the error is returned), the lease ends by itself after its TTL.
	Release(ctx context.Context) error
}

// Status is what a Witness knows at one moment.
type Status struct {
	// Held reports that this unit holds the lease now: it acquired it and
	// the arbiter confirmed a renewal recently enough that no other unit
	// can hold it (see Until).
	Held bool
	// Token is the fencing token of this unit's latest tenure: every
	// tenure, of any unit, gets a token larger than every earlier one. It
	// is set when this unit acquires the lease and kept after the tenure
	// ends, until the next one replaces it; 0 before the first. Pass it
	// with every write the holder makes to shared state (an Announcer's
	// cloud call), so the state refuses a write whose token is lower than
	// one it has seen (see the package example).
	Token uint64
	// Until is when Held turns false unless a renewal succeeds before:
	// the start of the last acquisition or renewal the arbiter confirmed,
	// plus the TTL, minus the margin. The arbiter keeps the lease for at
	// least the TTL after that start, so no other unit holds it before
	// Until plus the margin. Zero when not Held.
	Until time.Time
	// Reachable reports that the last call to the arbiter was answered.
	Reachable bool
	// Holder is the unit holding the lease as last seen: this unit's ID
	// while Held, 0 when the lease is free, unknown, or held by something
	// that is not a unit (see Reason).
	Holder uint16
	// Reason says in words why Held is what it is, for logs and status
	// pages: "holding the lease (token 57)", "held by unit 2 (token 58)",
	// "witness unreachable: …".
	Reason string
	// Since is when Held, Reachable or Holder last changed.
	Since time.Time
}

var (
	// ErrLost is wrapped by a Store's errors for a tenure that has ended
	// at the arbiter: the lease expired, was revoked, or is held by
	// another.
	ErrLost = errors.New("lease lost")
	// ErrClosed is returned by the methods of a closed Driver.
	ErrClosed = errors.New("witness closed")
)
