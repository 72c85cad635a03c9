package garp

import (
	"fmt"
	"slices"
	"time"

	"github.com/hakit/hakit"
)

// Schedule says when announcements go out after a takeover and how fast an
// interface may send them. The defaults follow keepalived's where it has one.
type Schedule struct {
	// Burst is the number of passes over every announcement of a move at
	// takeover. keepalived: garp_master_repeat 5.
	Burst int
	// Spacing separates the passes of a burst. keepalived sends its repeats
	// back to back (vrrp_garp_interval 0); we space them so that one short
	// loss burst on the link cannot eat all of them.
	Spacing time.Duration
	// Repeat is the number of passes of the second burst, 0 for none.
	// keepalived: garp_master_repeat 5 again after garp_master_delay.
	Repeat int
	// Delay is the time from takeover to the second burst, which catches
	// switches and hosts whose links (or spanning tree) came up late.
	// keepalived: garp_master_delay 5 s.
	Delay time.Duration
	// Refresh is the period of the single-pass refresh that follows the
	// bursts (NetDefendOS: "ARP queries are also broadcast periodically to
	// ensure that switches do not forget"), 0 for none. It must be well
	// under the MAC ageing time of the switches (300 s by IEEE 802.1D and
	// the Linux bridge default) and of host ARP caches; keepalived's
	// garp_master_refresh is off by default, we refresh every 60 s.
	Refresh time.Duration
	// Rate is the most announcement frames per second one interface may
	// send, across all moves on it, so that 256 addresses do not flood the
	// switches' control planes.
	Rate int
	// RateBurst is how many frames an idle interface may send at once
	// before Rate applies (the token bucket's depth).
	RateBurst int
}

// DefaultSchedule returns the defaults, each commented on Schedule: 5 passes
// 10 ms apart, 5 more after 5 s, a refresh every 60 s, at most 1000 frames
// per second per interface with bursts of up to 256 frames.
func DefaultSchedule() Schedule {
	return Schedule{
		Burst:     5,
		Spacing:   10 * time.Millisecond,
		Repeat:    5,
		Delay:     5 * time.Second,
		Refresh:   60 * time.Second,
		Rate:      1000,
		RateBurst: 256,
	}
}

// Validate reports the first field of s that is out of range, or nil.
func (s Schedule) Validate() error {
	switch {
	case s.Burst < 1:
		return fmt.Errorf("garp: Burst %d < 1: %w", s.Burst, hakit.ErrConfig)
	case s.Spacing < 0:
		return fmt.Errorf("garp: Spacing %v < 0: %w", s.Spacing, hakit.ErrConfig)
	case s.Repeat < 0:
		return fmt.Errorf("garp: Repeat %d < 0: %w", s.Repeat, hakit.ErrConfig)
	case s.Delay < 0:
		return fmt.Errorf("garp: Delay %v < 0: %w", s.Delay, hakit.ErrConfig)
	case s.Refresh < 0:
		return fmt.Errorf("garp: Refresh %v < 0: %w", s.Refresh, hakit.ErrConfig)
	case s.Rate < 1 || s.Rate > int(time.Second):
		return fmt.Errorf("garp: Rate %d out of [1, 1e9]: %w", s.Rate, hakit.ErrConfig)
	case s.RateBurst < 1:
		return fmt.Errorf("garp: RateBurst %d < 1: %w", s.RateBurst, hakit.ErrConfig)
	}
	return nil
}

// due returns when pass k of a move started at start is due.
func (s *Schedule) due(start time.Time, k int) (time.Time, bool) {
	if k < s.Burst {
		return start.Add(time.Duration(k) * s.Spacing), true
	}
	k -= s.Burst
	if k < s.Repeat {
		return start.Add(s.Delay + time.Duration(k)*s.Spacing), true
	}
	if s.Refresh == 0 {
		return time.Time{}, false
	}
	base := start
	if s.Repeat > 0 {
		base = start.Add(s.Delay)
	}
	return base.Add(time.Duration(k-s.Repeat+1) * s.Refresh), true
}

// skip returns k, or, when k is a refresh pass that is overdue at now, the
// last refresh pass due by now: refreshes that a slow interface missed
// collapse into one, burst passes are never skipped.
func (s *Schedule) skip(start time.Time, k int, now time.Time) int {
	first := s.Burst + s.Repeat // the first refresh pass
	if k < first || s.Refresh == 0 {
		return k
	}
	base := start
	if s.Repeat > 0 {
		base = start.Add(s.Delay)
	}
	// Refresh pass first+j-1 is due at base + j*Refresh.
	if j := int(now.Sub(base) / s.Refresh); first+j-1 > k {
		return first + j - 1
	}
	return k
}

// Send is one frame the Machine says to write now.
type Send struct {
	// Interface is the interface to write on.
	Interface string
	// Key names the move, as given to Start.
	Key string
	// Pass counts the passes of the move from 0: [0, Burst) is the
	// takeover burst, then Repeat passes of the second burst, then refresh.
	Pass int
	// Frame is the frame, shared with the Machine: do not modify it.
	Frame []byte
}

