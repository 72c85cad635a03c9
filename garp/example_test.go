package garp_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"time"

	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
)

func ExampleMarshal() {
	mac := net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x07}
	for _, a := range []garp.Announcement{
		{Kind: garp.GARPRequest, MAC: mac, Addr: netip.MustParseAddr("198.18.0.10")},
		{Kind: garp.UnsolicitedNA, MAC: mac, Addr: netip.MustParseAddr("2001:db8::10"), Router: true},
	} {
		b, err := garp.Marshal(a)
		if err != nil {
			fmt.Println(err)
			return
		}
		back, err := garp.Parse(b)
		fmt.Printf("%v %d bytes to %x: %v %v router=%v %v\n", a.Kind, len(b), b[:6], back.MAC, back.Addr, back.Router, err)
	}
	_, err := garp.Marshal(garp.Announcement{Kind: garp.GARPRequest, MAC: mac, Addr: netip.MustParseAddr("2001:db8::10")})
	fmt.Println(err)
	// Output:
	// garp-request 60 bytes to ffffffffffff: 00:00:5e:00:01:07 198.18.0.10 router=false <nil>
	// unsolicited-na 86 bytes to 333300000001: 00:00:5e:00:01:07 2001:db8::10 router=true <nil>
	// garp: garp-request needs an IPv4 address, not 2001:db8::10: invalid announcement
}

func ExampleBuilder() {
	var b garp.Builder
	buf := make([]byte, 0, 128)
	a := garp.Announcement{Kind: garp.GARPReply, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Addr: netip.MustParseAddr("198.18.0.10")}
	for range 3 {
		buf, _ = b.Append(buf[:0], a) // built once, copied after
	}
	fmt.Println(len(buf))
	// Output: 60
}

// The Machine is the pure core: time is an argument, the output says what
// to send and when to call again. Here the bucket (2 frames at once, then 100
// per second) stretches the burst's second and third passes.
func ExampleMachine() {
	s := garp.Schedule{Burst: 3, Spacing: 10 * time.Millisecond, Repeat: 1, Delay: time.Second, Refresh: time.Minute, Rate: 100, RateBurst: 2}
	c, _ := garp.NewMachine(s)
	t0 := clock.Epoch
	c.Start(t0, "eth0", "vip", [][]byte{[]byte("frame for VIP 1"), []byte("frame for VIP 2")})
	var out []garp.Send
	for now := t0; now.Sub(t0) < 2*time.Minute; {
		var next time.Time
		out, next = c.Tick(now, out[:0])
		for _, x := range out {
			fmt.Printf("%v pass %d: %s\n", now.Sub(t0), x.Pass, x.Frame)
		}
		now = next
	}
	// Output:
	// 0s pass 0: frame for VIP 1
	// 0s pass 0: frame for VIP 2
	// 10ms pass 1: frame for VIP 1
	// 20ms pass 1: frame for VIP 2
	// 30ms pass 2: frame for VIP 1
	// 40ms pass 2: frame for VIP 2
	// 1s pass 3: frame for VIP 1
	// 1s pass 3: frame for VIP 2
	// 1m1s pass 4: frame for VIP 1
	// 1m1s pass 4: frame for VIP 2
}

// The caller's loop with a Driver on the real interfaces: AF_PACKET
// sockets on Linux, with CAP_NET_RAW, so it is compiled, not run.
func ExampleNewDriver() {
	ctx := context.Background()
	vmacAddr, _ := net.ParseMAC("00:00:5e:00:01:07")
	vips := []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("2001:db8::10")}

	s, err := garp.NewDriver(nil) // defaults: 5 × 10 ms, again after 5 s, refresh every 60 s
	if err != nil {
		log.Fatal(err)
	}
	// became primary: commit the sessions, move the MAC and addresses (package vmac), then
	err = s.Announce(ctx, garp.Move{Interface: "eth0", MAC: vmacAddr, Addrs: vips})
	if err != nil {
		log.Print(err) // the interface could not be opened
	}
	// demoted
	s.Stop() // nothing is sent after it returns
}

