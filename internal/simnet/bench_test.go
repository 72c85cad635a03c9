package simnet_test

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
)

// BenchmarkPingPong bounces one frame between two ports with handlers on a
// clock.Sim: every frame is written from a handler and delivered through its
// own clock callback, the worst case for the scheduler.
func BenchmarkPingPong(b *testing.B) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	pa := seg.Attach("a", macA)
	pb := seg.Attach("b", macB)
	fa, fb := frame(macB, macA, 0), frame(macA, macB, 0)
	left := b.N
	bounce := func(p *simnet.Port, out []byte) func([]byte, net.HardwareAddr) {
		return func([]byte, net.HardwareAddr) {
			if left--; left > 0 {
				if _, err := p.WriteTo(out, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	pa.SetHandler(bounce(pa, fa))
	pb.SetHandler(bounce(pb, fb))
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := pa.WriteTo(fa, nil); err != nil {
		b.Fatal(err)
	}
	for sim.Step() {
	}
	b.StopTimer()
	if left > 0 {
		b.Fatalf("%d frames not delivered", left)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkBroadcast floods heartbeat-sized broadcasts from one of eight
// ports with 100µs latency, 64 per virtual millisecond: the shape of a
// cluster simulation. A frame here is one delivery to one port.
func BenchmarkBroadcast(b *testing.B) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	const ports = 8
	var sender *simnet.Port
	delivered := 0
	for i := range ports {
		p := seg.Attach(string(rune('a'+i)), net.HardwareAddr{2, 0, 0, 0, 0, byte(i + 1)})
		p.SetLatency(50 * time.Microsecond)
		p.SetHandler(func([]byte, net.HardwareAddr) { delivered++ })
		if i == 0 {
			sender = p
		}
	}
	f := frame(bcast, sender.HardwareAddr(), 0)
	f = append(f, make([]byte, 60)...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; delivered < b.N; i++ {
		binary.BigEndian.PutUint32(f[simnet.HeaderLen:], uint32(i))
		if _, err := sender.WriteTo(f, nil); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			sim.RunFor(time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "frames/s")
}
