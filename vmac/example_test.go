package vmac_test

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"

	"github.com/hakit/hakit/vmac"
)

func ExampleNetDefendMAC() {
	// Cluster ID 5, the interface on port 2: nn = 5<<2 | 2 = 0x16.
	mac, err := vmac.NetDefendMAC(5, 2)
	fmt.Println(mac, err)
	_, err = vmac.NetDefendMAC(64, 0)
	fmt.Println(err)
	// Output:
	// 10:00:00:c1:4a:16 <nil>
	// vmac: NetDefendOS cluster ID 64 not in 0..63: out of range
}

func ExampleFortiGateMAC() {
	for _, in := range [][3]int{{0, 1, 0}, {88, 1, 2}, {256, 1, 2}, {1023, 2, 1}} {
		mac, _ := vmac.FortiGateMAC(uint16(in[0]), in[1], in[2])
		fmt.Printf("group %d vcluster %d index %d: %v\n", in[0], in[1], in[2], mac)
	}
	// Output:
	// group 0 vcluster 1 index 0: 00:09:0f:09:00:00
	// group 88 vcluster 1 index 2: 00:09:0f:09:58:02
	// group 256 vcluster 1 index 2: e0:23:ff:fc:00:02
	// group 1023 vcluster 2 index 1: e0:23:ff:fe:ff:81
}

func ExampleVRRPMAC() {
	v4, _ := vmac.VRRPMAC(1)
	v6, _ := vmac.VRRPv6MAC(200)
	fmt.Println(v4, v6)
	// Output: 00:00:5e:00:01:01 00:00:5e:00:02:c8
}

func ExampleVRRPv6MAC() {
	mac, _ := vmac.VRRPv6MAC(10)
	fmt.Println(mac)
	// Output: 00:00:5e:00:02:0a
}

func ExampleLocalMAC() {
	// A cluster ID no vendor scheme can hold.
	mac, _ := vmac.LocalMAC(40000, 3)
	fmt.Println(mac)
	// Output: 02:00:00:9c:40:03
}

func ExampleGuard() {
	vm, _ := vmac.NetDefendMAC(7, 0)
	peer, _ := net.ParseMAC("02:00:00:00:00:02")
	g, _ := vmac.NewGuard(&vmac.GuardConfig{
		ClusterID:   7,
		Self:        1,
		Members:     map[uint16][]net.HardwareAddr{1: nil, 2: {peer}},
		VirtualMACs: []net.HardwareAddr{vm},
	})

	// A heartbeat from our peer, then one from a unit of another cluster
	// configured with our cluster ID.
	fmt.Println(g.CheckHeartbeat("eth0", 7, 2, peer))
	stranger, _ := net.ParseMAC("02:00:00:00:00:99")
	err := g.CheckHeartbeat("eth0", 7, 4, stranger)
	var ce *vmac.CollisionError
	if errors.As(err, &ce) {
		fmt.Println(ce.Kind, ce.UnitID, ce.From)
	}

	// As primary we hold the virtual MAC: nobody else may send from it.
	g.SetHolding(true)
	fmt.Println(errors.Is(g.CheckFrame("eth0", vm), vmac.ErrCollision))
	// Output:
	// <nil>
	// foreign-unit 4 02:00:00:00:00:99
	// true
}

func ExampleIdentify() {
	for _, s := range []string{"00:09:0f:09:58:02", "10:00:00:c1:4a:16", "00:00:5e:00:01:0a", "52:54:00:12:34:56"} {
		mac, _ := net.ParseMAC(s)
		id, ok := vmac.Identify(mac)
		fmt.Printf("%s: %v %+v\n", s, ok, id)
	}
	// Output:
	// 00:09:0f:09:58:02: true {Scheme:fortigate Cluster:88 VCluster:1 Index:2}
	// 10:00:00:c1:4a:16: true {Scheme:netdefend Cluster:5 VCluster:0 Index:2}
	// 00:00:5e:00:01:0a: true {Scheme:vrrp Cluster:10 VCluster:0 Index:0}
	// 52:54:00:12:34:56: false {Scheme:Scheme(0) Cluster:0 VCluster:0 Index:0}
}

// The takeover toolbox on a role change, as a caller's loop uses it: the
// own MAC put back at start (after a crash while primary), the virtual MAC
// and addresses applied all or nothing, and released. It changes the
// system's interfaces and needs CAP_NET_ADMIN, so it is compiled, not run.
func ExampleApply() {
	dir := "/run/myappliance" // a state directory of this unit's own
	vips := []netip.Addr{netip.MustParseAddr("198.18.0.100")}
	guard, _ := vmac.NewGuard(&vmac.GuardConfig{ClusterID: 5, Self: 1, Members: map[uint16][]net.HardwareAddr{1: nil, 2: nil}})

	mac, _ := vmac.NetDefendMAC(5, 1) // 10:00:00:c1:4a:15
	takeovers := []vmac.Takeover{{Interface: "eth0", MAC: mac, VIPs: vips}}
	// at start, as a standby
	restored, err := vmac.Restore(dir, takeovers...)
	for _, r := range restored {
		log.Printf("%s kept the virtual MAC of a crashed run: %v put back", r.Interface, r.MAC)
	}
	if err != nil {
		log.Fatal(err)
	}

	// becoming primary, after committing the session table (package statesync)
	if err := vmac.Record(dir, takeovers...); err != nil {
		log.Print(err) // only a crash while primary would need the record
	}
	guard.SetHolding(true)
	h, err := vmac.Apply(takeovers...)
	if err != nil {
		guard.SetHolding(false) // nothing was left applied: stay standby
		log.Fatal(err)
	}
	// ... then announce (package garp).

	// demoted
	guard.SetHolding(false)
	if err := h.Release(); err != nil { // restores the MAC, removes the VIPs
		log.Print(err)
	}
}
