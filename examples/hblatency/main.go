//go:build linux

// Command hblatency measures heartbeat failure detection on real Linux
// links: units in network namespaces, cabled by veth pairs to Linux bridges,
// heartbeats over AF_PACKET (heartbeat.ListenEthernet), EIFD probes over
// heartbeat.NewProber and neighbours from the kernel (heartbeat.KernelNeighbours).
//
// It runs two phases and prints their figures:
//
//   - idle: -pairs clusters (units a and b and a gateway gw on a bridge of
//     their own) exchange heartbeats until -heartbeats have been received in
//     all; every suspicion and verdict is a false one (target: 0);
//   - events: -events times, the cable of unit b of the first pair is pulled
//     at the switch (its bridge port set down over rtnetlink) and the time
//     until unit a reports b Suspect and then PeerDown is recorded; the cable
//     goes back and the pair settles before the next pull. It prints p50, p99
//     and max from the pull to Suspect and to PeerDown (target at a 10 ms
//     interval and 3 misses: p99 ≤ 40 ms), from Suspect to PeerDown (what
//     EIFD adds) and from the last heartbeat unit a read to PeerDown (what
//     the protocol takes, without the delivery delay of the last frame).
//
// It needs root (network namespaces, AF_PACKET) and ip, bridge and nft, and
// removes everything it built when it ends, also on Ctrl-C:
//
//	go build -o /tmp/hblatency ./examples/hblatency
//	sudo chrt -f 50 /tmp/hblatency -interval 10ms -misses 3 -events 100 -heartbeats 100000
//
// chrt gives it real-time scheduling, as a failover daemon should have: at a
// 10 ms interval, a unit not scheduled for 30 ms misses 3 heartbeats.
//
// Addresses come from 198.18.0.0/15, inside namespaces it created.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/testbed"
)

func main() {
	var (
		interval   = flag.Duration("interval", 10*time.Millisecond, "heartbeat interval")
		misses     = flag.Int("misses", 3, "missed heartbeats before a suspicion")
		window     = flag.Duration("window", 600*time.Millisecond, "EIFD probe window")
		mode       = flag.String("mode", "early", "verdict mode: early or strict")
		events     = flag.Int("events", 50, "cable pulls to time (0: skip)")
		settle     = flag.Duration("settle", 2*time.Second, "time the pair runs after a cable is back before the next pull")
		heartbeats = flag.Uint64("heartbeats", 100000, "heartbeats to receive in the idle phase (0: skip)")
		pairs      = flag.Int("pairs", 4, "clusters running at once in the idle phase")
		verbose    = flag.Bool("v", false, "print every event and every false report")
	)
	flag.Parse()
	cfg := heartbeat.Config{Interval: *interval, Misses: *misses, ProbeWindow: *window}
	switch *mode {
	case "early":
		cfg.Mode = heartbeat.ModeEarly
	case "strict":
		cfg.Mode = heartbeat.ModeStrict
	default:
		log.Fatalf("hblatency: unknown mode %q", *mode)
	}
	if err := cfg.Validate(); err != nil {
		log.Fatal(err)
	}
	if *pairs < 1 {
		log.Fatal("hblatency: -pairs must be at least 1")
	}

	bed, err := testbed.Open("hblatency")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = run(ctx, bed, cfg, *pairs, *heartbeats, *events, *settle, *verbose)
	if cerr := bed.Close(); cerr != nil {
		log.Print(cerr)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, bed *testbed.Bed, cfg heartbeat.Config, pairs int, heartbeats uint64, events int, settle time.Duration, verbose bool) (err error) {
	// The bed's setup methods panic on failure; turn that into an error so
	// that main still closes the bed.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("hblatency: %v", p)
		}
	}()
	fmt.Printf("hblatency: interval %v, misses %d, probe window %v, mode %v\n", cfg.Interval, cfg.Misses, cfg.ProbeWindow, cfg.Mode)
	ps := make([]*pair, pairs)
	for i := range ps {
		if ps[i], err = newPair(bed, i, cfg); err != nil {
			return err
		}
		defer ps[i].close()
	}
	for _, p := range ps {
		if err := p.waitAlive(ctx, 10*time.Second); err != nil {
			return err
		}
	}
	if heartbeats > 0 {
		if err := idle(ctx, ps, heartbeats, verbose); err != nil {
			return err
		}
	}
	if events > 0 {
		// Only the first pair is timed: the others would only load the
		// machine.
		for _, p := range ps[1:] {
			p.close()
		}
		if err := pulls(ctx, ps[0], cfg, events, settle, verbose); err != nil {
			return err
		}
	}
	return nil
}

