//go:build linux

// Command ctbench measures how fast sessions get into a standby's kernel
// conntrack table, hakit next to conntrackd, on the same machine in the
// same run.
//
// For each size in -sessions (IPv4, nine in ten TCP established, one in
// ten UDP, a fifth of them with source NAT):
//
//   - hakit, cold: statesync/conntrack's Injector.Commit of a table of that
//     size into a fresh network namespace's kernel: the commit of a
//     standby that kept its replica in memory only.
//   - hakit, warm: the same table followed into the kernel beforehand
//     (Injector.Follow); then -churn of its sessions change at once and
//     Commit writes what is left: the commit of a warm standby at
//     takeover. The program also prints what following cost: CPU time
//     per change written and kernel memory per entry (the Slab line of
//     /proc/meminfo).
//   - conntrackd, cold: unit a's kernel holds the sessions; conntrackd runs
//     on a and on b (FT-FW over UDP on a veth link); b receives a's table
//     into its external cache (conntrackd -n); then conntrackd -c on b,
//     timed until b's kernel holds them all (conntrack -C).
//
// It needs root, ip, bridge, nft and conntrack, and conntrackd for the
// comparison (-conntrackd=false skips it). Tables of a million sessions
// need room in the kernel: net.netfilter.nf_conntrack_max is a global
// setting, read-only inside a namespace, and the program says so when it
// is too small:
//
//	go build -o /tmp/ctbench ./examples/ctbench && /tmp/ctbench -sessions 10000,100000,1000000
//
// Everything it builds (namespaces, links, daemons, their files) is removed
// when it ends, also on Ctrl-C. Addresses come from 198.18.0.0/15.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hakit/hakit/internal/conntrackdconf"
	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/conntrack"
)

func main() {
	var (
		sizes      = flag.String("sessions", "10000,100000,1000000", "comma-separated table sizes")
		churn      = flag.Int("churn", 10_000, "sessions changed just before the warm standby's commit")
		withCTD    = flag.Bool("conntrackd", true, "measure conntrackd too (needs conntrackd in PATH)")
		warmOnly   = flag.Bool("warm-only", false, "measure only hakit's warm standby")
		ctdTimeout = flag.Duration("conntrackd-timeout", 10*time.Minute, "give up on conntrackd after this long per size")
	)
	flag.Parse()
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			log.Fatalf("ctbench: -sessions: %q is not a size", f)
		}
		ns = append(ns, n)
	}
	if err := run(ns, *churn, *withCTD && !*warmOnly, *warmOnly, *ctdTimeout); err != nil {
		log.Fatal(err)
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// sessions returns a table of n sessions that expire in an hour.
func sessions(n int) *statesync.Table {
	t := statesync.NewTable(n)
	exp := statesync.Deadline(time.Now().Add(time.Hour))
	for i := range n {
		s := statesync.Session{
			Key: statesync.Key{Proto: 6,
				Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)}), 1024+uint16(i)),
				Dst: netip.MustParseAddrPort("198.19.0.1:443")},
			State:   statesync.TCPStateEstablished,
			Status:  0x0e, // SEEN_REPLY | ASSURED | CONFIRMED
			Expires: exp,
		}
		if i%10 == 9 {
			s.Key.Proto, s.State, s.Key.Dst = 17, 0, netip.MustParseAddrPort("198.19.0.2:53")
		}
		if i%5 == 0 {
			s.ReplySrc = s.Key.Dst
			s.ReplyDst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 255, byte(i >> 16)}), uint16(i))
		}
		t.Upsert(s)
	}
	return t
}

// natRules registers the NAT hooks a namespace needs for the kernel to
// take NAT bindings (see the statesync/conntrack doc).
const natRules = `table ip nat {
	chain post { type nat hook postrouting priority srcnat; policy accept; }
}`

