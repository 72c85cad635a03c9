package vrrp_test

import (
	"log"
	"net/netip"
	"time"

	"github.com/hakit/hakit/election/vrrp"
)

// What the caller's loop of the package documentation refers to: the
// instance's configuration, the destination of its advertisements, the
// buffer they are encoded into, and the channels its socket and its owner
// feed.
var (
	cfg     = vrrp.Config{VRID: 51, Priority: 200, Primary: netip.MustParseAddr("198.18.0.2")}
	dst     = vrrp.GroupIPv4
	b       []byte
	packets = make(chan vrrp.Packet)
	stop    = make(chan struct{})
)

// timerAt fires at t.
func timerAt(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

func handle(out vrrp.Output) {
	if out.Send { // to the group, or to each unicast peer
		a := out.Advert
		a.Seal(cfg.Checksum, cfg.Primary, dst)
		b, _ = a.AppendBinary(b[:0]) // send b from cfg.Primary to dst, TTL 255
	}
	if out.Changed && out.State == vrrp.Master {
		// take over: addresses, GARP / NA
	}
	if out.Changed && out.From == vrrp.Master {
		// release them
	}
}

// Example_loop is the caller's loop of the package documentation, as it
// compiles; Example runs one in virtual time.
func Example_loop() {
	vip, myAddr, now := netip.MustParseAddr("198.18.0.100"), cfg.Primary, time.Now()
	m, err := vrrp.New(&vrrp.Config{VRID: 51, Priority: 200,
		Addrs: []netip.Addr{vip}, Primary: myAddr, AdvertInterval: time.Second})
	if err != nil {
		log.Fatal(err) // an invalid configuration
	}
	out := m.Start(now)
	for {
		handle(out) // below
		select {
		case p := <-packets: // each received message, with its IP source, destination and TTL
			if out, err = m.Receive(now, p); err != nil {
				log.Print(err) // a counted drop; out is unchanged
			}
		case <-timerAt(out.Next):
			out = m.Tick(now)
		case <-stop:
			handle(m.Shutdown(now)) // a Master sends priority 0
			return
		}
	}
}
