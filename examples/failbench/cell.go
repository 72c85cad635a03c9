package main

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"time"
)

// Timing of the runs.
const (
	// answeredFor is how long a unit must have answered every probe (no
	// hole longer than steadyHole) to count as the active unit.
	answeredFor = 300 * time.Millisecond
	steadyHole  = 50 * time.Millisecond
	// poll is how often the waits look at the answers.
	poll = 5 * time.Millisecond
)

// cell is the result of one system at one interval.
type cell struct {
	System   string          `json:"system"`
	Interval string          `json:"interval"`
	Gaps     []time.Duration `json:"-"`
	GapsMS   []float64       `json:"gaps_ms"`
	P50MS    float64         `json:"p50_ms"`
	P99MS    float64         `json:"p99_ms"`
	MaxMS    float64         `json:"max_ms"`
	Failed   []string        `json:"failed,omitempty"`
	Skipped  string          `json:"not_measured,omitempty"`
}

func (c *cell) finish() {
	c.GapsMS = c.GapsMS[:0]
	for _, g := range c.Gaps {
		c.GapsMS = append(c.GapsMS, ms(g))
	}
	if len(c.Gaps) > 0 {
		c.P50MS = ms(percentile(c.Gaps, 0.50))
		c.P99MS = ms(percentile(c.Gaps, 0.99))
		c.MaxMS = ms(slices.Max(c.Gaps))
	}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 1) of ds:
// the smallest value with at least p of the values at or below it. With
// fewer than 100 values p99 is the maximum.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// failoverTimeout bounds the wait for the backup to answer after an event.
func failoverTimeout(interval time.Duration) time.Duration {
	return 10*time.Second + 10*interval
}

// settleFor is how long unit A must answer alone before an event.
func settleFor(interval time.Duration) time.Duration {
	return max(time.Second, 3*interval)
}

// waitActive waits until one unit of want (nil: either) alone has
// answered for d and the other does not hold the virtual address (unless
// the other is dead: its killed daemon left the address behind on a
// cable pulled), or until timeout, and returns it.
func (b *bench) waitActive(want *unit, d time.Duration, timeout time.Duration) (*unit, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, u := range b.units {
			if want != nil && u != want {
				continue
			}
			if u.cmd != nil && u.exited() {
				out, _ := os.ReadFile(u.log)
				return nil, fmt.Errorf("daemon on %s exited: %s (log %s)", u.conf.name, lastLine(out), u.log)
			}
			o := b.units[1-i]
			if b.probe.steady(byte(u.conf.id), d, steadyHole, time.Now()) && (o.cmd == nil || !o.holdsVIP()) {
				return u, nil
			}
		}
		time.Sleep(poll)
	}
	if want == nil {
		return nil, fmt.Errorf("no unit alone answering for %v within %v", d, timeout)
	}
	return nil, fmt.Errorf("unit %s not the only one answering for %v within %v", want.conf.name, d, timeout)
}

// other returns the unit that is not u.
func (b *bench) other(u *unit) *unit {
	if u == b.units[0] {
		return b.units[1]
	}
	return b.units[0]
}

