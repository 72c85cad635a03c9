package garp

import (
	"testing"
	"time"
)

func benchmarkBuild(b *testing.B, a Announcement) {
	var bld Builder
	buf := make([]byte, 0, 128)
	if _, err := bld.Append(buf, a); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = bld.Append(buf[:0], a)
	}
}

func BenchmarkBuildGARPRequest(b *testing.B) {
	benchmarkBuild(b, Announcement{Kind: GARPRequest, MAC: testMAC, Addr: testVIP4})
}

func BenchmarkBuildGARPReply(b *testing.B) {
	benchmarkBuild(b, Announcement{Kind: GARPReply, MAC: testMAC, Addr: testVIP4})
}

func BenchmarkBuildNA(b *testing.B) {
	benchmarkBuild(b, Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP6, Router: true})
}

func BenchmarkBuildLearn(b *testing.B) {
	benchmarkBuild(b, Announcement{Kind: Learn, MAC: testMAC})
}

// BenchmarkMarshalNA is the allocating path Builder caches, for comparison.
func BenchmarkMarshalNA(b *testing.B) {
	a := Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP6}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMachinePass256 runs one pass of 256 frames through the pure
// core per op: the per-send path of the Driver, without the socket.
func BenchmarkMachinePass256(b *testing.B) {
	s := DefaultSchedule()
	s.Spacing, s.Burst, s.Repeat, s.RateBurst, s.Rate = time.Millisecond, 1<<30, 0, 256, 1e6
	c, err := NewMachine(s)
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	c.Start(now, "eth0", "vips", frames(256))
	out := make([]Send, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out, now = c.Tick(now, out[:0])
		if len(out) != 256 {
			b.Fatalf("pass of %d frames", len(out))
		}
	}
}
