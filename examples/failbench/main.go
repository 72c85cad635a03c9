// Command failbench measures the failover gap a client sees, side by side
// for keepalived and for hakit's daemon (examples/hanode), on the real
// test bed: a client and units A and B in network namespaces, cabled by
// veth pairs to one Linux bridge, all in 198.18.0.0/24, the virtual
// address 198.18.0.100 held by the active unit.
//
// The client sends a UDP probe to the virtual address every millisecond;
// each unit runs a UDP echo responder bound to it (answering only while
// the unit holds it). Each run waits until one unit (the active one) alone
// has answered for a while, pulls its cable at the switch and kills its
// daemon with SIGKILL, and records the longest stretch without an answer
// until the other unit answers steadily. Then the failed unit's leftovers
// (the virtual address, a virtual MAC) are removed, its cable goes back
// and its daemon restarts; it rejoins as the backup (no preemption), so
// the roles alternate from run to run.
//
// keepalived runs unicast VRRPv3 (advert_int = the interval, both units
// priority 100, nopreempt), hakit's hanode its defaults (2 misses, early
// verdict, 0.6 s probe window, the virtual MAC on the interface) without
// -preempt. The client also pings each unit's own address every 100 ms
// (-neighbours), so that each unit has a live neighbour in its ARP cache,
// as a router on a network with traffic has. It prints a table per
// interval: p50/p99 of both, and the ratio keepalived p50 / hakit p99
// (issue 8's target: at least 1).
//
// With -loss it runs the no-false-failover soak instead: both systems in
// turn run for -duration at -interval with that share of frames dropped
// at random by the bridge, and their role changes are counted.
//
// It needs root, ip, bridge and nft, installs keepalived with apt-get when
// it is missing, and removes everything it built when it ends:
//
//	go build -o /tmp/failbench ./examples/failbench
//	/tmp/failbench -runs 10 -intervals 1s,100ms,10ms
//	/tmp/failbench -loss 0.2 -duration 10m -interval 100ms
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hakit/hakit/internal/testbed"
)

func main() {
	var (
		runs      = flag.Int("runs", 10, "failovers per system and interval")
		intervals = flag.String("intervals", "1s,100ms,10ms", "heartbeat (advert) intervals, comma-separated")
		systems   = flag.String("systems", "keepalived,hakit", "systems to measure, comma-separated")
		loss      = flag.Float64("loss", 0, "run the soak instead: drop this share of frames on the bridge")
		duration  = flag.Duration("duration", 10*time.Minute, "soak duration (with -loss)")
		interval  = flag.Duration("interval", 100*time.Millisecond, "soak interval (with -loss)")
		asJSON    = flag.Bool("json", false, "print the results as JSON")
		hanodeBin = flag.String("hanode", "", "hanode binary (default: go build ./examples/hanode, run from the repository)")
		extra     = flag.String("hanode-args", "", "extra hanode flags, space-separated (for example \"-misses 3 -vmac off\")")
		chatter   = flag.Bool("neighbours", true, "the client pings each unit's own address every 100 ms (each unit has a live neighbour)")
		verbose   = flag.Bool("v", false, "print every run")
	)
	flag.Parse()
	hanodeExtra = strings.Fields(*extra)
	hanodePath = *hanodeBin
	ivs, err := parseIntervals(*intervals)
	if err != nil {
		log.Fatal(err)
	}
	syss := strings.Split(*systems, ",")
	for _, s := range syss {
		if s != "keepalived" && s != "hakit" {
			log.Fatalf("failbench: unknown system %q (want keepalived, hakit)", s)
		}
	}
	if *loss < 0 || *loss > 1 {
		log.Fatalf("failbench: -loss %v not in [0, 1]", *loss)
	}
	logf := func(format string, a ...any) {
		if *verbose {
			log.Printf(format, a...)
		}
	}
	if err := run(syss, ivs, *runs, *loss, *duration, *interval, *chatter, *asJSON, os.Stdout, logf); err != nil {
		log.Fatal(err)
	}
}

func parseIntervals(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("failbench: -intervals: bad interval %q", f)
		}
		out = append(out, d)
	}
	return out, nil
}

// report is the JSON output.
type report struct {
	Cells []cell `json:"cells,omitempty"`
	Soaks []soak `json:"soaks,omitempty"`
}