func run(sizes []int, churn int, withCTD, warmOnly bool, ctdTimeout time.Duration) error {
	if withCTD {
		if _, err := exec.LookPath("conntrackd"); err != nil {
			return fmt.Errorf("ctbench: conntrackd not found (apt install conntrackd, or -conntrackd=false): %w", err)
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max"); err == nil {
		if limit, _ := strconv.Atoi(strings.TrimSpace(string(b))); limit > 0 && limit < 2*max(sizes[len(sizes)-1], sizes[0]) {
			fmt.Printf("note: net.netfilter.nf_conntrack_max is %d: tables near it will be refused; raise it with\n"+
				"      sysctl -w net.netfilter.nf_conntrack_max=%d\n", limit, 2*sizes[len(sizes)-1])
		}
	}
	bed, err := testbed.Open("ctbench")
	if err != nil {
		return err
	}
	defer bed.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; bed.Close(); os.Exit(1) }()

	fmt.Printf("load average %s, %d CPUs, kernel %s\n", loadavg(), numCPU(), kernel())
	fmt.Printf("%-9s  %-22s  %-22s  %-22s  %s\n", "sessions", "hakit cold commit", "hakit warm commit", "conntrackd commit", "conntrackd / hakit cold")
	for _, n := range sizes {
		table := sessions(n)
		var cold, warm result
		if !warmOnly {
			cold, err = hakitCold(bed, table, n)
			if err != nil {
				return err
			}
		}
		warm, err = hakitWarm(bed, table, n, churn)
		if err != nil {
			return err
		}
		var ctd result
		if withCTD {
			ctd, err = conntrackdCold(bed, table, n, ctdTimeout)
			if err != nil {
				return err
			}
		}
		ratio := "-"
		if cold.took > 0 && ctd.took > 0 {
			ratio = fmt.Sprintf("%.1f×", ctd.took.Seconds()/cold.took.Seconds())
		}
		fmt.Printf("%-9d  %-22s  %-22s  %-22s  %s\n", n, cold, warm, ctd, ratio)
		if ctd.returned > 0 {
			fmt.Printf("           conntrackd -c returned after %.3f s\n", ctd.returned.Seconds())
		}
		if warm.cpuPerChange > 0 {
			fmt.Printf("           warm standby: %d followed in %v, %.2f µs CPU per change written, %.0f bytes of kernel memory per entry; tail of %d changes\n",
				n, warm.follow.Round(time.Millisecond), warm.cpuPerChange.Seconds()*1e6, warm.memPerEntry, churn)
		}
	}
	return nil
}

// result is one measurement.
type result struct {
	n            int
	took         time.Duration
	follow       time.Duration // warm: writing the table while following
	cpuPerChange time.Duration
	memPerEntry  float64
	tail         int           // warm: changes the commit wrote
	returned     time.Duration // conntrackd: when conntrackd -c returned
}

func (r result) String() string {
	switch {
	case r.took == 0:
		return "-"
	case r.follow > 0:
		return fmt.Sprintf("%8.3f s (tail %d)", r.took.Seconds(), r.tail)
	}
	return fmt.Sprintf("%8.3f s %7.0fk/s", r.took.Seconds(), float64(r.n)/r.took.Seconds()/1000)
}

var hostSeq int

// freshHost returns a new namespace with the NAT hooks registered.
func freshHost(bed *testbed.Bed) (*testbed.Host, error) {
	hostSeq++
	h := bed.Host(fmt.Sprintf("s%d", hostSeq))
	cmd := h.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(natRules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ctbench: nft: %v: %s", err, out)
	}
	return h, nil
}

func dialInjector(h *testbed.Host) (*conntrack.Injector, error) {
	var in *conntrack.Injector
	err := h.Do(func() error {
		var err error
		in, err = conntrack.DialInjector(nil)
		return err
	})
	return in, err
}

