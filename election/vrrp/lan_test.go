package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lan runs Machines on a simulated link in virtual time: every
// advertisement reaches every other running router at once.
type lan struct {
	t       *testing.T
	now     time.Time
	routers []*router
}

type router struct {
	name string
	cfg  *Config
	m    *Machine
	up   bool
	// became records when the router last became Master.
	became time.Time
}

func newLAN(t *testing.T) *lan { return &lan{t: t, now: t0} }

func (l *lan) add(name string, c *Config) *router {
	r := &router{name: name, cfg: c, m: newMachine(l.t, c)}
	l.routers = append(l.routers, r)
	return r
}

func (l *lan) start(r *router) {
	r.up = true
	l.handle(r, r.m.Start(l.now))
}

// kill stops r without a word, as a power loss does.
func (l *lan) kill(r *router) {
	r.up = false
	r.m = newMachine(l.t, r.cfg)
}

func (l *lan) shutdown(r *router) {
	l.handle(r, r.m.Shutdown(l.now))
	r.up = false
}

func (l *lan) handle(from *router, o Output) {
	if o.Changed && o.State == Master {
		from.became = l.now
	}
	if !o.Send {
		return
	}
	a := o.Advert
	require.NoError(l.t, a.Seal(from.m.Config().Checksum, from.cfg.Primary, GroupIPv4))
	b, err := a.MarshalBinary()
	require.NoError(l.t, err)
	for _, r := range l.routers {
		if r == from || !r.up {
			continue
		}
		out, err := r.m.Receive(l.now, Packet{Src: from.cfg.Primary, Dst: GroupIPv4, TTL: 255, Data: b})
		require.NoError(l.t, err)
		l.handle(r, out)
	}
}

// run advances virtual time to until, firing timers in order. Timers due
// at the same instant all fire before any advertisement is delivered, as
// on a real link where simultaneous advertisements cross.
func (l *lan) run(until time.Time) {
	for {
		var at time.Time
		for _, r := range l.routers {
			if t := r.m.timer; r.up && !t.IsZero() && (at.IsZero() || t.Before(at)) {
				at = t
			}
		}
		if at.IsZero() || at.After(until) {
			l.now = until
			return
		}
		l.now = at
		type fired struct {
			r *router
			o Output
		}
		var due []fired
		for _, r := range l.routers {
			if r.up && r.m.timer.Equal(at) {
				due = append(due, fired{r, r.m.Tick(at)})
			}
		}
		for _, f := range due {
			l.handle(f.r, f.o)
		}
	}
}

func (l *lan) masters() []string {
	var out []string
	for _, r := range l.routers {
		if r.up && r.m.State() == Master {
			out = append(out, r.name)
		}
	}
	return out
}

func TestLAN(t *testing.T) {
	l := newLAN(t)
	ca := cfg4(200)
	ca.Primary = netip.MustParseAddr("198.18.0.2")
	ca.Checksum = ChecksumMessageOnly
	cb := cfg4(100)
	cb.Primary = netip.MustParseAddr("198.18.0.3")
	a, b := l.add("a", ca), l.add("b", cb)

	// Both start: a (priority 200) takes the role after its own
	// Master_Down_Interval, 3 s + 56/256 s; b hears it and stays Backup.
	l.start(a)
	l.start(b)
	l.run(t0.Add(10 * time.Second))
	require.Equal(t, []string{"a"}, l.masters())
	require.Equal(t, t0.Add(MasterDownInterval(200, time.Second)), a.became)
	require.Equal(t, ChecksumMessageOnly, b.m.Status().Peers[0].Checksum, "b reports a's form")
	require.Equal(t, ChecksumPseudoHeader, b.m.Config().Checksum)

	// a loses power: its last advertisement left at 10 s (the timer fired
	// at 3.21875 + 6 s); b takes over Master_Down_Interval after it.
	last := a.became.Add(6 * time.Second)
	l.kill(a)
	l.run(t0.Add(20 * time.Second))
	require.Equal(t, []string{"b"}, l.masters())
	require.Equal(t, last.Add(MasterDownInterval(100, time.Second)), b.became)

	// a returns: it starts as Backup, discards b's lower priority, takes
	// over after its Master_Down_Interval (preempt), and b yields at once.
	l.start(a)
	back := l.now
	l.run(t0.Add(30 * time.Second))
	require.Equal(t, []string{"a"}, l.masters())
	require.Equal(t, back.Add(MasterDownInterval(200, time.Second)), a.became)

	// a stops cleanly: b takes over after Skew_Time alone.
	stop := l.now
	l.shutdown(a)
	l.run(t0.Add(40 * time.Second))
	require.Equal(t, []string{"b"}, l.masters())
	require.Equal(t, stop.Add(SkewTime(100, time.Second)), b.became)
	require.Equal(t, uint64(1), b.m.Counters().PriorityZeroReceived)
}

func TestLANNoPreempt(t *testing.T) {
	l := newLAN(t)
	ca := cfg4(200)
	ca.Primary = netip.MustParseAddr("198.18.0.2")
	ca.NoPreempt = true
	cb := cfg4(100)
	cb.Primary = netip.MustParseAddr("198.18.0.3")
	a, b := l.add("a", ca), l.add("b", cb)
	l.start(b)
	l.run(t0.Add(5 * time.Second))
	require.Equal(t, []string{"b"}, l.masters())
	// a, with the higher priority but nopreempt, joins and stays Backup.
	l.start(a)
	l.run(t0.Add(60 * time.Second))
	require.Equal(t, []string{"b"}, l.masters())
	require.Equal(t, Backup, a.m.State())
	// Until b is gone.
	l.kill(b)
	l.run(t0.Add(70 * time.Second))
	require.Equal(t, []string{"a"}, l.masters())
}

func TestLANTies(t *testing.T) {
	// Three routers of equal priority started at once all time out
	// together and become Master; their advertisements meet, and the one
	// with the highest address stays Master (RFC 9568 section 6.4.3),
	// whatever the order they started and sent in.
	ips := []string{"198.18.0.2", "198.18.0.9", "198.18.0.5"}
	build := func() (*lan, []*router) {
		l := newLAN(t)
		var rs []*router
		for i, ip := range ips {
			c := cfg4(100)
			c.Primary = netip.MustParseAddr(ip)
			rs = append(rs, l.add(string(rune('a'+i)), c))
		}
		return l, rs
	}
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		l, rs := build()
		for _, i := range order {
			l.start(rs[i])
		}
		l.run(t0.Add(30 * time.Second))
		require.Equal(t, []string{"b"}, l.masters(), "order %v", order)
	}

	// A tie does not preempt: a Backup of equal priority resets its timer
	// on the Master's advertisements, so the first Master keeps the role
	// even with the lowest address.
	l, rs := build()
	l.start(rs[0])
	l.run(t0.Add(5 * time.Second))
	l.start(rs[1])
	l.start(rs[2])
	l.run(t0.Add(60 * time.Second))
	require.Equal(t, []string{"a"}, l.masters())
}
