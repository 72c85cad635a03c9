package vrrp_test

import (
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/hakit/hakit/election/vrrp"
)

// router is one VRRP router of Example: its Machine and the time of its
// next Tick.
type router struct {
	name    string
	primary netip.Addr
	m       *vrrp.Machine
	next    time.Time
}

// Example runs the caller's loop for two routers on a simulated link in
// virtual time: a (priority 200) and b (priority 100) start together, a
// becomes Master, then stops cleanly; its priority 0 advertisement lets b
// take over after its Skew_Time instead of Master_Down_Interval.
func Example() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vip := netip.MustParseAddr("198.18.0.100")
	var routers []*router
	for _, r := range []struct {
		name     string
		priority uint8
		primary  string
	}{{"a", 200, "198.18.0.2"}, {"b", 100, "198.18.0.3"}} {
		m, err := vrrp.New(&vrrp.Config{VRID: 51, Priority: r.priority, Addrs: []netip.Addr{vip},
			Primary: netip.MustParseAddr(r.primary), AdvertInterval: time.Second})
		if err != nil {
			log.Fatal(err)
		}
		routers = append(routers, &router{name: r.name, primary: netip.MustParseAddr(r.primary), m: m})
	}

	// handle acts on one Output of from's Machine: it reports a state
	// change, remembers the next Tick, and "sends" the advertisement to
	// the other router, as the network would.
	var handle func(from *router, now time.Time, out vrrp.Output)
	handle = func(from *router, now time.Time, out vrrp.Output) {
		if out.Changed {
			fmt.Printf("%-9v %s %-6v %s\n", now.Sub(start), from.name, out.State, out.Reason)
		}
		from.next = out.Next
		if !out.Send {
			return
		}
		a := out.Advert
		if err := a.Seal(vrrp.ChecksumPseudoHeader, from.primary, vrrp.GroupIPv4); err != nil {
			log.Fatal(err)
		}
		msg, err := a.AppendBinary(nil)
		if err != nil {
			log.Fatal(err)
		}
		for _, to := range routers {
			if to == from || to.m.State() == vrrp.Initialize {
				continue
			}
			o, err := to.m.Receive(now, vrrp.Packet{Src: from.primary, Dst: vrrp.GroupIPv4, TTL: 255, Data: msg})
			if err != nil {
				fmt.Println("dropped:", err) // counted in to.m.Counters()
			}
			handle(to, now, o)
		}
	}
	// run fires the earliest timer until until.
	run := func(until time.Time) time.Time {
		for {
			var r *router
			for _, c := range routers {
				if !c.next.IsZero() && (r == nil || c.next.Before(r.next)) {
					r = c
				}
			}
			if r == nil || r.next.After(until) {
				return until
			}
			handle(r, r.next, r.m.Tick(r.next))
		}
	}

	for _, r := range routers {
		handle(r, start, r.m.Start(start))
	}
	now := run(start.Add(10 * time.Second))
	handle(routers[0], now, routers[0].m.Shutdown(now))
	run(now.Add(5 * time.Second))
	fmt.Println("b heard a with the", routers[1].m.Status().Peers[0].Checksum, "checksum")

	// Output:
	// 0s        a BACKUP started: waiting Master_Down_Interval 3.21875s for a Master
	// 0s        b BACKUP started: waiting Master_Down_Interval 3.609375s for a Master
	// 3.21875s  a MASTER no advertisement for Master_Down_Interval 3.21875s after start
	// 10s       a INIT   shut down: sent priority 0 so that a Backup takes over after its Skew_Time
	// 10.609375s b MASTER Master 198.18.0.2 stopped (priority 0): took over after Skew_Time 609.375ms
	// b heard a with the pseudo-header checksum
}

// ExampleDriver runs one VRRP instance on eth0 with keepalived's usual
// settings (VRID 51, one address, adverts every second to 224.0.0.18) and
// takes the address over in the hook.
func ExampleDriver() {
	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		log.Fatal(err)
	}
	conn, err := vrrp.Listen(ifi, nil) // IPv4, the group joined
	if err != nil {
		log.Fatal(err) // errors.ErrUnsupported outside Linux
	}
	d, err := vrrp.NewDriver(conn, &vrrp.Config{
		VRID:     51,
		Priority: 150,
		Addrs:    []netip.Addr{netip.MustParseAddr("198.18.0.100")},
		Primary:  conn.Source(),
	}, &vrrp.DriverConfig{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnTransition: func(t vrrp.Transition) {
			switch {
			case t.To == vrrp.Master:
				// Add t.Addrs (hakit's vmac.AddVIPs), then announce them
				// (hakit's garp: gratuitous ARP, unsolicited NA).
			case t.From == vrrp.Master:
				// Remove them.
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := d.Start(); err != nil {
		log.Fatal(err)
	}
	// ... until SIGTERM:
	if err := d.Shutdown(); err != nil { // priority 0: the Backup takes over at once
		log.Print(err)
	}
	<-d.Done()
}