// kernelCount returns the number of entries in h's conntrack table.
func kernelCount(h *testbed.Host) (int, error) {
	out, err := h.Run("conntrack", "-C")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// flush empties h's conntrack table, so that the sizes measured next have
// the memory.
func flush(h *testbed.Host) error {
	if _, err := h.Run("conntrack", "-F"); err != nil {
		return fmt.Errorf("ctbench: conntrack -F: %w", err)
	}
	return nil
}

// hakitCold commits table into a fresh namespace.
func hakitCold(bed *testbed.Bed, table *statesync.Table, n int) (result, error) {
	h, err := freshHost(bed)
	if err != nil {
		return result{}, err
	}
	in, err := dialInjector(h)
	if err != nil {
		return result{}, err
	}
	defer in.Close()
	start := time.Now()
	got, err := in.Commit(time.Now(), table)
	took := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("ctbench: hakit commit: %w", err)
	}
	if c, err := kernelCount(h); err != nil || c != n || got != n {
		return result{}, fmt.Errorf("ctbench: hakit wrote %d, the kernel holds %d of %d (%v)", got, c, n, err)
	}
	return result{n: n, took: took}, flush(h)
}

// hakitWarm follows table into a fresh namespace, changes churn sessions
// and times the commit of the tail.
func hakitWarm(bed *testbed.Bed, table *statesync.Table, n, churn int) (result, error) {
	h, err := freshHost(bed)
	if err != nil {
		return result{}, err
	}
	in, err := dialInjector(h)
	if err != nil {
		return result{}, err
	}
	defer in.Close()
	slab0 := slab()
	cpu0 := cpuTime()
	start := time.Now()
	followed := make(chan error, 1)
	go func() { followed <- in.Follow(context.Background(), table) }()
	for in.Stats().Followed < uint64(n) {
		select {
		case err := <-followed:
			return result{}, fmt.Errorf("ctbench: follow: %w", err)
		case <-time.After(time.Millisecond):
		}
	}
	follow := time.Since(start)
	cpu := cpuTime() - cpu0
	mem := float64(slab()-slab0) / float64(n)
	// The active unit's last moments: churn sessions change (a new deadline).
	exp := statesync.Deadline(time.Now().Add(2 * time.Hour))
	var (
		c     statesync.Cursor
		batch []statesync.Session
	)
	changed := 0
	for done := false; !done && changed < churn; {
		batch, c, done = table.Scan(batch[:0], c, min(256, churn-changed))
		for _, s := range batch {
			s.Expires = exp
			table.Store(s)
		}
		changed += len(batch)
	}
	start = time.Now()
	wrote, err := in.Commit(time.Now(), table)
	took := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("ctbench: warm commit: %w", err)
	}
	if err := <-followed; err != nil {
		return result{}, fmt.Errorf("ctbench: follow: %w", err)
	}
	if k, err := kernelCount(h); err != nil || k != n {
		return result{}, fmt.Errorf("ctbench: the kernel holds %d of %d after the warm commit (%v)", k, n, err)
	}
	st := in.Stats()
	if err := flush(h); err != nil {
		return result{}, err
	}
	return result{n: n, took: took, follow: follow, tail: wrote,
		cpuPerChange: cpu / time.Duration(max(st.Followed, 1)), memPerEntry: mem,
	}, errorIf(wrote > churn, "ctbench: the warm commit wrote %d, more than the %d changed", wrote, churn)
}

func errorIf(cond bool, format string, args ...any) error {
	if cond {
		return fmt.Errorf(format, args...)
	}
	return nil
}

