package witness

import (
	"context"
	"time"
)

// Store is one unit's handle on a lease arbiter: an etcd key (package
// election/witness/etcd), a Kubernetes Lease (election/witness/kube) or
// Memory. A Driver turns a Store into a Witness: it decides when to call
// which method, keeps the time, and computes Held. A Driver calls one
// method at a time.
//
// A tenure is one unit's uninterrupted holding of the lease. A Store must
// guarantee:
//   - exclusion: at most one tenure at a time, across all units' Stores;
//   - duration: after the start of an Acquire that returns Mine, or of a
//     Renew that succeeds, no other tenure begins for at least ttl;
//   - tokens: each tenure has one token, larger than the token of every
//     earlier tenure;
//   - no resurrection: a tenure that ended (Renew returned ErrLost, or
//     Release was called) is never continued: the next Acquire that
//     returns Mine begins a new tenure with a new token.
type Store interface {
	// Acquire tries once to take the lease for ttl: when it is free it
	// begins a tenure; when this Store's current tenure holds it, it
	// extends it. It returns the lease as it stands after the call.
	Acquire(ctx context.Context, ttl time.Duration) (Lease, error)
	// Renew extends this Store's current tenure by ttl. An error wrapping
	// ErrLost means the tenure has ended at the arbiter (the returned
	// Lease then describes the lease as it stands, if known); any other
	// error means the arbiter could not be asked.
	Renew(ctx context.Context, ttl time.Duration) (Lease, error)
	// Release ends this Store's current tenure, if any, so another unit
	// can take the lease at once. Without a tenure it does nothing.
	Release(ctx context.Context) error
}

// Waiter is implemented by Stores that can wait for the lease to change
// hands, so a contending unit takes a lease the moment it is released or
// expires instead of at its next attempt.
type Waiter interface {
	// Wait returns when the lease last seen by Acquire may have changed
	// (released, expired, rewritten), reporting true, or when ctx is done or
	// it cannot wait, reporting false.
	Wait(ctx context.Context) (changed bool)
}

// Lease is the lease as a Store saw it in one call.
type Lease struct {
	// Mine reports that this Store's current tenure holds the lease.
	Mine bool
	// Holder is the unit holding the lease, 0 when it is free or held by
	// something that is not a unit (Identity then says what).
	Holder uint16
	// Identity is the holder as stored at the arbiter ("" when free).
	Identity string
	// Token is the holder's fencing token (0 when free).
	Token uint64
}
