package garp

import "testing"

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