// conntrackdCold measures conntrackd's commit of an external cache of n
// sessions received from a's conntrackd.
func conntrackdCold(bed *testbed.Bed, table *statesync.Table, n int, timeout time.Duration) (result, error) {
	hostSeq++
	br := bed.Bridge(fmt.Sprintf("y%d", hostSeq))
	a, b := bed.Host(fmt.Sprintf("ca%d", hostSeq)), bed.Host(fmt.Sprintf("cb%d", hostSeq))
	addrA, addrB := netip.MustParseAddr("198.18.250.1"), netip.MustParseAddr("198.18.250.2")
	bed.Link(a, br, "eth0")
	bed.Link(b, br, "eth0")
	a.AddAddr("eth0", netip.PrefixFrom(addrA, 24))
	b.AddAddr("eth0", netip.PrefixFrom(addrB, 24))
	for _, h := range []*testbed.Host{a, b} {
		cmd := h.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(natRules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return result{}, fmt.Errorf("ctbench: nft: %v: %s", err, out)
		}
	}
	in, err := dialInjector(a)
	if err != nil {
		return result{}, err
	}
	if _, err := in.Commit(time.Now(), table); err != nil {
		in.Close()
		return result{}, fmt.Errorf("ctbench: filling a's kernel: %w", err)
	}
	in.Close()

	dir, err := os.MkdirTemp("", "ctbench-conntrackd")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	confA, confB := filepath.Join(dir, "a.conf"), filepath.Join(dir, "b.conf")
	if err := writeConf(confA, dir, "a", addrA, addrB, n); err != nil {
		return result{}, err
	}
	if err := writeConf(confB, dir, "b", addrB, addrA, n); err != nil {
		return result{}, err
	}
	da := a.Start("conntrackd", "-C", confA)
	db := b.Start("conntrackd", "-C", confB)
	defer func() {
		for _, d := range []*exec.Cmd{da, db} {
			d.Process.Kill()
			d.Wait()
		}
		flush(a)
		flush(b)
	}()
	deadline := time.Now().Add(timeout)
	ctl := func(h *testbed.Host, conf string, args ...string) (string, error) {
		return h.Run("conntrackd", append([]string{"-C", conf}, args...)...)
	}
	// a's internal cache holds its kernel's table once its dump is done.
	if err := waitFor(deadline, func() (bool, error) {
		out, err := ctl(a, confA, "-s", "cache")
		return err == nil && cacheCount(out, "internal") >= n, nil
	}); err != nil {
		out, _ := ctl(a, confA, "-s", "cache")
		log, _ := os.ReadFile(filepath.Join(dir, "a.log"))
		return result{}, fmt.Errorf("ctbench: conntrackd on a did not dump its table: %w\n%s\n%s", err, out, log)
	}
	if _, err := ctl(b, confB, "-n"); err != nil {
		return result{}, fmt.Errorf("ctbench: conntrackd -n: %w", err)
	}
	if err := waitFor(deadline, func() (bool, error) {
		out, err := ctl(b, confB, "-s", "cache")
		return err == nil && cacheCount(out, "external") >= n, nil
	}); err != nil {
		out, _ := ctl(b, confB, "-s", "cache")
		return result{}, fmt.Errorf("ctbench: conntrackd on b did not receive a's table: %w\n%s", err, out)
	}
	start := time.Now()
	if out, err := ctl(b, confB, "-c"); err != nil {
		return result{}, fmt.Errorf("ctbench: conntrackd -c: %w: %s", err, out)
	}
	returned := time.Since(start)
	if err := waitFor(deadline, func() (bool, error) {
		c, err := kernelCount(b)
		return err == nil && c >= n, err
	}); err != nil {
		c, _ := kernelCount(b)
		return result{}, fmt.Errorf("ctbench: conntrackd committed %d of %d: %w", c, n, err)
	}
	return result{n: n, took: time.Since(start), returned: returned}, nil
}

func waitFor(deadline time.Time, ok func() (bool, error)) error {
	for {
		done, err := ok()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("timed out")
			}
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var activeRe = regexp.MustCompile(`cache:(internal|external)\s+active objects:\s+(\d+)`)

// cacheCount returns the active objects of conntrackd's internal or
// external cache from the output of conntrackd -s cache.
func cacheCount(out, which string) int {
	for _, m := range activeRe.FindAllStringSubmatch(out, -1) {
		if m[1] == which {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return -1
}

// writeConf writes a conntrackd FT-FW configuration for one unit.
func writeConf(path, dir, name string, self, peer netip.Addr, n int) error {
	c := conntrackdconf.Config{Self: self, Peer: peer, Interface: "eth0", Dir: dir, Name: name}
	c.HashSize, c.HashLimit = conntrackdconf.Sized(n)
	return c.Write(path)
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// cpuTime returns the process's user and system time: the kernel's work
// on a netlink request is done in the sending thread, so it counts here.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// slab returns the Slab line of /proc/meminfo, in bytes: the kernel's
// object caches, where conntrack entries live.
func slab() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Slab:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
