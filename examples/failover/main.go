// Command failover runs a simulated high-availability cluster and plays the
// vendors' failure scenarios on it: a failed interface, a failed unit, a split brain
// and its heal, and a planned handover. It needs no root and no setup: the
// units are the real protocol cores of heartbeat, election, vmac, garp and
// statesync, wired over simulated Ethernet segments on a simulated clock.
//
//	go run ./examples/failover
//	go run ./examples/failover -scenario link -mode strict -json
//
// It prints a timeline of what every unit's cores reported and did, then a
// summary per scenario, and exits non-zero if an invariant failed (sessions
// lost, not exactly one primary at the end).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

// errInvariant is wrapped by run's error when a scenario's invariant fails.
var errInvariant = errors.New("invariant failed")

var scenarios = []string{"link", "unit", "splitbrain", "handover"}

// result is the summary of one scenario.
type result struct {
	Scenario string `json:"scenario"`
	// Detection is the time from the fault to the first verdict;
	// SinceHeartbeat the time from the last heartbeat heard on that link to
	// the verdict (the Clavister schedule: 2 missed, then 0.6 s: 0.8 s).
	Detection      float64 `json:"detection_s"`
	SinceHeartbeat float64 `json:"detection_since_last_heartbeat_s"`
	// Takeover is the time from the fault to the new primary's role change;
	// Failover the longest gap in forwarded traffic after the fault.
	Takeover float64 `json:"takeover_s"`
	Failover float64 `json:"failover_s"`
	// Sessions is how many sessions the client established (a primary
	// answered them); Kept how many of those the final primary holds.
	Sessions  int          `json:"sessions"`
	Kept      int          `json:"sessions_kept"`
	Unknown   int          `json:"unknown_session_packets"`
	Primaries []string     `json:"primaries"`
	OK        bool         `json:"ok"`
	Failures  []string     `json:"failures,omitempty"`
	Units     []unitReport `json:"units"`
	Timeline  []event      `json:"timeline"`
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	fs.SetOutput(stdout)
	scenario := fs.String("scenario", "all", "scenario to play: all | "+strings.Join(scenarios, " | "))
	units := fs.Int("units", 2, "number of units in the cluster (2 to 16)")
	interval := fs.Duration("interval", 100*time.Millisecond, "heartbeat interval")
	misses := fs.Int("misses", 2, "missed heartbeats before EIFD starts")
	window := fs.Duration("probe-window", 600*time.Millisecond, "EIFD probe window")
	mode := fs.String("mode", "early", "verdict mode: strict (the Clavister schedule: 0.2 s + 0.6 s) | early")
	sessions := fs.Int("sessions", 1000, "sessions the client creates before the fault")
	seed := fs.Int64("seed", 1, "seed of the simulated network and of the fault time")
	loss := fs.Float64("loss", 0, "share of frames the units' sync ports drop at random, each way (0 to 0.5): heartbeats and replication under loss")
	asJSON := fs.Bool("json", false, "print machine-readable JSON instead of text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := config{units: *units, interval: *interval, misses: *misses, probeWindow: *window,
		sessions: *sessions, seed: *seed, loss: *loss}
	switch *mode {
	case "strict":
		cfg.mode = heartbeat.ModeStrict
	case "early":
		cfg.mode = heartbeat.ModeEarly
	default:
		return fmt.Errorf("-mode %q: want strict or early", *mode)
	}
	switch {
	case cfg.units < 2 || cfg.units > 16:
		return fmt.Errorf("-units %d: want 2 to 16", cfg.units)
	case cfg.sessions < 0 || cfg.sessions > 200000:
		return fmt.Errorf("-sessions %d: want 0 to 200000", cfg.sessions)
	case cfg.loss < 0 || cfg.loss > 0.5:
		return fmt.Errorf("-loss %v: want 0 to 0.5", cfg.loss)
	case cfg.interval < time.Millisecond || cfg.interval > time.Second:
		return fmt.Errorf("-interval %v: want 1ms to 1s", cfg.interval)
	}
	list := scenarios
	if *scenario != "all" {
		list = nil
		for _, s := range scenarios {
			if s == *scenario {
				list = []string{s}
			}
		}
		if list == nil {
			return fmt.Errorf("-scenario %q: want all, %s", *scenario, strings.Join(scenarios, ", "))
		}
	}

	var results []result
	for _, name := range list {
		r, err := play(name, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
		if !*asJSON {
			printTimeline(stdout, r)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Units    int      `json:"units"`
			Mode     string   `json:"mode"`
			Interval float64  `json:"interval_s"`
			Results  []result `json:"scenarios"`
		}{cfg.units, *mode, cfg.interval.Seconds(), results}); err != nil {
			return err
		}
	} else {
		printSummary(stdout, results)
	}
	var failed []string
	for _, r := range results {
		if !r.OK {
			failed = append(failed, r.Scenario+": "+strings.Join(r.Failures, "; "))
		}
	}
	if failed != nil {
		return fmt.Errorf("%w: %s", errInvariant, strings.Join(failed, " | "))
	}
	return nil
}

