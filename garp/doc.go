// Package garp tells the network that addresses moved to this unit:
// gratuitous ARP (RFC 5227 announcements, in request or reply form) for IPv4,
// unsolicited neighbour advertisements (RFC 4861 section 7.2.6) for IPv6,
// and, for transparent (bridge-mode) clusters, learning frames that make the
// switches on each side learn the other side's MACs through the new primary.
//
// # What it does
//
// On takeover the new primary sends a burst on every interface for every
// address, with the shared MAC as sender, so that switches re-learn where the
// MAC is and hosts re-learn which MAC the address has (FortiGate, Clavister). A
// second burst follows after a delay, for links that came up late, and then a
// periodic refresh, "so that switches do not forget" (NetDefendOS). Every
// interface has a token bucket, so that 256 addresses do not flood the
// switches' control planes. Demotion stops all of it at once: nothing is sent
// after Stop or Withdraw returns. DefaultSchedule gives keepalived's defaults
// where it has them (5 passes, a second burst of 5 after 5 s) and documents
// ours (passes 10 ms apart, refresh every 60 s, 1000 frames/s per interface
// after a first 256).
//
// In transparent mode (FortiGate) the hosts' ARP caches must not change: the
// cluster forwards frames between two segments without addresses of its own.
// After a failover the switches still send each side's traffic to the old
// primary's ports. Give a Move the MACs known on the far side of an interface
// (read from the unit's bridge forwarding table or neighbour table) in Learn:
// the Driver sends, for each, a broadcast ARP probe for 0.0.0.0 with that MAC
// as Ethernet source out of the interface. Switches learn the MAC on the
// cluster's port; hosts find nothing to answer or to cache in it.
//
// # The layers
//
// Announcement is one frame as a value: Marshal builds it with mdlayher/arp,
// mdlayher/ethernet and mdlayher/ndp (writing the IPv6 header, hop limit 255,
// and the ICMPv6 checksum over the pseudo-header itself), Parse reads one
// back, and Builder appends frames to a caller's buffer without allocating by
// caching each built frame.
//
// Machine is the pure core: it takes time as an argument, holds each move's
// prebuilt frames and each interface's token bucket, and says which frames to
// send now and when to call again.
//
// Driver runs it and is the ARP/NDP Announcer: it owns the timer (a
// Clock, real or simulated) and one whole-Ethernet-frame net.PacketConn per
// interface (Listen opens an AF_PACKET socket on Linux; tests use a simulated
// port). Announcer is the interface the rest of a cluster calls, so that a
// cloud deployment can replace ARP with an API call; Recorder is its test
// double.
//
// # The caller's loop
//
// ExampleNewDriver:
//
//	s, err := garp.NewDriver(nil) // defaults: 5 × 10 ms, again after 5 s, refresh every 60 s
//	if err != nil {
//		log.Fatal(err)
//	}
//	// became primary: commit the sessions, move the MAC and addresses (package vmac), then
//	err = s.Announce(ctx, garp.Move{Interface: "eth0", MAC: vmacAddr, Addrs: vips})
//	if err != nil {
//		log.Print(err) // the interface could not be opened
//	}
//	// demoted
//	s.Stop() // nothing is sent after it returns
//
// Announce returns once the first pass is out (as far as the rate limit
// allows); the rest runs on the clock. Errors opening an interface are
// returned; write errors later (the interface went away) are counted in Stats
// and logged, the conn is closed and reopened for the next frames due.
//
// # Writing a cloud Announcer
//
// In clouds there is no ARP: the network learns where an address
// lives from the provider's API. Implement Announcer with that call, and keep
// it idempotent, because a takeover may be retried:
//
//	type routeAnnouncer struct {
//		api   *CloudAPI // the provider's SDK client
//		table string    // the route table the clients use
//		eni   string    // this unit's network interface ID
//	}
//
//	func (r *routeAnnouncer) Announce(ctx context.Context, m garp.Move) error {
//		for _, a := range m.Addrs {
//			dst := netip.PrefixFrom(a, a.BitLen())
//			if err := r.api.ReplaceRoute(ctx, r.table, dst, r.eni); err != nil {
//				return fmt.Errorf("announce %v: %w", a, err)
//			}
//		}
//		return nil
//	}
//
//	func (r *routeAnnouncer) Withdraw(ctx context.Context, m garp.Move) error {
//		return nil // the next primary's Announce replaces the routes
//	}
//
// A secondary-IP provider (assign the address to this unit's interface,
// allowing reassignment) has the same shape. See the Announcer example.
//
// # Linux receivers
//
// Linux updates an existing neighbour entry from a gratuitous ARP even within
// net.ipv4.neigh.*.locktime of its last update, but only if the frame is
// gratuitous by its test (sender IP equals target IP; in reply form, target
// MAC equals sender MAC), which is how Marshal builds both forms. It creates
// no new entry from one unless arp_accept is set; a host that never talked to
// the address has nothing stale to fix. An unsolicited NA with Override set
// updates an existing IPv6 entry to STALE with the new MAC.
package garp
