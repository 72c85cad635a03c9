//go:build linux

// Command fwbench measures what a firewall pair's session table costs its
// failover: the gap a TCP stream through the pair sees when the active unit
// loses power, with an empty table and with -sessions more sessions in it,
// for hakit's daemon (examples/hanode with -conntrack) and for keepalived
// with conntrackd (FT-FW, the notify script Debian ships), on the same bed
// in the same run.
//
// The bed is examples/hanode's firewall pair: client — bridge c — units A
// and B — bridge s — server, the heartbeat and sync link on bridge y; the
// units forward only established traffic and new connections from the
// client side, with nf_conntrack_tcp_loose=0, so that a unit without the
// stream's entry drops it. The active unit holds the gateway addresses
// 198.18.1.1/24 and 198.18.2.1/24.
//
// Each run: A's kernel gets the sessions (injected: a million take a few
// seconds), the daemons start, A becomes active, B receives A's table (in
// its kernel for hakit's warm standby, in conntrackd's external cache),
// the client opens a TCP stream to the server that echoes every
// millisecond, then A loses power (its daemons frozen, its cables out, its
// daemons killed) and the run records the longest silence of the stream
// until it flows through B. The table prints each system's gap per table
// size and the difference to its empty-table gap.
//
// It needs root, ip, bridge, nft, conntrack, keepalived and conntrackd
// (for -systems conntrackd), and a million sessions need room in the
// kernel: net.netfilter.nf_conntrack_max is global, a namespace cannot
// raise it; nor the hash table, shared by every namespace, whose chains
// past a limit make the kernel refuse new entries (ENOSPC) — with two
// million entries on the bed, give it a million buckets (and set it back
// afterwards: a larger table slows every flush and namespace removal):
//
//	go build -o /tmp/fwbench ./examples/fwbench
//	sysctl -w net.netfilter.nf_conntrack_max=4194304
//	sysctl -w net.netfilter.nf_conntrack_buckets=1048576
//	/tmp/fwbench -sessions 0,1000000 -runs 3
//
// Everything it builds is removed when it ends, also on Ctrl-C.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var (
		sizes     = flag.String("sessions", "0,1000000", "table sizes, comma-separated (0: empty)")
		runs      = flag.Int("runs", 3, "failovers per system and size")
		systems   = flag.String("systems", "hakit,conntrackd", "systems to measure: hakit (hanode), conntrackd (keepalived + conntrackd)")
		interval  = flag.Duration("interval", 100*time.Millisecond, "heartbeat (VRRP advert) interval of both")
		hanodeBin = flag.String("hanode", "", "hanode binary (default: go build ./examples/hanode, run from the repository)")
		extra     = flag.String("hanode-args", "", "extra hanode flags, space-separated")
		verbose   = flag.Bool("v", false, "log each step")
		keep      = flag.String("keep", "", "keep the daemons' configurations and logs in this directory")
	)
	flag.Parse()
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			log.Fatalf("fwbench: -sessions: %q is not a size", f)
		}
		ns = append(ns, n)
	}
	var syss []system
	for _, name := range strings.Split(*systems, ",") {
		switch name {
		case "hakit":
			bin := *hanodeBin
			if bin == "" {
				var err error
				if bin, err = buildHanode(); err != nil {
					log.Fatal(err)
				}
				defer os.RemoveAll(filepath.Dir(bin))
			}
			syss = append(syss, &hanode{bin: bin, extra: strings.Fields(*extra)})
		case "conntrackd":
			for _, tool := range []string{"keepalived", "conntrackd"} {
				if _, err := exec.LookPath(tool); err != nil {
					log.Fatalf("fwbench: %s not found (apt install keepalived conntrackd): %v", tool, err)
				}
			}
			syss = append(syss, conntrackd{})
		default:
			log.Fatalf("fwbench: unknown system %q", name)
		}
	}
	logf = func(format string, args ...any) {
		if *verbose {
			log.Printf(format, args...)
		}
	}
	if err := run(syss, ns, *runs, *interval, *keep); err != nil {
		log.Fatal(err)
	}
}

var logf func(string, ...any)

func buildHanode() (string, error) {
	dir, err := os.MkdirTemp("", "fwbench-hanode")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hanode")
	out, err := exec.Command("go", "build", "-o", bin, "./examples/hanode").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("fwbench: go build ./examples/hanode (run from the repository): %v: %s", err, out)
	}
	return bin, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func run(syss []system, sizes []int, runs int, interval time.Duration, keep string) error {
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max"); err == nil {
		if limit, _ := strconv.Atoi(strings.TrimSpace(string(b))); limit > 0 && limit < slices.Max(sizes)+1000 {
			return fmt.Errorf("fwbench: net.netfilter.nf_conntrack_max is %d, too small for %d sessions; raise it:\n"+
				"    sysctl -w net.netfilter.nf_conntrack_max=%d", limit, slices.Max(sizes), 4*slices.Max(sizes))
		}
	}
	dir := keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "fwbench"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		closeCurrent()
		if keep == "" {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}()
	fmt.Printf("load average %s, heartbeat interval %v, %d runs each; gaps: p50 (max), and the p50 minus the empty table's\n", loadavg(), interval, runs)
	fmt.Printf("%-30s  %-9s  %-30s  %s\n", "system", "sessions", "path (UDP probe)", "session (TCP stream)")
	for _, sys := range syss {
		var empty gaps
		for _, n := range sizes {
			var udp, tcp []time.Duration
			for r := range runs {
				g, err := failover(dir, sys, n, interval)
				if err != nil {
					return fmt.Errorf("fwbench: %s, %d sessions, run %d: %w", sys.name(), n, r+1, err)
				}
				logf("%s, %d sessions, run %d: path %v, session %v", sys.name(), n, r+1, g.udp, g.tcp)
				udp, tcp = append(udp, g.udp), append(tcp, g.tcp)
			}
			slices.Sort(udp)
			slices.Sort(tcp)
			med := gaps{udp: udp[len(udp)/2], tcp: tcp[len(tcp)/2]}
			col := func(p50, worst, base time.Duration) string {
				s := fmt.Sprintf("%s (%s)", ms(p50), ms(worst))
				if n > 0 && base > 0 {
					s += fmt.Sprintf(" %+.1f", float64(p50-base)/1e6)
				}
				return s
			}
			if n == 0 {
				empty = med
			}
			fmt.Printf("%-30s  %-9d  %-30s  %s\n", sys.name(), n, col(med.udp, udp[len(udp)-1], empty.udp), col(med.tcp, tcp[len(tcp)-1], empty.tcp))
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
