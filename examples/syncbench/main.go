//go:build linux

// Command syncbench measures statesync replication on real Linux links:
// two units in network namespaces, cabled by veth pairs to a Linux bridge
// (the sync switch), replicating over AF_PACKET (statesync.ListenEthernet)
// or unicast UDP (statesync.ListenUDP) with statesync.Driver on both ends.
//
// It runs two phases and prints their figures:
//
//   - bulk: unit a holds -sessions sessions (IPv4 TCP, no NAT); the time from
//     starting a's sending Driver until b's receiving Driver is in sync and
//     b's table holds them all (target for 1,000,000: at most 2 s);
//   - lag: -rate updates per second of existing sessions for -duration,
//     each stamped when Driver.Upsert is called; b notes when each became
//     visible in its table (checked each time b's Driver has applied a
//     datagram, before it reads the next one) and the program prints p50,
//     p99 and max of the difference (target at 100,000/s: p99 at most
//     10 ms).
//
// It needs root (network namespaces, AF_PACKET) and ip, bridge and nft,
// and removes everything it built when it ends, also on Ctrl-C:
//
//	go build -o /tmp/syncbench ./examples/syncbench && /tmp/syncbench -sessions 1000000 -rate 100000 -duration 5s
//
// Addresses come from 198.18.0.0/15, inside namespaces it created.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

func main() {
	var (
		sessions  = flag.Int("sessions", 1_000_000, "sessions in the bulk sync")
		rate      = flag.Int("rate", 100_000, "updates per second in the lag phase (0 skips it)")
		duration  = flag.Duration("duration", 5*time.Second, "length of the lag phase")
		transport = flag.String("transport", "ethernet", "ethernet (AF_PACKET) or udp")
		mtu       = flag.Int("mtu", 1500, "MTU of the sync links")
		window    = flag.Int("window", 0, "resend window in datagrams (0: statesync's default)")
		cpuprof   = flag.String("cpuprofile", "", "write a CPU profile of the bulk sync to this file")
		duplex    = flag.Bool("duplex", false, "give b's Driver a Sender too, so both directions replicate")
	)
	flag.Parse()
	cpuProfile = *cpuprof
	if err := run(*sessions, *rate, *duration, *transport, *mtu, *window, *duplex); err != nil {
		log.Fatal(err)
	}
}

var cpuProfile string

// loadavg returns the first field of /proc/loadavg: the figures are only
// meaningful on an otherwise idle machine.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// unit is one end of the sync link.
type unit struct {
	h    *testbed.Host
	link *testbed.Link
	addr netip.Addr
}

