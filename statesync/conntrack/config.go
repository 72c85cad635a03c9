package conntrack

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/statesync"
)

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
	// is checked against the kernel at each refresh (default 3 s, or 3 ×
	// Refresh if longer); it must exceed Refresh. It bounds how stale a live flow's replicated
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
	// Guard is what an Injector checks of each session before it writes
	// it (nil: the zero Guard: no loopback addresses, timeouts capped at
	// the kernel's, marks cleared). Refused sessions are counted
	// (InjectorStats.Refused) and skipped.
	Guard *Guard
}

// DefaultConfig returns the defaults, each with its reason.
func DefaultConfig() *Config {
	return &Config{
		// Bursts of tens of thousands of new flows a second fit while the
		// reader catches up.
		ReadBuffer: 8 << 20,
		// Three refreshes fit in RefreshAhead: a busy flow is looked up
		// twice before its replicated deadline could pass.
		Refresh: time.Second,
		// Longer than a failover takes (heartbeat verdict, commit): a
		// live flow's replicated deadline is still ahead when the standby
		// takes over.
		RefreshAhead: 3 * time.Second,
		// The kernel's established TCP timeout.
		DefaultTimeout: 5 * 24 * time.Hour,
		// Covers a cold commit of a million sessions (a few seconds), the
		// announcement and the first packets, with room to spare; an idle
		// flow outlives its deadline by this much at most.
		Grace: 30 * time.Second,
	}
}

// Validate reports an invalid configuration, as an error wrapping
// hakit.ErrConfig. Zero fields are taken as their defaults.
func (c *Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.ReadBuffer < 0:
		return fmt.Errorf("conntrack: ReadBuffer %d is negative: %w", d.ReadBuffer, hakit.ErrConfig)
	case d.Refresh > 0 && d.RefreshAhead <= d.Refresh:
		return fmt.Errorf("conntrack: RefreshAhead %v must exceed Refresh %v, or busy flows' deadlines pass between two refreshes: %w",
			d.RefreshAhead, d.Refresh, hakit.ErrConfig)
	case d.DefaultTimeout < 0:
		return fmt.Errorf("conntrack: DefaultTimeout %v is negative: %w", d.DefaultTimeout, hakit.ErrConfig)
	}
	return d.Rules.Validate()
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *Config) withDefaults() Config {
	def := DefaultConfig()
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
		d.ReadBuffer = def.ReadBuffer
	}
	if d.Refresh == 0 {
		d.Refresh = def.Refresh
	}
	if d.RefreshAhead == 0 {
		d.RefreshAhead = max(3*d.Refresh, def.RefreshAhead)
	}
	if d.DefaultTimeout == 0 {
		d.DefaultTimeout = def.DefaultTimeout
	}
	if d.Grace == 0 {
		d.Grace = def.Grace
	}
	return d
}

// keep reports whether the configuration selects s.
func (c *Config) keep(s *statesync.Session) bool {
	return c.Rules.Match(s) && (c.Filter == nil || c.Filter(s))
}
