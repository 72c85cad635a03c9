// Package vrrp implements the Virtual Router Redundancy Protocol version 3
// for IPv4 and IPv6 (RFC 9568, which obsoletes RFC 5798), so that a hakit
// unit can share a virtual address with keepalived or with a router.
//
// VRRP is an election whose advertisements are its heartbeats: the Master
// of a virtual router (RFC 9568 calls it the Active Router) multicasts an
// advertisement every Advertisement_Interval to 224.0.0.18 or ff02::12,
// IP protocol 112, TTL or hop limit 255; a Backup that hears none for
// Master_Down_Interval (three intervals plus Skew_Time, shorter for higher
// priorities) takes over. A Master that stops sends priority 0, and the
// Backups take over after Skew_Time alone. Priority 255 is the address
// owner; ties go to the higher primary address.
//
// # Pieces
//
//   - Advertisement: the message as a value type, with a zero-allocation
//     codec, and Seal and Verify for its checksum in both IPv4 forms
//     (ChecksumForm): RFC 9568's, over the message only, as Cisco and
//     Juniper compute it, and the one with an IPv4 pseudo-header, which
//     keepalived and FRR use by default. IPv6 always has the pseudo-header.
//   - Machine: the state machine of RFC 9568 section 6.4 (Initialize,
//     Backup, Master), pure: it takes time as an argument, reads no clock,
//     starts no goroutine and sends nothing. It runs the receive checks of
//     section 7.1 (a failure is a counted drop and an error, never a state
//     change), accepts both checksum forms and reports the form each peer
//     uses (Status.Peers), and supports preemption and nopreempt, accept
//     mode, unicast peers (keepalived's unicast_peer) and priority changes.
//   - Driver: runs a Machine on a Conn and a Clock, sends its
//     advertisements and calls a hook on every state change. On Linux,
//     Listen opens the Conn: raw IP sockets, multicast membership, TTL or
//     hop limit 255 set on sending and read on receipt. Elsewhere Listen
//     returns an error wrapping errors.ErrUnsupported.
//
// The takeover itself (virtual MAC, addresses, gratuitous ARP or
// unsolicited neighbour advertisements, sessions) is not here: the hook
// gets a Transition and does it, with hakit's vmac and garp packages or
// anything else.
//
// # The caller's loop
//
// A Driver does this; a caller with its own event loop drives a Machine
// directly:
//
//	m, err := vrrp.New(&vrrp.Config{VRID: 51, Priority: 200,
//		Addrs: []netip.Addr{vip}, Primary: myAddr, AdvertInterval: time.Second})
//	if err != nil {
//		log.Fatal(err) // an invalid configuration
//	}
//	out := m.Start(now)
//	for {
//		handle(out) // below
//		select {
//		case p := <-packets: // each received message, with its IP source, destination and TTL
//			if out, err = m.Receive(now, p); err != nil {
//				log.Print(err) // a counted drop; out is unchanged
//			}
//		case <-timerAt(out.Next):
//			out = m.Tick(now)
//		case <-stop:
//			handle(m.Shutdown(now)) // a Master sends priority 0
//			return
//		}
//	}
//
//	func handle(out vrrp.Output) {
//		if out.Send { // to the group, or to each unicast peer
//			a := out.Advert
//			a.Seal(cfg.Checksum, cfg.Primary, dst)
//			b, _ = a.AppendBinary(b[:0]) // send b from cfg.Primary to dst, TTL 255
//		}
//		if out.Changed && out.State == vrrp.Master {
//			// take over: addresses, GARP / NA
//		}
//		if out.Changed && out.From == vrrp.Master {
//			// release them
//		}
//	}
//
// See Example for a runnable version, and ExampleDriver for the driver.
//
// # Interoperation
//
// keepalived up to 2.2.7 accepts only the pseudo-header IPv4 checksum
// (from 2.2.8 on, v3_checksum_as_v2 selects RFC 9568's); Cisco and Juniper
// only RFC 9568's. Config.Checksum picks the form to send; both are
// accepted. keepalived refuses advertisements whose address list differs
// from its own, so list the same addresses in the same order. It sends
// IPv6 unicast advertisements with the kernel's hop limit (64) unless its
// unicast_ttl is 255: set Config.MinUnicastTTL to pair with it.
package vrrp