// idle runs every pair until they have received n heartbeats in all and
// reports the suspicions and verdicts seen meanwhile: all of them false.
func idle(ctx context.Context, ps []*pair, n uint64, verbose bool) error {
	received := func() uint64 {
		var sum uint64
		for _, p := range ps {
			for _, u := range p.units {
				sum += u.node.Counters().Received
			}
		}
		return sum
	}
	marks := make([][2]int, len(ps))
	for i, p := range ps {
		marks[i] = [2]int{p.units[0].rec.mark(), p.units[1].rec.mark()}
	}
	start, base := time.Now(), received()
	fmt.Printf("idle: %d pairs until %d heartbeats are received...\n", len(ps), n)
	for received()-base < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	got, took := received()-base, time.Since(start)
	var suspicions, verdicts int
	for i, p := range ps {
		for j, u := range p.units {
			for _, r := range u.rec.since(marks[i][j]) {
				switch {
				case r.State == heartbeat.Suspect:
					suspicions++
				case r.State.Verdict():
					verdicts++
				default:
					continue
				}
				if verbose {
					fmt.Printf("  false report: pair %d unit %s: %v\n", i, u.name, r)
				}
			}
		}
	}
	fmt.Printf("idle: %d heartbeats received in %v: %d false suspicions, %d false verdicts (target 0)\n",
		got, took.Round(time.Second), suspicions, verdicts)
	return nil
}

// pulls times n cable pulls of unit b of p, observed by unit a.
func pulls(ctx context.Context, p *pair, cfg heartbeat.Config, n int, settle time.Duration, verbose bool) error {
	a, b := p.units[0], p.units[1]
	sw, err := openPort(p.bridge.Namespace(), b.link.Peer())
	if err != nil {
		return err
	}
	defer sw.close()
	var suspect, verdict, eifd, fromLast []time.Duration
	var missed, wrong, late int
	// A verdict can take the probe window extended 10 times (ModeEarly on a
	// link that looked lossy); give up on an event after that.
	limit := 11*cfg.ProbeWindow + time.Second
	fmt.Printf("events: %d cable pulls at the switch (unit b of pair 0), timed at unit a...\n", n)
	for i := range n {
		if err := p.waitAlive(ctx, 10*time.Second); err != nil {
			return err
		}
		// Settle, then pull at a random phase of the heartbeat interval.
		jitter := time.Duration(rand.Int64N(int64(cfg.Interval)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle + jitter):
		}
		mark := a.rec.mark()
		t0 := time.Now()
		if err := sw.set(false); err != nil {
			return err
		}
		var s, v heartbeat.Report
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) && (v.State == 0) {
			for _, r := range a.rec.since(mark) {
				if r.State == heartbeat.Suspect && s.State == 0 {
					s = r
				}
				if r.State.Verdict() && v.State == 0 {
					v = r
				}
			}
			time.Sleep(time.Millisecond)
		}
		if err := sw.set(true); err != nil {
			return err
		}
		// When a heard b's last heartbeat (after the pull if a read it late).
		last := a.node.Peers()[0].Links[0].LastHeard
		if last.After(t0) {
			late++
		}
		switch {
		case v.State == 0:
			missed++
		case v.State != heartbeat.PeerDown:
			wrong++
		default:
			verdict = append(verdict, v.At.Sub(t0))
			fromLast = append(fromLast, v.At.Sub(last))
		}
		if s.State != 0 {
			suspect = append(suspect, s.At.Sub(t0))
			if v.State != 0 {
				eifd = append(eifd, v.At.Sub(s.At))
			}
		}
		if verbose {
			fmt.Printf("  event %d: suspect after %v, %v after %v: %s\n", i+1,
				s.At.Sub(t0).Round(10*time.Microsecond), v.State, v.At.Sub(t0).Round(10*time.Microsecond), v.Reason)
		}
		// The pull flushed b's neighbour cache (carrier loss); resolve gw
		// again, as b's traffic would.
		if err := p.resolve(); err != nil {
			return err
		}
	}
	fmt.Printf("events: %d pulls, %d peer-down verdicts, %d other verdicts, %d without a verdict within %v\n",
		n, len(verdict), wrong, missed, limit)
	fmt.Printf("  pull → suspect              %s\n", summary(suspect))
	fmt.Printf("  pull → peer-down            %s\n", summary(verdict))
	fmt.Printf("  suspect → peer-down (EIFD)  %s\n", summary(eifd))
	fmt.Printf("  last heartbeat → peer-down  %s\n", summary(fromLast))
	fmt.Printf("  (%d events where a read b's last heartbeat after the pull: delivery or scheduling delay)\n", late)
	return nil
}

// summary returns p50, p99 and max of ds (nearest rank).
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("p50 %v  p99 %v  min %v  max %v  (n=%d)", r(rank(0.50)), r(rank(0.99)), r(s[0]), r(s[len(s)-1]), len(s))
}

