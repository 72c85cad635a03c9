package hbelect_test

import (
	"fmt"

	"github.com/hakit/hakit/election/hbelect"
	"github.com/hakit/hakit/heartbeat"
)

// A unit with heartbeats on its LAN interface and on a dedicated sync link
// sees its peer die: the early verdict comes on both interfaces, and the
// first makes the peer lost.
func Example() {
	tr, _ := hbelect.New(&hbelect.Config{
		Interfaces: []string{"eth0", "sync"},
		Demotes:    func(iface string) bool { return iface == "eth0" },
	})
	for _, r := range []heartbeat.Report{
		{Peer: 2, Interface: "eth0", State: heartbeat.Alive},
		{Peer: 2, Interface: "sync", State: heartbeat.Alive},
		{Peer: 2, Interface: "eth0", State: heartbeat.PeerDown},
		{Peer: 2, Interface: "sync", State: heartbeat.PeerDown},
	} {
		in := tr.Report(r)
		for _, v := range in.Verdicts {
			fmt.Println("election.Verdict:", v.Kind) // driver.Verdict(v)
		}
		if in.Lost {
			fmt.Println("election.PeerLost:", in.Peer) // driver.PeerLost(in.Peer)
		}
	}
	// Output:
	// election.PeerLost: 2
}