// settle is the least time the cluster runs with traffic before the fault.
const settle = 5 * time.Second

// phase scales a scenario step written for the default 100 ms heartbeats
// to slower ones.
func phase(cfg config, d time.Duration) time.Duration {
	if cfg.interval <= 100*time.Millisecond {
		return d
	}
	return time.Duration(float64(d) * float64(cfg.interval) / float64(100*time.Millisecond))
}

func play(name string, cfg config) (result, error) {
	c, err := newCluster(cfg)
	if err != nil {
		return result{}, err
	}
	r := result{Scenario: name, Sessions: len(c.keys)}
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }

	for _, u := range c.units {
		if err := u.start(); err != nil {
			return r, err
		}
	}
	// The client starts once a primary carries the virtual MAC.
	for deadline := c.clk.Now().Add(100 * cfg.interval); len(c.primaries()) == 0 && c.clk.Now().Before(deadline); {
		c.clk.RunFor(cfg.interval)
	}
	c.clk.RunFor(cfg.interval)
	c.startTraffic()
	// The fault falls at a seeded point within a heartbeat interval, after
	// about 100 heartbeats, so early verdicts have the loss history they
	// need.
	rng := rand.New(rand.NewPCG(uint64(cfg.seed), 7))
	c.clk.RunFor(max(settle, 100*cfg.interval) + time.Duration(rng.Int64N(int64(cfg.interval))))
	ps := c.primaries()
	if len(ps) != 1 {
		fail("%d primaries before the fault", len(ps))
		return c.finish(r), nil
	}
	p := ps[0]
	for _, u := range c.units {
		if u != p && !u.inSync() {
			fail("%s not in sync before the fault", u.name)
		}
	}
	c.faultAt = c.clk.Now()
	switch name {
	case "link":
		c.log("fault", "cut "+p.lan.Name(), "the primary's lan interface fails (carrier stays up)")
		p.lan.Cut()
		c.clk.RunFor(phase(cfg, 3*time.Second))
		if q := c.primaries(); len(q) == 1 && q[0] == p {
			fail("%s kept the role with a broken interface", p.name)
		}
		c.log("repair", "heal "+p.lan.Name(), "")
		p.lan.Heal()
		c.clk.RunFor(phase(cfg, 2*time.Second))
		// Clavister: a unit with a link failure rejoins as a subordinate.
		if p.role() != hakit.Secondary || !p.inSync() {
			fail("%s did not rejoin as an in-sync secondary: %v, in sync %v", p.name, p.role(), p.inSync())
		}
	case "unit":
		c.log("fault", p.name+" fails", "whole unit: it stops and its cables are cut")
		p.kill()
		c.clk.RunFor(phase(cfg, 3*time.Second))
		q := c.primaries()
		c.log("repair", p.name+" restarts", "fresh cores: empty session table, new heartbeat epoch")
		if err := p.restart(); err != nil {
			return r, err
		}
		c.clk.RunFor(phase(cfg, 3*time.Second))
		// A restarted unit rejoins as a subordinate (no preemption) and
		// receives the whole table by bulk sync.
		if p.role() != hakit.Secondary || !p.inSync() || p.table().Len() != c.nEstablished {
			fail("%s did not rejoin as an in-sync secondary: %v, in sync %v, %d sessions", p.name, p.role(), p.inSync(), p.table().Len())
		}
		if now := c.primaries(); len(q) != 1 || len(now) != 1 || now[0] != q[0] {
			fail("the restart moved the role: primaries %s before, %s after", names(q), names(now))
		}
	case "splitbrain":
		c.log("fault", "partition", fmt.Sprintf("%s cut off the sync segment; lan split into {%s, gw} and the rest", p.name, p.name))
		c.sync.Isolate(p.sync)
		c.lan.Isolate(p.lan, c.gw.port)
		c.clk.RunFor(phase(cfg, 3*time.Second))
		q := c.primaries()
		c.log("observer", fmt.Sprintf("%d primaries during the partition", len(q)), names(q))
		c.log("repair", "heal the partition", "")
		c.sync.Join()
		c.lan.Join()
		c.clk.RunFor(phase(cfg, 3*time.Second))
	case "handover":
		c.log("operator", p.name+": hand over for the signature update", "NetDefendOS signature update, steps 1-4")
		p.d.Yield()
		c.clk.RunFor(phase(cfg, 2*time.Second))
		if q := c.primaries(); len(q) != 1 || q[0] == p {
			fail("the role did not move away from %s: primaries %s", p.name, names(q))
		}
		c.log("operator", p.name+": update done, take the role back", "NetDefendOS signature update, step 5")
		p.d.Resume(true)
		c.clk.RunFor(phase(cfg, 2*time.Second))
		if q := c.primaries(); len(q) != 1 || q[0] != p {
			fail("%s did not take the role back: primaries %s", p.name, names(q))
		}
	default:
		return r, fmt.Errorf("unknown scenario")
	}
	return c.finish(r), nil
}