// A Driver on a simulated segment and clock: the client hears the burst,
// the switch learns the virtual MAC on the new primary's port, and Stop ends
// it.
func ExampleDriver() {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	vmac := net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x07}
	unit := seg.Attach("unit-b", net.HardwareAddr{2, 0, 0, 0, 0, 0xb})
	client := seg.Attach("client", net.HardwareAddr{2, 0, 0, 0, 0, 0xc})
	client.SetHandler(func(frame []byte, _ net.HardwareAddr) {
		a, _ := garp.Parse(frame)
		fmt.Println(sim.Since(clock.Epoch), a.Kind, a.Addr, a.MAC)
	})

	sched := garp.Schedule{Burst: 2, Spacing: 10 * time.Millisecond, Rate: 1000, RateBurst: 16}
	s, _ := garp.NewDriver(&garp.Config{
		Schedule: &sched,
		Clock:    sim,
		Open:     func(string) (net.PacketConn, error) { return unit, nil },
	})
	_ = s.Announce(context.Background(), garp.Move{
		Interface: "eth0", MAC: vmac,
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("2001:db8::10")},
	})
	sim.RunFor(time.Second)
	fmt.Println("switch:", vmac, "on", seg.FDB()[vmac.String()])
	s.Stop()
	fmt.Println("sent:", s.Stats().Sent())
	// Output:
	// 0s garp-request 198.18.0.10 00:00:5e:00:01:07
	// 0s unsolicited-na 2001:db8::10 00:00:5e:00:01:07
	// 10ms garp-request 198.18.0.10 00:00:5e:00:01:07
	// 10ms unsolicited-na 2001:db8::10 00:00:5e:00:01:07
	// switch: 00:00:5e:00:01:07 on unit-b
	// sent: 4
}

// CloudAPI stands for a cloud provider's SDK.
type CloudAPI struct{ routes map[netip.Prefix]string }

func (c *CloudAPI) ReplaceRoute(_ context.Context, table string, dst netip.Prefix, target string) error {
	c.routes[dst] = target
	return nil
}

// routeAnnouncer announces a move by pointing a host route for each address
// at this unit's network interface, as on clouds without ARP.
type routeAnnouncer struct {
	api   *CloudAPI // the provider's SDK client
	table string    // the route table the clients use
	eni   string    // this unit's network interface ID
}

func (r *routeAnnouncer) Announce(ctx context.Context, m garp.Move) error {
	for _, a := range m.Addrs {
		dst := netip.PrefixFrom(a, a.BitLen())
		if err := r.api.ReplaceRoute(ctx, r.table, dst, r.eni); err != nil {
			return fmt.Errorf("announce %v: %w", a, err)
		}
	}
	return nil
}

func (r *routeAnnouncer) Withdraw(ctx context.Context, m garp.Move) error {
	return nil // the next primary's Announce replaces the routes
}

// An Announcer for a cloud: the same call as ARP's, a different mechanism.
func ExampleAnnouncer() {
	api := &CloudAPI{routes: map[netip.Prefix]string{}}
	units := map[string]garp.Announcer{
		"a": &routeAnnouncer{api: api, table: "rtb-1", eni: "eni-a"},
		"b": &routeAnnouncer{api: api, table: "rtb-1", eni: "eni-b"},
	}
	m := garp.Move{Interface: "eth0", Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.10")}}
	for _, primary := range []string{"a", "b"} {
		_ = units[primary].Announce(context.Background(), m)
		fmt.Println(api.routes)
	}
	// Output:
	// map[198.18.0.10/32:eni-a]
	// map[198.18.0.10/32:eni-b]
}

func ExampleRecorder() {
	var r garp.Recorder
	ctx := context.Background()
	m := garp.Move{Interface: "eth0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.10")}}
	_ = r.Announce(ctx, m)
	fmt.Println(len(r.Announced()), r.Calls()[0].Op)
	_ = r.Withdraw(ctx, m)
	fmt.Println(len(r.Announced()), len(r.Calls()))
	// Output:
	// 1 announce
	// 0 2
}
