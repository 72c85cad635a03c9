package simnet_test

import (
	"fmt"
	"net"
	"time"

	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
)

// Two ports on a simulated clock: a sends a broadcast, b answers with a
// unicast, and the switch learns both addresses on the way.
func Example() {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	a := seg.Attach("a", net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a})
	b := seg.Attach("b", net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b})
	a.SetLatency(300 * time.Microsecond)

	b.SetHandler(func(frame []byte, src net.HardwareAddr) {
		fmt.Printf("%v b got %q from %v\n", sim.Since(clock.Epoch), frame[simnet.HeaderLen:], src)
		reply := append(append(append([]byte{}, src...), b.HardwareAddr()...), 0x88, 0xb5)
		b.WriteTo(append(reply, "pong"...), nil)
	})
	a.SetHandler(func(frame []byte, src net.HardwareAddr) {
		fmt.Printf("%v a got %q from %v\n", sim.Since(clock.Epoch), frame[simnet.HeaderLen:], src)
	})

	ping := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0xb5}
	a.WriteTo(append(ping, "ping"...), nil)
	sim.RunFor(time.Second)

	port, _ := seg.Lookup(net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b})
	fmt.Println("switch forwards 02:00:00:00:00:0b to", port)
	// Output:
	// 300µs b got "ping" from 02:00:00:00:00:0a
	// 600µs a got "pong" from 02:00:00:00:00:0b
	// switch forwards 02:00:00:00:00:0b to b
}