// runCell measures runs failovers of sys at interval. Both daemons start;
// each run waits until one unit (the active one) alone has answered for
// settleFor(interval), pulls its cable at the switch and kills its daemon
// with SIGKILL, waits until the other unit alone answers, and records the
// longest stretch without an answer. Then the failed unit's leftovers are
// removed, its cable goes back and its daemon restarts; it rejoins as the
// backup (no preemption), so the roles alternate from run to run.
func (b *bench) runCell(sys system, interval time.Duration, runs int, logf func(string, ...any)) (c cell) {
	c = cell{System: sys.name(), Interval: interval.String()}
	defer func() {
		for _, u := range b.units {
			u.kill()
			if err := u.reset(); err != nil {
				logf("%v", err)
			}
		}
		c.finish()
	}()
	startBoth := func() error {
		for _, u := range b.units {
			u.kill()
			if err := u.reset(); err != nil {
				return err
			}
		}
		for _, u := range b.units {
			if err := b.start(sys, u, interval); err != nil {
				return err
			}
		}
		return nil
	}
	if err := startBoth(); err != nil {
		c.Skipped = err.Error()
		return c
	}
	for i := 0; i < runs; i++ {
		act, err := b.waitActive(nil, settleFor(interval), failoverTimeout(interval)+10*time.Second)
		if err != nil {
			c.Failed = append(c.Failed, fmt.Sprintf("run %d: before the event: %v", i+1, err))
			logf("%s %v run %d: %v", sys.name(), interval, i+1, err)
			if len(c.Failed) >= 3 {
				return c
			}
			if err := startBoth(); err != nil {
				c.Failed = append(c.Failed, err.Error())
				return c
			}
			i--
			continue
		}
		backup := b.other(act)
		m := b.probe.mark()
		before := b.probe.since(max(0, m-2000))
		t0 := time.Now()
		act.link.Down()
		act.kill()
		_, err = b.waitActive(backup, answeredFor, failoverTimeout(interval))
		end := time.Now()
		after := b.probe.since(m)
		if err != nil {
			c.Failed = append(c.Failed, fmt.Sprintf("run %d: after the event: %v", i+1, err))
			logf("%s %v run %d: %v", sys.name(), interval, i+1, err)
		} else {
			g := failoverGap(before, after, t0, end)
			c.Gaps = append(c.Gaps, g)
			logf("%s %v run %d: %s failed, gap %v", sys.name(), interval, i+1, act.conf.name, g.Round(100*time.Microsecond))
		}
		if err := act.reset(); err != nil {
			c.Failed = append(c.Failed, err.Error())
			return c
		}
		act.link.Up()
		if err := b.start(sys, act, interval); err != nil {
			c.Failed = append(c.Failed, err.Error())
			return c
		}
		b.probe.reset()
	}
	return c
}

// soak is the result of the no-false-failover soak of one system.
type soak struct {
	System      string  `json:"system"`
	Interval    string  `json:"interval"`
	Loss        float64 `json:"loss"`
	Duration    string  `json:"duration"`
	LogActive   int     `json:"log_became_active"`   // lines of the daemons' logs saying a unit took the role
	HolderMoves int     `json:"vip_holder_changes"`  // changes of the set of units holding the VIP (polled)
	ClientMoves int     `json:"client_saw_switches"` // changes of the unit answering the client
	Skipped     string  `json:"not_measured,omitempty"`
}

// runSoak runs sys at interval with loss on the bridge for d, and counts
// role changes three ways: the daemons' log lines, the VIP holders (polled
// every 50 ms) and the unit answering the client.
func (b *bench) runSoak(sys system, interval time.Duration, loss float64, d time.Duration, logf func(string, ...any)) soak {
	s := soak{System: sys.name(), Interval: interval.String(), Loss: loss, Duration: d.String()}
	a, bu := b.units[0], b.units[1]
	defer func() {
		a.kill()
		bu.kill()
		_ = a.reset()
		_ = bu.reset()
	}()
	for _, u := range b.units {
		if err := u.reset(); err != nil {
			s.Skipped = err.Error()
			return s
		}
	}
	if err := b.start(sys, bu, interval); err != nil {
		s.Skipped = err.Error()
		return s
	}
	if err := b.start(sys, a, interval); err != nil {
		s.Skipped = err.Error()
		return s
	}
	if _, err := b.waitActive(nil, settleFor(interval), failoverTimeout(interval)+10*time.Second); err != nil {
		s.Skipped = err.Error()
		return s
	}
	before := [2]int{countLines(a.log, sys.becameActive()), countLines(bu.log, sys.becameActive())}
	m := b.probe.mark()
	remove := b.br.Loss(loss)
	holders := func() [2]bool { return [2]bool{a.holdsVIP(), bu.holdsVIP()} }
	last := holders()
	end := time.Now().Add(d)
	next := time.Now()
	for time.Now().Before(end) {
		if h := holders(); h != last {
			s.HolderMoves++
			logf("%s soak: VIP holders a=%v b=%v", sys.name(), h[0], h[1])
			last = h
		}
		if a.exited() || bu.exited() {
			s.Skipped = "a daemon exited during the soak"
			break
		}
		next = next.Add(50 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
	remove()
	s.LogActive = countLines(a.log, sys.becameActive()) - before[0] +
		countLines(bu.log, sys.becameActive()) - before[1]
	var prev byte
	for _, ans := range b.probe.since(m) {
		if prev != 0 && ans.unit != prev {
			s.ClientMoves++
		}
		prev = ans.unit
	}
	return s
}

// countLines counts the lines of the file at path that re matches.
func countLines(path string, re *regexp.Regexp) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return len(re.FindAllIndex(data, -1))
}