// finish measures, checks the invariants and fills r.
func (c *cluster) finish(r result) result {
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if !c.verdictAt.IsZero() {
		r.Detection = c.verdictAt.Sub(c.faultAt).Seconds()
		r.SinceHeartbeat = c.sinceLast.Seconds()
	}
	if !c.takeover.IsZero() {
		r.Takeover = c.takeover.Sub(c.faultAt).Seconds()
	}
	for _, g := range c.gaps {
		if g.to.After(c.faultAt) && !c.faultAt.IsZero() {
			r.Failover = max(r.Failover, g.to.Sub(g.from).Seconds())
		}
	}
	ps := c.primaries()
	r.Primaries = []string{}
	for _, p := range ps {
		r.Primaries = append(r.Primaries, p.name)
	}
	switch {
	case len(ps) != 1:
		fail("%d primaries at the end, want exactly 1", len(ps))
	default:
		p := ps[0]
		for i, k := range c.keys {
			if _, ok := p.table().Get(k); ok && c.established[i] {
				r.Kept++
			}
		}
		if r.Kept != c.nEstablished {
			fail("sessions kept %d of %d", r.Kept, c.nEstablished)
		}
		if port, _ := c.lan.Lookup(c.vmac); port != p.lan.Name() {
			fail("the switch sends the virtual MAC to %q, not to the primary's port %s", port, p.lan.Name())
		}
		switch {
		case len(c.keys) == 0:
		case c.lastForward.IsZero():
			fail("no traffic was ever forwarded")
		case c.clk.Now().Sub(c.lastForward) > 5*trafficTick:
			fail("traffic is not forwarded at the end (last at +%.3fs)", c.lastForward.Sub(c.start).Seconds())
		}
	}
	r.Sessions = c.nEstablished
	if c.nEstablished != len(c.keys) {
		fail("only %d of %d sessions were established", c.nEstablished, len(c.keys))
	}
	r.Unknown = c.unknown
	if c.unknown > 0 {
		fail("%d packets reached a primary that did not know their session", c.unknown)
	}
	r.OK = len(r.Failures) == 0
	r.Timeline = c.timeline
	for _, u := range c.units {
		r.Units = append(r.Units, u.report())
	}
	return r
}

func names(us []*unit) string {
	var s []string
	for _, u := range us {
		s = append(s, u.name)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func printTimeline(w io.Writer, r result) {
	fmt.Fprintf(w, "== scenario %s ==\n", r.Scenario)
	for _, e := range r.Timeline {
		line := fmt.Sprintf("+%7.3fs  %-8s %s", e.At, e.Unit, e.What)
		if e.Reason != "" {
			line += "  (" + e.Reason + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
}

func printSummary(w io.Writer, rs []result) {
	fmt.Fprintln(w, "== summary ==")
	fmt.Fprintf(w, "%-11s %-21s %-9s %-9s %-18s %-10s %s\n", "scenario", "detection", "takeover", "failover", "sessions kept", "primary", "result")
	for _, r := range rs {
		det := "-"
		if r.Detection > 0 {
			det = fmt.Sprintf("%.3fs (%.3fs hb)", r.Detection, r.SinceHeartbeat)
		}
		res := "ok"
		if !r.OK {
			res = "FAILED: " + strings.Join(r.Failures, "; ")
		}
		fmt.Fprintf(w, "%-11s %-21s %-9s %-9s %-18s %-10s %s\n", r.Scenario, det,
			fmt.Sprintf("%.3fs", r.Takeover), fmt.Sprintf("%.3fs", r.Failover),
			fmt.Sprintf("%d of %d", r.Kept, r.Sessions), strings.Join(r.Primaries, ","), res)
	}
	fmt.Fprintln(w, "detection: fault to first verdict (hb: last heartbeat heard to verdict); takeover: fault to the new primary's role change; failover: longest gap in forwarded traffic")
}
