package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// udpStream sends a numbered datagram from the client to the server every
// period through the cluster; the server echoes it. It records the longest
// silence between echoes: the outage the network showed, without TCP's
// retransmission timers in it.
type udpStream struct {
	gapMeter
	c, s *net.UDPConn
	stop chan struct{}
	done sync.WaitGroup
}

func (p *pair) startUDP(period time.Duration) *udpStream {
	t := p.t
	u := &udpStream{stop: make(chan struct{})}
	srv := netip.AddrPortFrom(serverAddr.Addr(), 9000)
	require.NoError(t, p.server.Do(func() error {
		var err error
		u.s, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(srv))
		return err
	}))
	require.NoError(t, p.client.Do(func() error {
		var err error
		u.c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
		return err
	}))
	u.done.Add(3)
	go func() { // server: echo
		defer u.done.Done()
		buf := make([]byte, 64)
		for {
			n, from, err := u.s.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			u.s.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	go func() { // client: send
		defer u.done.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		var buf [8]byte
		for i := uint64(0); ; i++ {
			select {
			case <-u.stop:
				return
			case <-tick.C:
			}
			binary.BigEndian.PutUint64(buf[:], i)
			u.c.Write(buf[:]) // errors (no route for a moment) are gaps
		}
	}()
	go func() { // client: echoes
		defer u.done.Done()
		buf := make([]byte, 64)
		for {
			if _, err := u.c.Read(buf); err != nil {
				select {
				case <-u.stop:
					return
				default:
					continue // ICMP errors during the failover
				}
			}
			u.echo()
		}
	}()
	t.Cleanup(func() {
		close(u.stop)
		u.c.Close()
		u.s.Close()
		u.done.Wait()
	})
	return u
}

func (u *udpStream) gap() (time.Duration, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.maxGap, u.echoes
}

// BenchmarkFailover needs root. It runs the firewall pair of the e2e tests
// (heartbeats on every interface, virtual MACs, conntrack replication) with
// a TCP stream (an echo every 2 ms) and a UDP stream (an echo every 1 ms)
// through it, and fails the primary over b.N times: SIGKILL and every link
// of the primary down, like TestE2EKillPrimary; then the links come back,
// the daemon restarts and rejoins as the in-sync secondary, and the next
// round kills the other unit. It reports the gap each stream saw, p50, p99
// and max over the rounds, in milliseconds:
//
//	go test -run '^$' -bench Failover -benchtime 20x ./examples/hanode
//
// The UDP gap is the cluster's failover as the network shows it; the TCP
// gap adds the stream's retransmission timer, which backs off while the
// path is down (200 ms minimum on Linux).
func BenchmarkFailover(b *testing.B) {
	for _, prof := range []struct {
		name  string
		flags []string
	}{
		{"default", nil}, // 100 ms × 2 misses, 0.6 s probe window
		{"fast", []string{"-interval", "10ms"}},
	} {
		b.Run(prof.name, func(b *testing.B) { benchFailover(b, prof.flags) })
	}
}

func benchFailover(b *testing.B, flags []string) {
	p := newPairTB(b)
	p.flags = flags
	st := p.established()
	us := p.startUDP(time.Millisecond)
	p.flowing(st, 100)
	primary, standby := p.a, p.b
	prio := map[*unit]int{p.a: 200, p.b: 100}
	var tcpGaps, udpGaps []time.Duration
	b.ResetTimer()
	for range b.N {
		st.resetGap()
		us.resetGap()
		p.crash(primary)
		p.waitStatus(standby, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
		p.flowing(st, 200)
		require.Eventually(b, func() bool { _, n := us.gap(); return n >= 200 }, 10*time.Second, 10*time.Millisecond, "the UDP stream does not flow")
		tg, _, err := st.gap()
		require.NoError(b, err, "the TCP stream must continue without a reset")
		ug, _ := us.gap()
		tcpGaps, udpGaps = append(tcpGaps, tg), append(udpGaps, ug)
		b.Logf("failover %d, %s to %s: UDP gap %v, TCP gap %v", len(udpGaps), primary.name, standby.name,
			ug.Round(100*time.Microsecond), tg.Round(100*time.Microsecond))

		b.StopTimer()
		primary.client.Up()
		primary.server.Up()
		primary.sync.Up()
		p.start(primary, prio[primary])
		p.waitStatus(primary, "in-sync secondary", func(s Status) bool {
			return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync && s.Sync.Sessions >= 1
		})
		time.Sleep(time.Second) // the restarted unit's loss history grows
		p.flowing(st, 100)
		primary, standby = standby, primary
		b.StartTimer()
	}
	b.StopTimer()
	report := func(name string, gaps []time.Duration) string {
		g := slices.Clone(gaps)
		slices.Sort(g)
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		p50, p99, mx := ms(quantile(g, 0.50)), ms(quantile(g, 0.99)), ms(g[len(g)-1])
		b.ReportMetric(p50, name+"-p50-ms")
		b.ReportMetric(p99, name+"-p99-ms")
		b.ReportMetric(mx, name+"-max-ms")
		return fmt.Sprintf("%s p50 %.1f ms, p99 %.1f ms, max %.1f ms", name, p50, p99, mx)
	}
	b.ReportMetric(0, "ns/op")
	b.Logf("%d failovers: %s; %s", len(udpGaps), report("udp", udpGaps), report("tcp", tcpGaps))
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
