// Package vmac derives the virtual MAC addresses a cluster presents to the
// network, detects another cluster using the same identity, and (on Linux)
// moves the cluster's MAC and virtual IP addresses onto a unit's interfaces
// at takeover.
//
// # Schemes
//
// Every derivation returns a 6-byte unicast MAC or an error wrapping
// ErrOutOfRange; inputs never wrap around.
//
//	NetDefendMAC(c, p)      10:00:00:c1:4a:nn, nn = c<<2 | p        c 0..63, p 0..3
//	FortiGateMAC(g, v, i)   00:09:0f:09:gg:xx  for g 0..255          g 0..1023,
//	                        e0:23:ff:fc:gg:xx  for g 256..511        v 1..2,
//	                        e0:23:ff:fd:gg:xx  for g 512..767        i 0..127
//	                        e0:23:ff:fe:gg:xx  for g 768..1023
//	                        gg = g mod 256, xx = i (+0x80 for virtual cluster 2)
//	VRRPMAC(id)             00:00:5e:00:01:id  (VRRP IPv4, CARP)     id 1..255
//	VRRPv6MAC(id)           00:00:5e:00:02:id  (VRRP IPv6)           id 1..255
//	LocalMAC(c, i)          02:00:00:cc:cc:ii  (c big-endian)        c 0..65535, i 0..255
//
// The NetDefendOS manual leaves the formula for nn open; the one above is
// this package's choice (see NetDefendMAC). The FortiGate one follows
// Fortinet's published formula (see FortiGateMAC). LocalMAC is locally
// administered and holds any cluster ID (16 bits, as in every hakit
// package). Identify goes the other way, from an address to the scheme and
// inputs that produce it.
//
// # Collisions
//
// The cluster ID must be unique on a network. A Guard is fed the frames and
// heartbeats a unit receives and returns a *CollisionError (wrapping
// ErrCollision) when another station uses our virtual MAC while we hold it,
// or when heartbeats carrying our cluster ID come from a unit that is not
// ours. It is pure and does no I/O. A GuardDriver is its thin driver: it reads
// frames from a net.PacketConn (ListenFrames opens a filtered AF_PACKET
// socket on Linux; a simulated port works too), takes heartbeat facts from
// the caller, and reports each distinct collision once.
//
// # The takeover toolbox (Linux)
//
// SetMAC, AddMacvlan, AddVIPs, AddPrefixes and RemoveVIPs change a unit's
// interfaces through rtnetlink. Each call opens its own netlink socket on the
// calling thread, so it acts in that thread's network namespace. Each
// returns a *Handle whose Release undoes exactly what the call changed, and
// a call that fails part way undoes its own earlier steps before returning:
// nothing is left half-applied. RemoveMacvlan clears a child left behind by
// a unit that crashed while primary. On other platforms they return an error
// wrapping errors.ErrUnsupported.
//
// Apply composes them: it applies a list of Takeover values (per interface:
// the virtual MAC on the interface or on a macvlan child, and the virtual
// IPs) all or nothing. The caller's loop, on a role change (ExampleApply):
//
//	mac, _ := vmac.NetDefendMAC(5, 1) // 10:00:00:c1:4a:15
//	takeovers := []vmac.Takeover{{Interface: "eth0", MAC: mac, VIPs: vips}}
//	// at start, as a standby
//	restored, err := vmac.Restore(dir, takeovers...)
//	for _, r := range restored {
//		log.Printf("%s kept the virtual MAC of a crashed run: %v put back", r.Interface, r.MAC)
//	}
//	if err != nil {
//		log.Fatal(err)
//	}
//
//	// becoming primary, after committing the session table (package statesync)
//	if err := vmac.Record(dir, takeovers...); err != nil {
//		log.Print(err) // only a crash while primary would need the record
//	}
//	guard.SetHolding(true)
//	h, err := vmac.Apply(takeovers...)
//	if err != nil {
//		guard.SetHolding(false) // nothing was left applied: stay standby
//		log.Fatal(err)
//	}
//	// ... then announce (package garp).
//
//	// demoted
//	guard.SetHolding(false)
//	if err := h.Release(); err != nil { // restores the MAC, removes the VIPs
//		log.Print(err)
//	}
//
// A virtual IP given as a plain address (AddVIPs) must lie inside a subnet
// already configured on the interface, whose prefix length it takes; an
// address on no such subnet is refused with ErrNoSubnet. AddPrefixes takes
// the prefix length explicitly. IPv6 addresses are added with IFA_F_NODAD so
// they are usable at once. Adding an address that is present and removing
// one that is absent both succeed.
//
// # The own MAC after a crash
//
// An interface-mode takeover (Takeover.MAC without Macvlan) replaces the
// interface's own MAC with the virtual one, and Handle.Release puts the own
// MAC back. A unit that crashes while primary (SIGKILL, a panic, a power
// cut of the process) never releases: the interface keeps the virtual MAC,
// and the restarted unit would answer with the same MAC as the new primary,
// so the switches would send the primary's frames to it. Record, before a
// takeover, writes the interface's own MAC to a state directory; Restore,
// at start, puts it back on every interface that still carries its
// virtual MAC (see the caller's loop above).
package vmac
