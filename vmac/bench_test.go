package vmac

import (
	"net"
	"testing"
)

func BenchmarkDerive(b *testing.B) {
	b.Run("NetDefend", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_, _ = NetDefendMAC(uint16(i&63), i&3)
		}
	})
	b.Run("FortiGate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_, _ = FortiGateMAC(uint16(i&1023), 1+i&1, i&127)
		}
	})
	b.Run("VRRP", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_, _ = VRRPMAC(1 + i&127)
		}
	})
}

// BenchmarkGuardCheckFrame is the per-frame cost of the collision check,
// for ordinary traffic (the hot path): no allocation.
func BenchmarkGuardCheckFrame(b *testing.B) {
	vm, _ := NetDefendMAC(1, 0)
	g, err := NewGuard(&GuardConfig{ClusterID: 1, Self: 1, Members: map[uint16][]net.HardwareAddr{1: nil}, VirtualMACs: []net.HardwareAddr{vm}})
	if err != nil {
		b.Fatal(err)
	}
	g.SetHolding(true)
	src := net.HardwareAddr{0x02, 0, 0, 0, 0, 9}
	b.ReportAllocs()
	for b.Loop() {
		if g.CheckFrame("eth0", src) != nil {
			b.Fatal("collision")
		}
	}
}

func BenchmarkGuardCheckHeartbeat(b *testing.B) {
	peer := net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	g, err := NewGuard(&GuardConfig{ClusterID: 1, Self: 1, Members: map[uint16][]net.HardwareAddr{1: nil, 2: {peer}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if g.CheckHeartbeat("eth0", 1, 2, peer) != nil {
			b.Fatal("collision")
		}
	}
}