func run(sessions, rate int, duration time.Duration, transport string, mtu, window int, duplex bool) error {
	bed, err := testbed.Open("syncbench")
	if err != nil {
		return err
	}
	defer bed.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; bed.Close(); os.Exit(1) }()

	br := bed.Bridge("sync")
	a := &unit{h: bed.Host("a"), addr: netip.MustParseAddr("198.18.3.1")}
	b := &unit{h: bed.Host("b"), addr: netip.MustParseAddr("198.18.3.2")}
	for _, u := range []*unit{a, b} {
		u.link = bed.Link(u.h, br, "eth0")
		u.h.AddAddr("eth0", netip.PrefixFrom(u.addr, 24))
		if mtu != 1500 {
			if _, err := u.h.Run("ip", "link", "set", "eth0", "mtu", fmt.Sprint(mtu)); err != nil {
				return err
			}
			if _, err := u.h.Run("ip", "-n", br.Namespace(), "link", "set", u.link.Peer(), "mtu", fmt.Sprint(mtu)); err != nil {
				return err
			}
		}
	}
	// The payload a datagram may fill: the link MTU for raw Ethernet (the
	// 14-byte header is not part of it), minus IP and UDP headers for UDP.
	payload := mtu
	var ta, tb statesync.Transport
	switch transport {
	case "ethernet":
		ta, err = listenEthernet(a, b)
		if err == nil {
			tb, err = listenEthernet(b, a)
		}
	case "udp":
		payload -= 28
		ta, err = listenUDP(a, b)
		if err == nil {
			tb, err = listenUDP(b, a)
		}
	default:
		err = fmt.Errorf("unknown transport %q", transport)
	}
	if err != nil {
		return err
	}
	fmt.Printf("syncbench: %s transport, MTU %d (datagrams of up to %d bytes), GOMAXPROCS %d, load average %s\n",
		transport, mtu, payload, runtime.GOMAXPROCS(0), loadavg())

	// The source table.
	src, dst := statesync.NewTable(sessions), statesync.NewTable(sessions)
	keys := make([]statesync.Key, sessions)
	for i := range keys {
		keys[i] = key(i)
		src.Upsert(statesync.Session{Key: keys[i], State: statesync.TCPStateEstablished,
			Status: 0xe, Expires: statesync.Deadline(time.Now().Add(time.Hour))})
	}

	// b applies, and checks the lag log each time it has applied a
	// datagram.
	lag := newLagLog(rate, duration, keys, dst)
	rcfg := &statesync.DriverConfig{
		Transport: &probe{Transport: tb, check: lag.check},
		Table:     dst,
		Receive:   true,
		Receiver:  &statesync.ReceiverConfig{Window: window},
	}
	if duplex {
		// b's Sender sends nothing but its (empty) first bulk sync and
		// probes, which a's send-only Driver ignores.
		rcfg.Send, rcfg.Sender = true, &statesync.SenderConfig{MTU: payload, Window: window}
	}
	recv, err := statesync.NewDriver(rcfg)
	if err != nil {
		return err
	}
	defer recv.Close()

	// Phase 1: bulk sync.
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	start := time.Now()
	send, err := statesync.NewDriver(&statesync.DriverConfig{
		Transport: ta,
		Table:     src,
		Send:      true,
		Sender:    &statesync.SenderConfig{MTU: payload, Window: window, BulkTimeout: time.Minute},
	})
	if err != nil {
		return err
	}
	defer send.Close()
	for !(recv.InSync() && dst.Len() == sessions) {
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("bulk sync incomplete after 2 minutes: %d of %d; sender %+v; receiver %+v",
				dst.Len(), sessions, send.SenderStats(), recv.ReceiverStats())
		}
		time.Sleep(200 * time.Microsecond)
	}
	bulk := time.Since(start)
	pprof.StopCPUProfile()
	ss, rs := send.SenderStats(), recv.ReceiverStats()
	fmt.Printf("bulk sync: %d sessions in %v (%.0f sessions/s; target for 1,000,000: <= 2 s)\n",
		sessions, bulk.Round(time.Millisecond), float64(sessions)/bulk.Seconds())
	fmt.Printf("  sender:   %d datagrams, %d bytes, %d resent, %d resyncs, %d probes\n", ss.Datagrams, ss.Bytes, ss.Resent, ss.Resyncs, ss.Probes)
	fmt.Printf("  receiver: %d datagrams, %d records, %d acks, %d duplicates\n", rs.Datagrams, rs.Records, rs.Acks, rs.Duplicate)
	fmt.Printf("  drivers:  sender %+v, receiver %+v\n", send.Stats(), recv.Stats())

	if rate == 0 {
		return nil
	}
	// Phase 2: updates at a steady rate.
	time.Sleep(100 * time.Millisecond) // let the last acknowledgements settle
	lag.run(send)
	deadline := time.Now().Add(5 * time.Second)
	for lag.applied.Load() < int64(lag.n) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	lags := lag.lags[:lag.applied.Load()]
	if len(lags) == 0 {
		return fmt.Errorf("no update seen on b: %+v", recv.ReceiverStats())
	}
	slices.Sort(lags)
	q := func(p float64) time.Duration { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	fmt.Printf("replication lag at %d updates/s for %v: %d of %d updates seen, achieved %.0f updates/s\n",
		rate, duration, len(lags), lag.n, lag.achieved)
	fmt.Printf("  p50 %v  p99 %v  p99.9 %v  max %v (target: p99 <= 10 ms)\n", q(0.50), q(0.99), q(0.999), lags[len(lags)-1])
	ss2, rs2 := send.SenderStats(), recv.ReceiverStats()
	fmt.Printf("  sender: %d datagrams (%d resent, %d resyncs); receiver: %d acks\n",
		ss2.Datagrams-ss.Datagrams, ss2.Resent-ss.Resent, ss2.Resyncs-ss.Resyncs, rs2.Acks-rs.Acks)
	fmt.Printf("load average at the end: %s\n", loadavg())
	return nil
}

