package conntrack

import (
	"errors"
	"log/slog"
	"time"

	"github.com/hakit/hakit/statesync"
)

// Errors wrapped by the errors this package returns. On systems without
// netfilter conntrack every call returns an error wrapping
// errors.ErrUnsupported.
var (
	// ErrUnsupportedFlow reports a flow or session that cannot be converted
	// (another protocol, mixed address families, a template).
	ErrUnsupportedFlow = errors.New("conntrack: unsupported flow")
	// ErrExpired reports a session whose deadline has passed: injecting
	// it would create an entry the kernel times out at once.
	ErrExpired = errors.New("conntrack: session expired")
)

// Sink receives a Follower's changes. *statesync.Table implements it, and
// so does *statesync.Driver, which stores each change in its table and
// sends it to the peer.
type Sink interface {
	Upsert(s statesync.Session) statesync.Session
	Delete(k statesync.Key) (statesync.Session, bool)
}

// Config configures a Follower or an Injector. A nil *Config means the
// defaults.
type Config struct {
	// Logger receives errors and skipped flows; nil discards.
	Logger *slog.Logger
	// Now returns the current time, used to turn the kernel's relative
	// timeouts into Session.Expires and back (default time.Now).
	Now func() time.Time
	// Filter, if not nil, selects the sessions a Follower keeps (for
	// example a zone); others are skipped without being counted as bad.
	Filter func(*statesync.Session) bool
	// Sink, if not nil, is where a Follower writes its changes instead of
	// the table: a *statesync.Driver over the same table, so that every
	// change is also replicated. The Follower still reads the table.
	Sink Sink
	// OnChange, if not nil, is called by Follower.Run on its goroutine
	// after each change it made to the table: s is the session as stored
	// (with its new version), or the removed one when deleted is true. It
	// should not block for long: the kernel drops events a slow reader
	// does not collect (Stats.Overruns).
	OnChange func(s statesync.Session, deleted bool)
	// ReadBuffer is the receive buffer of the event socket, in bytes
	// (default 8 MiB), so that bursts of events are not lost.
	ReadBuffer int
	// DefaultTimeout is the timeout given to injected sessions that never
	// expire (Expires 0) (default 5 days, the kernel's established TCP
	// timeout).
	DefaultTimeout time.Duration
	// Guard is what an Injector checks of each session before it writes
	// it (nil: the zero Guard: no loopback addresses, timeouts capped at
	// the kernel's, marks cleared). Refused sessions are counted
	// (InjectorStats.Refused) and skipped.
	Guard *Guard
}

func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.ReadBuffer == 0 {
		d.ReadBuffer = 8 << 20
	}
	if d.DefaultTimeout == 0 {
		d.DefaultTimeout = 5 * 24 * time.Hour
	}
	return d
}

// FollowerStats counts what a Follower did.
type FollowerStats struct {
	Dumped    uint64 // flows read by the initial dump
	New       uint64 // NEW events
	Updates   uint64 // UPDATE events
	Destroys  uint64 // DESTROY events
	Upserts   uint64 // sessions written to the table
	Deletes   uint64 // sessions removed from the table
	Stale     uint64 // table entries the dump did not contain, removed
	Skipped   uint64 // flows not converted (protocol, template, dying)
	Filtered  uint64 // flows Config.Filter rejected
	Overruns  uint64 // times the kernel reported lost events (ENOBUFS)
	OtherErrs uint64 // other event socket errors
}

// InjectorStats counts what an Injector did.
type InjectorStats struct {
	Created     uint64 // entries created in the kernel
	Updated     uint64 // existing entries updated
	InjectedNAT uint64 // of those, sessions created or updated with NAT bindings
	Deleted     uint64 // entries deleted
	Expired     uint64 // sessions skipped because their deadline passed
	Skipped     uint64 // sessions that cannot be converted
	Failed      uint64 // sessions the kernel refused
	Refused     uint64 // sessions the Guard refused
}
