package conntrack

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	ct "github.com/ti-mo/conntrack"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

func BenchmarkFlowToSession(b *testing.B) {
	f := flow(6, "198.18.1.2:40000", "198.18.2.2:80", "198.18.2.2:80", "198.18.2.1:61000")
	f.Timeout = 300
	f.ProtoInfo.TCP = &ct.ProtoInfoTCP{State: statesync.TCPStateEstablished}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FlowToSession(f, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionToFlow(b *testing.B) {
	s := statesync.Session{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")},
		State: statesync.TCPStateEstablished, Expires: uint32(now.Unix()) + 300}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SessionToFlow(s, now, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInjectCommit needs root: Injector.Commit of a table into a
// fresh namespace's kernel, the standby's work between the decision to
// take over and bringing its addresses up. It reports sessions per second.
func BenchmarkInjectCommit(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			table := statesync.NewTable(n)
			exp := statesync.Deadline(time.Now().Add(time.Hour))
			for i := range n {
				table.Upsert(statesync.Session{
					Key: statesync.Key{Proto: 6,
						Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)}), uint16(i)),
						Dst: ap("198.19.0.1:443")},
					State: statesync.TCPStateEstablished, Status: uint32(ct.StatusAssured | ct.StatusSeenReply), Expires: exp,
				})
			}
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				bed := testbed.New(b)
				h := bed.Host("fw")
				var in *Injector
				if err := h.Do(func() error {
					var err error
					in, err = DialInjector(nil)
					return err
				}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				got, err := in.Commit(time.Now(), table)
				total += time.Since(start)
				b.StopTimer()
				in.Close()
				bed.Close()
				if err != nil || got != n {
					b.Fatalf("injected %d of %d: %v", got, n, err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "sessions/s")
		})
	}
}