// key returns the i-th session key: 198.18.x.y:port → 198.19.x.y:443.
func key(i int) statesync.Key {
	host := uint32(i / 50000)
	a := netip.AddrFrom4([4]byte{198, 18, byte(host >> 8), byte(host)})
	d := netip.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)})
	return statesync.Key{Proto: 6, Src: netip.AddrPortFrom(a, uint16(10000+i%50000)), Dst: netip.AddrPortFrom(d, 443)}
}

func listenEthernet(u, peer *unit) (statesync.Transport, error) {
	var t *statesync.EthernetTransport
	err := u.h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		t, err = statesync.ListenEthernet(ifi, 0, peer.link.MAC())
		return err
	})
	return t, err
}

func listenUDP(u, peer *unit) (statesync.Transport, error) {
	var t *statesync.UDPTransport
	err := u.h.Do(func() error {
		var err error
		t, err = statesync.ListenUDP(netip.AddrPortFrom(u.addr, 7400), netip.AddrPortFrom(peer.addr, 7400))
		return err
	})
	return t, err
}

// probe calls check before each read: the Driver's read loop reads the
// next datagram right after applying the previous one.
type probe struct {
	statesync.Transport
	check func()
}

func (p *probe) ReadFrom(b []byte) (int, net.Addr, error) {
	p.check()
	return p.Transport.ReadFrom(b)
}

// lagLog records, for each update of the lag phase, when it was handed to
// the sending Driver (stamp) and how long it took to become visible in b's
// table.
type lagLog struct {
	rate     int
	duration time.Duration
	n        int
	keys     []statesync.Key
	dst      *statesync.Table
	stamp    []int64 // Unix nanoseconds
	lags     []time.Duration
	achieved float64

	published atomic.Int64 // updates stamped and handed over
	applied   atomic.Int64 // updates seen on b (only check writes it)
}

func newLagLog(rate int, duration time.Duration, keys []statesync.Key, dst *statesync.Table) *lagLog {
	n := int(float64(rate) * duration.Seconds())
	return &lagLog{rate: rate, duration: duration, n: n, keys: keys, dst: dst,
		stamp: make([]int64, n), lags: make([]time.Duration, n)}
}

// run sends the updates, paced by the clock: every 100 µs it catches up
// with rate × elapsed. Update i changes session i mod len(keys), with
// Packets = i+1 as its mark.
func (l *lagLog) run(send *statesync.Driver) {
	start := time.Now()
	i := 0
	for i < l.n {
		due := min(l.n, int(time.Since(start).Seconds()*float64(l.rate)))
		for ; i < due; i++ {
			now := time.Now()
			l.stamp[i] = now.UnixNano()
			l.published.Store(int64(i + 1))
			send.Upsert(statesync.Session{Key: l.keys[i%len(l.keys)], State: statesync.TCPStateEstablished,
				Status: 0xe, Expires: statesync.Deadline(now.Add(time.Hour)), Packets: uint64(i + 1)})
		}
		time.Sleep(100 * time.Microsecond)
	}
	l.achieved = float64(l.n) / time.Since(start).Seconds()
	send.Flush()
}

// check notes every update now visible in b's table, in order: b applies
// datagrams in sequence, so update j visible means every earlier one is.
func (l *lagLog) check() {
	j := int(l.applied.Load())
	pub := int(l.published.Load())
	now := time.Now().UnixNano()
	for j < pub {
		s, ok := l.dst.Get(l.keys[j%len(l.keys)])
		if !ok || s.Packets < uint64(j+1) {
			break
		}
		l.lags[j] = time.Duration(now - l.stamp[j])
		j++
	}
	l.applied.Store(int64(j))
}
