package vmac_test

import (
	"net/netip"
	"testing"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// BenchmarkTakeover256VIPs measures, on the test bed, a takeover of 256
// virtual IPv4 addresses plus the virtual MAC on one interface (Apply), and
// its Release, each as one operation. Needs root.
func BenchmarkTakeover256VIPs(b *testing.B) {
	tb := testbed.New(b)
	br := tb.Bridge("lan")
	h := tb.Host("a")
	tb.Link(h, br, "eth0")
	h.AddAddr("eth0", netip.MustParsePrefix("198.18.0.1/23"))
	vips := make([]netip.Addr, 256)
	for i := range vips {
		vips[i] = netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})
	}
	vm, _ := vmac.NetDefendMAC(1, 0)
	t := vmac.Takeover{Interface: "eth0", MAC: vm, VIPs: vips}

	b.Run("Apply", func(b *testing.B) {
		err := h.Do(func() error {
			for b.Loop() {
				hd, err := vmac.Apply(t)
				b.StopTimer()
				if err != nil {
					return err
				}
				if err := hd.Release(); err != nil {
					return err
				}
				b.StartTimer()
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
	b.Run("Release", func(b *testing.B) {
		err := h.Do(func() error {
			for b.Loop() {
				b.StopTimer()
				hd, err := vmac.Apply(t)
				if err != nil {
					return err
				}
				b.StartTimer()
				if err := hd.Release(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}