func run(syss []string, ivs []time.Duration, runs int, loss float64, d, soakInterval time.Duration,
	neighbours, asJSON bool, w io.Writer, logf func(string, ...any)) error {
	dir, err := os.MkdirTemp("", "failbench-")
	if err != nil {
		return fmt.Errorf("failbench: %w", err)
	}
	// Prepare the systems; one that cannot run is reported, not measured.
	var use []system
	unavailable := map[string]string{}
	for _, s := range syss {
		switch s {
		case "keepalived":
			if err := ensureKeepalived(); err != nil {
				unavailable[s] = err.Error()
				continue
			}
			use = append(use, keepalived{})
		case "hakit":
			bin, err := hanodePath, error(nil)
			if bin == "" {
				bin, err = buildHanode(dir)
			}
			if err != nil {
				unavailable[s] = err.Error()
				continue
			}
			use = append(use, hakit{bin: bin})
		}
	}

	bed, err := testbed.Open("failbench")
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished) // runs after cleanup: defers run last in, first out
	var (
		b    *bench
		once sync.Once
	)
	cleanup := func() {
		once.Do(func() {
			if b != nil {
				b.close()
			}
			bed.Close()
		})
	}
	defer cleanup()
	go func() {
		// Ctrl-C: remove everything, then exit.
		select {
		case <-sigs:
			cleanup()
			os.Exit(130)
		case <-finished:
		}
	}()
	b, err = newBench(bed, dir, time.Millisecond)
	if err != nil {
		return err
	}
	if neighbours {
		b.chatter()
	}

	var rep report
	if loss > 0 {
		for _, s := range syss {
			if why, ok := unavailable[s]; ok {
				rep.Soaks = append(rep.Soaks, soak{System: s, Skipped: why})
			}
		}
		for _, sys := range use {
			rep.Soaks = append(rep.Soaks, b.runSoak(sys, soakInterval, loss, d, logf))
		}
		return printSoaks(w, rep, asJSON)
	}
	for _, iv := range ivs {
		for _, s := range syss {
			if why, ok := unavailable[s]; ok {
				rep.Cells = append(rep.Cells, cell{System: s, Interval: iv.String(), Skipped: why})
			}
		}
		for _, sys := range use {
			rep.Cells = append(rep.Cells, b.runCell(sys, iv, runs, logf))
		}
	}
	return printCells(w, rep, ivs, asJSON)
}

// chatter has the client ping each unit's own address every 100 ms, so
// that each unit has a live neighbour in its ARP cache, as a router on a
// network with traffic has: what hakit's Early Interface Failure
// Detection probes to confirm its own link. keepalived does not use it.
func (b *bench) chatter() {
	for _, p := range unitPrefixes {
		b.client.Start("ping", "-q", "-i", "0.1", p.Addr().String())
	}
}

// ensureKeepalived installs keepalived from Debian when it is missing.
func ensureKeepalived() error {
	if _, err := exec.LookPath("keepalived"); err == nil {
		return nil
	}
	out, err := exec.Command("apt-get", "install", "-y", "keepalived").CombinedOutput()
	if err != nil {
		return fmt.Errorf("keepalived missing and apt-get install failed: %v: %s", err, lastLine(out))
	}
	if _, err := exec.LookPath("keepalived"); err != nil {
		return fmt.Errorf("keepalived missing after apt-get install: %w", err)
	}
	return nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func printCells(w io.Writer, rep report, ivs []time.Duration, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "interval\tkeepalived p50\tkeepalived p99\tn\thakit p50\thakit p99\tn\tratio (ka p50 / hakit p99)\t")
	var notes []string
	for _, iv := range ivs {
		var ka, hk *cell
		for i := range rep.Cells {
			c := &rep.Cells[i]
			if c.Interval != iv.String() {
				continue
			}
			switch c.System {
			case "keepalived":
				ka = c
			case "hakit":
				hk = c
			}
			if c.Skipped != "" {
				notes = append(notes, fmt.Sprintf("%s %s: not measured (%s)", c.System, c.Interval, c.Skipped))
			}
			for _, f := range c.Failed {
				notes = append(notes, fmt.Sprintf("%s %s: %s", c.System, c.Interval, f))
			}
		}
		ratio := "-"
		if ka != nil && hk != nil && len(ka.Gaps) > 0 && len(hk.Gaps) > 0 && hk.P99MS > 0 {
			ratio = fmt.Sprintf("%.2f", ka.P50MS/hk.P99MS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", iv,
			cellMS(ka, func(c *cell) float64 { return c.P50MS }), cellMS(ka, func(c *cell) float64 { return c.P99MS }), cellN(ka),
			cellMS(hk, func(c *cell) float64 { return c.P50MS }), cellMS(hk, func(c *cell) float64 { return c.P99MS }), cellN(hk),
			ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

func cellMS(c *cell, f func(*cell) float64) string {
	if c == nil || len(c.Gaps) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", f(c))
}

func cellN(c *cell) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprint(len(c.Gaps))
}

func printSoaks(w io.Writer, rep report, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	for _, s := range rep.Soaks {
		if s.Skipped != "" && s.Duration == "" {
			fmt.Fprintf(w, "%s: not measured (%s)\n", s.System, s.Skipped)
			continue
		}
		fmt.Fprintf(w, "%s: %s at %s with %.0f%% loss: %d log lines taking the role, %d VIP holder changes, %d switches of the answering unit",
			s.System, s.Duration, s.Interval, 100*s.Loss, s.LogActive, s.HolderMoves, s.ClientMoves)
		if s.Skipped != "" {
			fmt.Fprintf(w, " (incomplete: %s)", s.Skipped)
		}
		fmt.Fprintln(w)
	}
	return nil
}
