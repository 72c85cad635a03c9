package conntrack

import (
	"errors"
	"log/slog"
	"time"

	"github.com/hakit/hakit/statesync"
)

// Errors wrapped by the errors this package returns.
var (
	// ErrNotSupported is returned on systems without netfilter conntrack.
	ErrNotSupported = errors.New("conntrack: not supported on this system")
	// ErrUnsupportedFlow reports a flow or session that cannot be
	// converted (another protocol, mixed address families, a template).
	ErrUnsupportedFlow = errors.New("conntrack: unsupported flow")
	// ErrExpired reports a session whose deadline has passed, with no
	// grace period configured (Config.Grace < 0): injecting it would
	// create an entry the kernel times out at once.
	ErrExpired = errors.New("conntrack: session expired")
)

// IP protocol numbers.
const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoDCCP    = 33
	protoICMPv6  = 58
	protoSCTP    = 132
	protoUDPLite = 136
)

func hasPorts(proto uint8) bool {
	switch proto {
	case protoTCP, protoUDP, protoDCCP, protoSCTP, protoUDPLite:
		return true
	}
	return false
}

func isICMP(proto uint8) bool { return proto == protoICMP || proto == protoICMPv6 }

// icmpReplyType returns the ICMP type of the reply to a query of type t
// (the kernel's invmap in nf_conntrack_proto_icmp{,v6}.c), and whether t is
// a query conntrack tracks.
func icmpReplyType(proto, t uint8) (uint8, bool) {
	if proto == protoICMP {
		switch t {
		case 8: // echo → echo reply
			return 0, true
		case 0:
			return 8, true
		case 13, 15, 17: // timestamp, info, address mask
			return t + 1, true
		case 14, 16, 18:
			return t - 1, true
		}
		return 0, false
	}
	switch t {
	case 128, 139: // echo request, node information query
		return t + 1, true
	case 129, 140:
		return t - 1, true
	}
	return 0, false
}

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
	// Rules, if not nil, selects the sessions a Follower keeps by
	// protocol, address and TCP state, as conntrackd's Filter section.
	Rules *Rules
	// Filter, if not nil, is asked after Rules (for example to keep only
	// a zone). A session that stops passing Rules or Filter (a TCP state
	// left the accepted set) is removed from the table.
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
	// Refresh is how often a Follower looks for busy flows whose
	// replicated deadline is near (default 1 s; negative disables; see
	// the package doc). The kernel pushes a flow's timeout forward with
	// every packet without telling anyone, so the deadline of a session
	// is only as fresh as its last event.
	Refresh time.Duration
	// RefreshAhead: a session whose deadline is less than this far ahead
	// is checked against the kernel at each refresh (default 3 × Refresh,
	// at least 3 s). It bounds how stale a live flow's replicated
	// deadline gets: it stays at least RefreshAhead − Refresh in the
	// future while the flow lives.
	RefreshAhead time.Duration
	// DefaultTimeout is the timeout given to injected sessions that never
	// expire (Expires 0) (default 5 days, the kernel's established TCP
	// timeout).
	DefaultTimeout time.Duration
	// Grace is added to the time left of every session an Injector
	// writes, and is the whole timeout of a session whose deadline has
	// passed (default 30 s; negative: none, and such sessions are skipped
	// and counted as Expired). It covers the time between the write and
	// the first packet through this unit (a cold commit of a large table,
	// the announcement, the failover itself), and a busy flow whose last
	// refresh was due when the active unit died. Traffic resets an
	// entry's timeout to the kernel's own at its first packet, so only
	// flows that are really idle keep it: they end that much later.
	Grace time.Duration
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
	if d.Refresh == 0 {
		d.Refresh = time.Second
	}
	if d.RefreshAhead == 0 {
		d.RefreshAhead = max(3*d.Refresh, 3*time.Second)
	}
	if d.DefaultTimeout == 0 {
		d.DefaultTimeout = 5 * 24 * time.Hour
	}
	if d.Grace == 0 {
		d.Grace = 30 * time.Second
	}
	return d
}

// keep reports whether the configuration selects s.
func (c *Config) keep(s *statesync.Session) bool {
	return c.Rules.Match(s) && (c.Filter == nil || c.Filter(s))
}

// FollowerStats counts what a Follower did.
type FollowerStats struct {
	Dumped    uint64 // flows read by dumps (the first, and each Resync)
	Dumps     uint64 // dumps done
	New       uint64 // NEW events
	Updates   uint64 // UPDATE events
	Destroys  uint64 // DESTROY events
	Upserts   uint64 // sessions written to the table
	Deletes   uint64 // sessions removed from the table
	Stale     uint64 // table entries a dump did not contain, removed
	Skipped   uint64 // flows not converted (protocol, template, dying)
	Filtered  uint64 // flows Rules or Filter rejected
	Overruns  uint64 // times the kernel reported lost events (ENOBUFS)
	OtherErrs uint64 // other event socket errors
	// Checked counts sessions near their deadline looked up in the
	// kernel by the refresh; Refreshed those the kernel had kept alive
	// (upserted with its new deadline); Vanished those it no longer had
	// (deleted: their DESTROY event was lost).
	Checked, Refreshed, Vanished uint64
}

// InjectorStats counts what an Injector did.
type InjectorStats struct {
	// Injected counts sessions written into the kernel: created, or
	// updated when the kernel had them.
	Injected uint64
	// Updated counts, of those, existing entries the kernel would not
	// rewrite whole and that were updated in place: their tuples and NAT
	// bindings cannot change, nor can SEEN_REPLY or ASSURED be cleared.
	Updated     uint64
	InjectedNAT uint64 // sessions written with NAT bindings
	// Revived counts sessions whose deadline had passed, written with
	// Config.Grace as their timeout: usually a busy flow whose last
	// conntrack event is old.
	Revived uint64
	Deleted uint64 // entries deleted
	Expired uint64 // sessions skipped because their deadline passed (Grace < 0)
	Skipped uint64 // sessions that cannot be converted
	Failed  uint64 // sessions the kernel refused
	Batches uint64 // netlink batches sent (many requests per system call)
	// Followed counts the changes Follow wrote as they arrived; Tail
	// those the last Commit of a followed table had left to write.
	Followed, Tail uint64
}
