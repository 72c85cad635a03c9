package election

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hakit/hakit"
)

// Config configures a Machine and a Driver. A nil *Config means
// DefaultConfig(), which has no unit ID: Unit must be set. Zero fields take
// their defaults (see DefaultConfig); a duration that should be none (no
// hold-down, ages compared exactly) is set to a nanosecond.
type Config struct {
	// Unit is this unit's ID: nonzero, unique in the cluster, stable across
	// restarts.
	Unit uint16
	// Priority is this unit's preference in the order; higher wins. Zero
	// means the default; 1 is the lowest.
	Priority uint8
	// Override puts priority before age in the order (see Order).
	Override bool
	// AgeMargin is the age difference below which two units count as
	// equally old.
	AgeMargin time.Duration
	// SplitAgeMargin is the age margin used to settle a split brain. A link
	// failure resets a unit's age, so with a margin short enough the unit
	// that had the link failure loses, even if the partition lasted far less
	// than AgeMargin. It must be well above the heartbeat transit time, as
	// units estimate their peers' ages from arrival times.
	SplitAgeMargin time.Duration

	// Interval is the heartbeat interval: how often peers' candidates
	// arrive and how often the caller should call Tick.
	Interval time.Duration
	// DetectTime is how long the heartbeat layer takes to declare a silent
	// peer lost (for example 2 missed heartbeats plus the EIFD window).
	DetectTime time.Duration
	// InitialWait is how long a starting unit listens for peers before it
	// may become primary on its own.
	InitialWait time.Duration

	// Preempt lets a better unit take the primary role from a healthy
	// primary. Without it the primary keeps the role until it fails, loses a
	// monitored interface, or hands over.
	Preempt bool
	// PreemptDelay is how long a unit must be continuously present and
	// better than the primary before it preempts.
	PreemptDelay time.Duration
	// HoldDown is the least time a primary keeps the role before it yields
	// to preemption, so a flapping unit changes the primary at most once per
	// HoldDown.
	HoldDown time.Duration
	// SyncTimeout bounds how long a unit whose session table is not in sync
	// is kept from preempting: after it has been present this long it
	// counts as in sync for preemption.
	SyncTimeout time.Duration
	// HandoverTimeout is how long a yielding primary waits for its successor
	// to declare itself ready before it gives up and keeps the role.
	HandoverTimeout time.Duration

	// Clock drives a Driver's ticks; nil means hakit.RealClock(). A Machine
	// does not use it.
	Clock hakit.Clock
	// Logger receives role changes and other events; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults, each chosen for a reason. Unit has
// none: every unit of a cluster sets its own.
func DefaultConfig() *Config {
	return &Config{
		// No default: 0 is invalid, and two units must never share an ID.
		Unit: 0,
		// Middle of the range, so operators can go either way.
		Priority: 128,
		// FortiGate's default: age first, so a unit that restarts does not
		// take the role back and cause a second failover.
		Override: false,
		// FortiGate's ha-uptime-diff-margin: units started within 5 minutes
		// of each other (a cluster powered on together) count as equally old.
		AgeMargin: 5 * time.Minute,
		// Above any transit jitter, below any partition worth settling.
		SplitAgeMargin: 2 * time.Second,
		// 10 heartbeats per second on every critical interface (FortiGate,
		// NetDefendOS).
		Interval: 100 * time.Millisecond,
		// 2 missed heartbeats (0.2 s) then 0.6 s of EIFD probing: the
		// heartbeat package's defaults.
		DetectTime: 800 * time.Millisecond,
		// Listen as long as it takes to declare a peer lost, so a starting
		// unit never claims the role while a primary it has not heard yet is
		// merely slow. Zero in a Config means DetectTime.
		InitialWait: 800 * time.Millisecond,
		// Off, like FortiGate: every role change costs a failover.
		Preempt: false,
		// Long enough that a unit which is back for only a few detection
		// times cannot take the role.
		PreemptDelay: 10 * time.Second,
		// At most one preemption per minute, however a unit flaps.
		HoldDown: time.Minute,
		// A bulk sync of a large table takes seconds; a stuck one must not
		// block failback for more than a few minutes.
		SyncTimeout: 2 * time.Minute,
		// Ten heartbeats: the successor answers in one if it is alive.
		HandoverTimeout: time.Second,
	}
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *Config) withDefaults() Config {
	d := DefaultConfig()
	if c == nil {
		c = d
	}
	r := *c
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if r.Priority == 0 {
		r.Priority = d.Priority
	}
	set(&r.AgeMargin, d.AgeMargin)
	set(&r.SplitAgeMargin, min(d.SplitAgeMargin, r.AgeMargin))
	set(&r.Interval, d.Interval)
	set(&r.DetectTime, d.DetectTime)
	set(&r.InitialWait, r.DetectTime)
	set(&r.PreemptDelay, d.PreemptDelay)
	set(&r.HoldDown, d.HoldDown)
	set(&r.SyncTimeout, d.SyncTimeout)
	set(&r.HandoverTimeout, d.HandoverTimeout)
	return r
}

// Validate reports the first contradictory or out-of-range field of c after
// defaults are applied, as an error wrapping hakit.ErrConfig.
func (c *Config) Validate() error {
	r := c.withDefaults()
	return r.validate()
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("election: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	switch {
	case c.Unit == 0:
		return bad("unit ID 0")
	case c.AgeMargin < 0:
		return bad("negative age margin %v", c.AgeMargin)
	case c.SplitAgeMargin < 0 || c.SplitAgeMargin > c.AgeMargin:
		return bad("split-brain age margin %v outside [0, age margin %v]", c.SplitAgeMargin, c.AgeMargin)
	case c.Interval <= 0:
		return bad("heartbeat interval %v", c.Interval)
	case c.DetectTime < c.Interval:
		return bad("detection time %v shorter than the heartbeat interval %v", c.DetectTime, c.Interval)
	case c.InitialWait < c.Interval:
		return bad("initial wait %v shorter than the heartbeat interval %v: a starting unit would not hear its peers", c.InitialWait, c.Interval)
	case c.HandoverTimeout < 2*c.Interval:
		return bad("handover timeout %v shorter than two heartbeat intervals (%v)", c.HandoverTimeout, 2*c.Interval)
	case c.HoldDown < 0:
		return bad("negative hold-down %v", c.HoldDown)
	case c.SyncTimeout <= 0:
		return bad("sync timeout %v", c.SyncTimeout)
	}
	if c.Preempt {
		switch {
		case c.PreemptDelay < c.DetectTime:
			return bad("preemption delay %v shorter than the detection time %v: a flapping unit would preempt between failures", c.PreemptDelay, c.DetectTime)
		case c.SyncTimeout < c.PreemptDelay:
			return bad("sync timeout %v shorter than the preemption delay %v: unsynced units would preempt as soon as synced ones", c.SyncTimeout, c.PreemptDelay)
		}
	}
	return nil
}

func (c *Config) order() Order {
	return Order{Override: c.Override, AgeMargin: c.AgeMargin}
}
