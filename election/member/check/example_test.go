package check_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/check"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/simnet"
)

// Two checks for a unit: a script whose failure takes 20 off the
// priority, and the upstream gateway answering ARP, without which the
// unit is not eligible. On an appliance the prober is the interface's
// (heartbeat.NewProber on Linux); here a simulated segment holds the
// gateway, and nobody answers for the script's path.
func Example() {
	seg := simnet.New(&simnet.Config{Seed: 1})
	gwMAC, ownMAC := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	router, _ := heartbeat.NewPacketProber(seg.Attach("gateway", gwMAC), gwMAC, netip.MustParseAddr("198.18.0.1"))
	defer router.Close()
	go func() { // the gateway answers ARP while it reads
		for {
			if _, err := router.ReadReply(); err != nil {
				return
			}
		}
	}()
	prober, _ := heartbeat.NewPacketProber(seg.Attach("unit", ownMAC), ownMAC, netip.MustParseAddr("198.18.0.10"))

	gw, err := check.NewNeighbour(prober, netip.MustParseAddr("198.18.0.1"))
	checks := []member.Check{
		{Name: "haproxy", Probe: check.Script("/usr/local/bin/check-haproxy"), Weight: 20},
		{Name: "gw-ping", Probe: gw.Probe, Fall: 3, Rise: 3}, // a fault: the unit is ineligible
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range checks {
		fmt.Printf("%s passes: %v\n", c.Name, c.Probe(ctx) == nil)
	}
	// Output:
	// haproxy passes: false
	// gw-ping passes: true
}
