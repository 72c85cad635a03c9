package statesync

import (
	"fmt"
	"time"

	"github.com/hakit/hakit"
)

// DefaultSenderConfig returns a Sender's defaults, each with its reason.
// Table has none: it is required.
func DefaultSenderConfig() *SenderConfig {
	return &SenderConfig{
		// A UDP payload on a 1500-byte link; raw Ethernet can use 1500.
		MTU: 1472,
		// About 6 MB at 1472 bytes: tens of milliseconds of a busy bulk
		// sync, long enough to ride out a loss burst before a resync.
		Window: 4096,
		// Acknowledgements come every 2 ms (the receiver's AckDelay): ten
		// times that without progress means a lost tail.
		RetransmitTimeout: 20 * time.Millisecond,
		// Repeated requests for the same datagram within a round trip on a
		// LAN do not multiply the traffic.
		MinResend: 10 * time.Millisecond,
		// A heartbeat interval: an idle stream still tells the receiver that
		// the sender is alive, well within its 1 s Timeout.
		Keepalive: 100 * time.Millisecond,
		// A million sessions bulk-sync in about a second; ten is overdue.
		BulkTimeout: 10 * time.Second,
	}
}

// DefaultReceiverConfig returns a Receiver's defaults, each with its
// reason. Table has none: it is required.
func DefaultReceiverConfig() *ReceiverConfig {
	return &ReceiverConfig{
		// The sender's default window: what it may have in flight.
		Window: 4096,
		// Short enough that the sender's window drains at line rate, long
		// enough to acknowledge a burst with one datagram.
		AckDelay: 2 * time.Millisecond,
		// About a LAN round trip and a resend: asking sooner would repeat
		// requests the sender is already answering.
		NackInterval: 10 * time.Millisecond,
		// Ten of the sender's keepalives: a replica that heard nothing for
		// a second no longer knows it holds the sender's table.
		Timeout: time.Second,
	}
}

// DefaultDriverConfig returns a Driver's defaults, each with its reason.
// Transport and Table have none: they are required.
func DefaultDriverConfig() *DriverConfig {
	return &DriverConfig{
		// A change waits at most a millisecond in a partly filled datagram,
		// far below the time a failover takes.
		TickInterval: time.Millisecond,
	}
}

func durationDefault(v *time.Duration, def time.Duration) {
	if *v == 0 {
		*v = def
	}
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *SenderConfig) withDefaults() SenderConfig {
	d := DefaultSenderConfig()
	if c == nil {
		c = d
	}
	r := *c
	if r.MTU == 0 {
		r.MTU = d.MTU
	}
	if r.Window == 0 {
		r.Window = d.Window
	}
	durationDefault(&r.RetransmitTimeout, d.RetransmitTimeout)
	durationDefault(&r.MinResend, d.MinResend)
	durationDefault(&r.Keepalive, d.Keepalive)
	durationDefault(&r.BulkTimeout, d.BulkTimeout)
	return r
}

// Validate reports the first invalid field of c after defaults are applied,
// as an error wrapping hakit.ErrConfig. A nil c has no Table.
func (c *SenderConfig) Validate() error {
	r := c.withDefaults()
	return r.validate()
}

func (c *SenderConfig) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("statesync: sender: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	switch {
	case c.Table == nil:
		return bad("no table")
	case c.MTU < 256 || c.MTU > 65535:
		return bad("MTU %d out of range 256-65535", c.MTU)
	case c.Window < 4:
		return bad("window %d below 4", c.Window)
	case c.RetransmitTimeout < 0 || c.MinResend < 0 || c.Keepalive < 0 || c.BulkTimeout < 0:
		return bad("negative duration")
	}
	return nil
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *ReceiverConfig) withDefaults() ReceiverConfig {
	d := DefaultReceiverConfig()
	if c == nil {
		c = d
	}
	r := *c
	if r.Window == 0 {
		r.Window = d.Window
	}
	durationDefault(&r.AckDelay, d.AckDelay)
	durationDefault(&r.NackInterval, d.NackInterval)
	durationDefault(&r.Timeout, d.Timeout)
	return r
}

// Validate reports the first invalid field of c after defaults are applied,
// as an error wrapping hakit.ErrConfig. A nil c has no Table.
func (c *ReceiverConfig) Validate() error {
	r := c.withDefaults()
	return r.validate()
}

func (c *ReceiverConfig) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("statesync: receiver: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	switch {
	case c.Table == nil:
		return bad("no table")
	case c.Window < 4:
		return bad("window %d below 4", c.Window)
	case c.AckDelay < 0 || c.NackInterval < 0 || c.Timeout < 0:
		return bad("negative duration")
	}
	return nil
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *DriverConfig) withDefaults() DriverConfig {
	d := DefaultDriverConfig()
	if c == nil {
		c = d
	}
	r := *c
	durationDefault(&r.TickInterval, d.TickInterval)
	if r.Clock == nil {
		r.Clock = hakit.RealClock()
	}
	return r
}

// Validate reports the first invalid field of c after defaults are applied
// (its own and its halves'), as an error wrapping hakit.ErrConfig. A nil c
// has no Transport.
func (c *DriverConfig) Validate() error {
	r := c.withDefaults()
	return r.validate()
}

func (c *DriverConfig) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("statesync: driver: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	switch {
	case c.Transport == nil:
		return bad("no transport")
	case c.Table == nil:
		return bad("no table")
	case c.TickInterval < 0:
		return bad("negative tick interval %v", c.TickInterval)
	case len(c.Peers) > 0 && c.Unit == 0:
		return bad("peers but no unit ID for this unit")
	case c.ActiveActive && len(c.Peers) > 255:
		return bad("%d peers: active-active gives each an origin of 255", len(c.Peers))
	}
	seen := map[uint16]bool{c.Unit: true}
	for _, p := range c.Peers {
		switch {
		case p.Unit == 0:
			return bad("a peer with unit ID 0")
		case seen[p.Unit]:
			return bad("unit %d twice among this unit and its peers", p.Unit)
		}
		seen[p.Unit] = true
	}
	sc := c.Sender.withDefaults()
	sc.Table = c.Table
	if err := sc.validate(); err != nil {
		return err
	}
	rc := c.Receiver.withDefaults()
	rc.Table = c.Table
	return rc.validate()
}