// Machine is the announcer's pure core: it holds, per interface, the frames
// of each move being announced and a token bucket, and says which frames are
// due. It reads no clock; time is an argument. Frames are sent pass by pass:
// a pass sends every frame of a move once, in order, so the first pass
// announces every address before any is repeated. A pass delayed by the
// rate limit delays the passes after it; burst passes are never dropped, and
// refresh passes that fell due meanwhile collapse into one. Moves on the
// same interface share its bucket; among the due passes the lowest-numbered
// goes first (every move's first pass before any move's repeat), then the one
// that fell due first, then the one started first. A Machine is not safe for concurrent use.
type Machine struct {
	s      Schedule
	period time.Duration // time between tokens
	tau    time.Duration // burst tolerance: (RateBurst-1) * period
	ifaces []*ifaceSched // in order of first Start, for a deterministic output
	seq    uint64
}

type ifaceSched struct {
	name  string
	tat   time.Time // the bucket's theoretical arrival time (GCRA)
	moves []*moveSched
}

type moveSched struct {
	key    string
	frames [][]byte
	start  time.Time
	seq    uint64
	pass   int
	next   int       // next frame of the pass
	due    time.Time // when the current pass is due
	done   bool      // no pass left
}

// NewMachine returns a Machine for s, or Validate's error.
func NewMachine(s Schedule) (*Machine, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	p := time.Second / time.Duration(s.Rate)
	return &Machine{
		s:      s,
		period: p,
		tau:    time.Duration(s.RateBurst-1) * p,
	}, nil
}

// Start begins announcing frames on iface as move key, from now: the
// burst, the second burst, then refresh. Starting a key that is already
// running restarts it with the new frames (a new takeover). Starting with no
// frames is Stop. The Machine keeps frames; the caller must not modify
// them afterwards.
func (c *Machine) Start(now time.Time, iface, key string, frames [][]byte) {
	if len(frames) == 0 {
		c.Stop(iface, key)
		return
	}
	is := c.iface(iface)
	if is == nil {
		is = &ifaceSched{name: iface}
		c.ifaces = append(c.ifaces, is)
	}
	c.seq++
	m := &moveSched{key: key, frames: frames, start: now, seq: c.seq, due: now}
	for i, old := range is.moves {
		if old.key == key {
			is.moves[i] = m
			return
		}
	}
	is.moves = append(is.moves, m)
}

// Stop stops announcing move key on iface and reports whether it was
// running.
func (c *Machine) Stop(iface, key string) bool {
	is := c.iface(iface)
	if is == nil {
		return false
	}
	for i, m := range is.moves {
		if m.key == key {
			is.moves = append(is.moves[:i], is.moves[i+1:]...)
			if len(is.moves) == 0 {
				c.ifaces = slices.DeleteFunc(c.ifaces, func(x *ifaceSched) bool { return x == is })
			}
			return true
		}
	}
	return false
}

func (c *Machine) iface(name string) *ifaceSched {
	for _, is := range c.ifaces {
		if is.name == name {
			return is
		}
	}
	return nil
}

// StopAll stops every move.
func (c *Machine) StopAll() { c.ifaces = nil }

// Running reports whether move key on iface is being announced (it may have
// finished its passes when Refresh is 0; it still counts as running until
// stopped).
func (c *Machine) Running(iface, key string) bool {
	if is := c.iface(iface); is != nil {
		for _, m := range is.moves {
			if m.key == key {
				return true
			}
		}
	}
	return false
}

// Interfaces returns how many interfaces have moves.
func (c *Machine) Interfaces() int { return len(c.ifaces) }

// Tick appends to out every frame due at now that the rate limits allow, and
// returns it with the time at which the next frame falls due (zero when
// nothing is left to send). Calling Tick again before that time returns
// nothing.
func (c *Machine) Tick(now time.Time, out []Send) ([]Send, time.Time) {
	var next time.Time
	for _, is := range c.ifaces {
		var wake time.Time
		out, wake = c.tickIface(now, is, out)
		if !wake.IsZero() && (next.IsZero() || wake.Before(next)) {
			next = wake
		}
	}
	return out, next
}

func (c *Machine) tickIface(now time.Time, is *ifaceSched, out []Send) ([]Send, time.Time) {
	for {
		// The move whose current pass fell due first.
		var m *moveSched
		for _, x := range is.moves {
			if x.done || x.due.After(now) {
				continue
			}
			if m == nil || x.pass < m.pass ||
				x.pass == m.pass && (x.due.Before(m.due) || x.due.Equal(m.due) && x.seq < m.seq) {
				m = x
			}
		}
		if m == nil {
			break
		}
		// GCRA: a frame conforms when now >= tat - tau.
		if allow := is.tat.Add(-c.tau); now.Before(allow) {
			return out, allow
		}
		if is.tat.Before(now) {
			is.tat = now
		}
		is.tat = is.tat.Add(c.period)

		out = append(out, Send{Interface: is.name, Key: m.key, Pass: m.pass, Frame: m.frames[m.next]})
		m.next++
		if m.next == len(m.frames) {
			m.next = 0
			m.pass++
			m.pass = c.s.skip(m.start, m.pass, now)
			due, ok := c.s.due(m.start, m.pass)
			m.due, m.done = due, !ok
		}
	}
	var wake time.Time
	for _, m := range is.moves {
		if !m.done && (wake.IsZero() || m.due.Before(wake)) {
			wake = m.due
		}
	}
	return out, wake
}
