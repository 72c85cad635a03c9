package witness

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hakit/hakit"
)

// Config configures a Driver. A nil *Config means DefaultConfig(); zero
// fields take their defaults (see DefaultConfig).
type Config struct {
	// TTL is how long the arbiter keeps the lease without a renewal: a
	// whole number of seconds (both etcd and Kubernetes count leases in
	// seconds), at least 2 s (etcd's shortest lease with its default
	// settings).
	TTL time.Duration
	// Interval is how often the holder renews the lease and how often a
	// contending unit tries to take it (a Store that can wait for the
	// lease to change hands, as etcd's can, tries at once when it does).
	Interval time.Duration
	// Timeout bounds each call to the arbiter; a call that takes longer
	// counts as unanswered (Reachable turns false).
	Timeout time.Duration
	// Margin is how long before the lease can expire at the arbiter Held
	// turns false: the time the unit has to stop acting as the holder
	// (stand down, stop announcing) before another unit may take over.
	Margin time.Duration
	// Clock drives the Driver's timers and bounds; nil means the real
	// clock.
	Clock hakit.Clock
	// Logger receives the status changes; nil discards them.
	Logger *slog.Logger
	// OnChange, if set, is called after Held, Reachable, Holder, Token or
	// Reason changed, with the status then. Calls are in order, from the
	// Driver's goroutines (or the caller's, in Acquire, Release and
	// Status, which notices Held turning false at Until), with
	// no lock held; it may call the Driver's methods. Changes that happen
	// while it runs are delivered after it returns, the latest status
	// once. It should not block.
	OnChange func(Status)
}

// DefaultConfig returns the defaults, each with its reason.
func DefaultConfig() *Config {
	return &Config{
		// kube-vip's default lease. Long enough to ride out an etcd leader
		// election (1 s election timeout by default) and a few slow round
		// trips without the holder giving up; short enough that a crashed
		// primary in a cloud, which its standby cannot tell from a
		// partition, is replaced within about 5 s.
		TTL: 5 * time.Second,
		// Zero means TTL/5 (1 s here): the holder gets three renewal
		// attempts before Held turns false, and a free lease is taken
		// within a second even by a Store that cannot wait for it.
		Interval: 0,
		// Zero means Interval: a call that is not answered before the
		// next one is due counts as unanswered.
		Timeout: 0,
		// Zero means TTL/5 (1 s here): ten election ticks at the default
		// heartbeat interval to stand down, far above any clock-rate
		// difference between the unit and the arbiter.
		Margin: 0,
	}
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *Config) withDefaults() Config {
	if c == nil {
		c = DefaultConfig()
	}
	r := *c
	if r.TTL == 0 {
		r.TTL = DefaultConfig().TTL
	}
	if r.Interval == 0 {
		r.Interval = r.TTL / 5
	}
	if r.Timeout == 0 {
		r.Timeout = r.Interval
	}
	if r.Margin == 0 {
		r.Margin = r.TTL / 5
	}
	if r.Clock == nil {
		r.Clock = hakit.RealClock()
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// Validate reports an invalid configuration, after applying the defaults.
func (c *Config) Validate() error {
	r := c.withDefaults()
	return r.validate()
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("witness: config: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	switch {
	case c.TTL < 2*time.Second || c.TTL%time.Second != 0:
		return bad("TTL %v is not a whole number of seconds of at least 2s", c.TTL)
	case c.Interval < 0:
		return bad("negative interval %v", c.Interval)
	case c.Timeout < 0:
		return bad("negative timeout %v", c.Timeout)
	case c.Margin < 0:
		return bad("negative margin %v", c.Margin)
	case c.Interval+c.Timeout > c.TTL-c.Margin:
		return bad("interval %v plus timeout %v exceed TTL %v minus margin %v: a renewal could not finish before the lease is given up",
			c.Interval, c.Timeout, c.TTL, c.Margin)
	}
	return nil
}
