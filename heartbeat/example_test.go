package heartbeat_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
)

// Build, authenticate and parse one heartbeat frame.
func ExampleFrame() {
	ring, err := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("a shared secret!")})
	if err != nil {
		panic(err)
	}
	keys := heartbeat.NewSealer(ring, heartbeat.DefaultEtherType)
	f := heartbeat.Frame{
		ClusterID: 7,
		UnitID:    1,
		Role:      hakit.Primary,
		Epoch:     1,
		Seq:       1,
		Interval:  100 * time.Millisecond,
		Addr:      netip.MustParseAddr("198.18.0.1"),
		Payload:   []byte("prio=200"),
	}
	b, err := keys.Seal(nil, &f) // what goes after the Ethernet header
	if err != nil {
		panic(err)
	}
	fmt.Println(len(b), "bytes")

	// The receiver checks the tag, then decodes.
	if err := keys.Verify(b); err != nil {
		panic(err)
	}
	var g heartbeat.Frame
	if err := g.UnmarshalBinary(b); err != nil {
		panic(err)
	}
	fmt.Println(g.ClusterID, g.UnitID, g.Role, g.Seq, g.Addr, string(g.Payload))

	b[20] ^= 1 // any flipped byte is rejected
	fmt.Println(keys.Verify(b))
	// Output:
	// 60 bytes
	// 7 1 primary 1 198.18.0.1 prio=200
	// heartbeat: bad tag for key ID 1: authentication failed
}

// The Ethernet addresses of heartbeats of cluster 7.
func ExampleSourceMAC() {
	fmt.Println(heartbeat.SourceMAC(7, 1, hakit.Primary))
	fmt.Println(heartbeat.GroupMAC(7))
	fmt.Println(heartbeat.DestinationMAC(7, heartbeat.Listener{Unit: 2, Role: hakit.Secondary}))
	// Output:
	// 22:c1:00:07:00:01
	// 03:c1:4b:00:00:07
	// 32:c1:00:07:00:02
}

// The caller's loop around the pure core: two Machines exchange heartbeats
// until unit 2 dies; unit 1's neighbour answers its probes and unit 2's
// address does not, so the early verdict comes one probe round after the
// suspicion.
func ExampleMachine() {
	router := netip.MustParseAddr("198.18.0.254")
	m1, _ := heartbeat.NewMachine(&heartbeat.Config{ClusterID: 7, UnitID: 1}, heartbeat.Interface{Name: "eth0", Addr: netip.MustParseAddr("198.18.0.1")})
	m2, _ := heartbeat.NewMachine(&heartbeat.Config{ClusterID: 7, UnitID: 2}, heartbeat.Interface{Name: "eth0", Addr: netip.MustParseAddr("198.18.0.2")})

	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	dead := start.Add(30 * time.Second)
	show := func(out heartbeat.Output, now time.Time) {
		for _, r := range out.Reports {
			fmt.Printf("%v after death: %v\n", now.Sub(dead), r.State)
		}
	}
	for now := start; now.Before(dead.Add(time.Second)); now = now.Add(5 * time.Millisecond) {
		if now.Before(dead) {
			for _, f := range m2.Tick(now).Frames {
				out, _ := m1.Receive(now, "eth0", f.Data)
				show(out, now)
			}
		}
		for _, ifname := range m1.NeedNeighbours(now) { // EIFD starts: what to probe
			m1.SetNeighbours(ifname, []netip.Addr{router}) // a static neighbour cache
		}
		out := m1.Tick(now)
		show(out, now)
		for _, p := range out.Probes {
			if p.Target == router { // the router answers
				show(m1.ProbeReply(now, p.Interface, p.Target), now)
			}
		}
	}
	// Output:
	// -30s after death: alive
	// 100ms after death: suspect
	// 125ms after death: peer-down
}
