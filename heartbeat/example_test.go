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
	// 80 bytes
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

// The caller's loop around the pure core: unit 1's Machine hears unit 2
// until unit 2 dies; unit 1's neighbour answers its probes and unit 2's
// address does not, so the early verdict comes one probe round after the
// suspicion. In a program, frames come from the interface's Conn, the
// neighbours from the kernel's ARP cache, and each Output's frames and
// probes are sent.
func ExampleMachine() {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	dead := start.Add(30 * time.Second)
	router := netip.MustParseAddr("198.18.0.254")
	arpCache := func(string) []netip.Addr { return []netip.Addr{router} }
	peer, _ := heartbeat.NewMachine(&heartbeat.Config{ClusterID: 7, UnitID: 2},
		heartbeat.Interface{Name: "eth0", Addr: netip.MustParseAddr("198.18.0.2")})
	// The network, simulated: unit 2's heartbeats until it dies, and the
	// router's answers to probes.
	read := func(now time.Time) (frames [][]byte) {
		if now.Before(dead) {
			_ = peer.SetPayload([]byte(fmt.Sprint("candidate of ", now.Sub(start).Truncate(10*time.Second))))
			for _, f := range peer.Tick(now).Frames {
				frames = append(frames, f.Data)
			}
		}
		return frames
	}
	replies := func(probes []heartbeat.Probe) (from []netip.Addr) {
		for _, p := range probes {
			if p.Target == router {
				from = append(from, p.Target)
			}
		}
		return from
	}
	var heard []string
	handle := func(now time.Time, out heartbeat.Output) { // send, and tell the election
		for _, r := range out.Reports {
			fmt.Printf("%v after death: %v\n", now.Sub(dead), r.State)
		}
		for _, h := range out.Heard {
			heard = append(heard, string(h.Payload))
		}
	}

	m, _ := heartbeat.NewMachine(&heartbeat.Config{ClusterID: 7, UnitID: 1},
		heartbeat.Interface{Name: "eth0", Addr: netip.MustParseAddr("198.18.0.1")})
	for now := start; now.Before(dead.Add(time.Second)); now = now.Add(5 * time.Millisecond) {
		for _, frame := range read(now) {
			out, _ := m.Receive(now, "eth0", frame) // bad frames: an error, counted, nothing else
			handle(now, out)                        // out.Heard: the peer's newest payload
		}
		for _, ifname := range m.NeedNeighbours(now) { // EIFD starts there
			m.SetNeighbours(ifname, arpCache(ifname))
		}
		out := m.Tick(now) // at m.Next(): heartbeats, probes, reports
		handle(now, out)
		for _, from := range replies(out.Probes) {
			handle(now, m.ProbeReply(now, "eth0", from))
		}
	}
	fmt.Println(len(heard), "payloads heard, the last:", heard[len(heard)-1])
	// Output:
	// -30s after death: alive
	// 100ms after death: suspect
	// 125ms after death: peer-down
	// 300 payloads heard, the last: candidate of 20s
}