// recorder keeps a Driver's reports.
type recorder struct {
	mu      sync.Mutex
	reports []heartbeat.Report
}

func (r *recorder) add(rep heartbeat.Report) {
	r.mu.Lock()
	r.reports = append(r.reports, rep)
	r.mu.Unlock()
}

func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reports)
}

func (r *recorder) since(mark int) []heartbeat.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports[mark:])
}

type unit struct {
	name  string
	host  *testbed.Host
	link  *testbed.Link
	node  *heartbeat.Driver
	neigh heartbeat.NeighbourSource
	rec   *recorder
}

// pair is a cluster of two units, a and b, and a gateway gw on one bridge;
// pair i uses 198.18.i.0/24 (a .1, b .2, gw .254).
type pair struct {
	bridge *testbed.Bridge
	gw     netip.Addr
	units  [2]*unit
}

func newPair(bed *testbed.Bed, i int, cfg heartbeat.Config) (*pair, error) {
	addr := func(host int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("198.18.%d.%d", i, host)) }
	p := &pair{bridge: bed.Bridge(fmt.Sprintf("lan%d", i)), gw: addr(254)}
	gw := bed.Host(fmt.Sprintf("gw%d", i))
	bed.Link(gw, p.bridge, "eth0")
	gw.AddAddr("eth0", netip.PrefixFrom(p.gw, 24))
	for j, name := range []string{"a", "b"} {
		u := &unit{name: name, host: bed.Host(fmt.Sprintf("%s%d", name, i)), rec: &recorder{}}
		u.link = bed.Link(u.host, p.bridge, "eth0")
		u.host.AddAddr("eth0", netip.PrefixFrom(addr(j+1), 24))
		p.units[j] = u
	}
	if err := p.resolve(); err != nil {
		return nil, err
	}
	for j, u := range p.units {
		ucfg := cfg
		ucfg.ClusterID, ucfg.UnitID = uint16(100+i), uint16(j+1)
		ucfg.Role = []hakit.Role{hakit.Primary, hakit.Secondary}[j]
		ucfg.OnReport = u.rec.add
		ifc := heartbeat.Interface{Name: "eth0", Addr: addr(j + 1)}
		err := u.host.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			u.neigh = heartbeat.KernelNeighbours()
			if ifc.Conn, err = heartbeat.ListenEthernet(ifi, heartbeat.DefaultEtherType); err != nil {
				return err
			}
			ifc.Prober, err = heartbeat.NewProber(ifi)
			return err
		})
		if err != nil {
			return nil, err
		}
		ucfg.Neighbours = u.neigh
		if u.node, err = heartbeat.NewDriver(&ucfg, ifc); err != nil {
			return nil, err
		}
		if err := u.node.Start(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// resolve has both units ping gw, so that gw is in their neighbour caches.
func (p *pair) resolve() error {
	for _, u := range p.units {
		var err error
		for range 20 {
			if _, err = u.host.Run("ping", "-c", "1", "-W", "1", p.gw.String()); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("hblatency: %s cannot reach gw: %w", u.host.Name(), err)
		}
	}
	return nil
}

// waitAlive waits until each unit sees the other Alive.
func (p *pair) waitAlive(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ok := true
		for _, u := range p.units {
			ps := u.node.Peers()
			if len(ps) != 1 || len(ps[0].Links) != 1 || ps[0].Links[0].State != heartbeat.Alive {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("hblatency: units do not see each other")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// close stops the pair's Drivers; it may be called more than once.
func (p *pair) close() {
	for _, u := range p.units {
		if u.node != nil {
			_ = u.node.Close()
		}
		if c, ok := u.neigh.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

// port sets a bridge port up or down over rtnetlink in the bridge's
// namespace: the cable pulled at the switch, at a known instant.
type port struct {
	c     *rtnetlink.Conn
	index uint32
}

func openPort(ns, ifname string) (*port, error) {
	f, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := rtnetlink.Dial(&netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		return nil, fmt.Errorf("hblatency: rtnetlink in %s: %w", ns, err)
	}
	links, err := c.Link.List()
	if err != nil {
		c.Close()
		return nil, err
	}
	for _, l := range links {
		if l.Attributes != nil && l.Attributes.Name == ifname {
			return &port{c: c, index: l.Index}, nil
		}
	}
	c.Close()
	return nil, fmt.Errorf("hblatency: no port %s in %s", ifname, ns)
}

func (p *port) set(up bool) error {
	var flags uint32
	if up {
		flags = unix.IFF_UP
	}
	return p.c.Link.Set(&rtnetlink.LinkMessage{Family: unix.AF_UNSPEC, Index: p.index, Flags: flags, Change: unix.IFF_UP})
}

func (p *port) close() { _ = p.c.Close() }
