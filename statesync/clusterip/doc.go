// Package clusterip is the data path of an active-active Linux cluster:
// every unit receives every packet sent to the cluster's addresses, on one
// shared multicast MAC, and keeps only the connections of the buckets it
// owns; the others drop them. It does what iptables' CLUSTERIP target
// (removed from Linux 6.3) did, with nftables and a bucket map that the
// cluster's own schedule writes.
//
// # Why a shared MAC
//
// There are two ways to spread sessions over the units of a cluster. The
// FortiGate way: the primary owns the virtual MAC, receives every packet,
// and hands each new session to its owner by rewriting the frame to the
// owner's own MAC. Linux has no such forwarding step in its stack: it
// would take a second path through the primary for every packet of a
// session the primary does not own (an XDP or tc redirect program and a
// flow table in it), and the primary stays a single point that every
// packet crosses, so its failure stops all traffic for a detection time,
// not just its own sessions. The shared way needs nothing but
// nftables: every unit receives the frame, the kernel computes the
// session's bucket, and a map the Go side writes says which unit owns the
// bucket. A unit's failure then moves only its buckets; the survivors'
// sessions see no gap at all, and no address or MAC moves (no gratuitous
// ARP, no switch learning).
//
// # How the frames reach every unit
//
// Each cluster interface has a multicast MAC (MAC: locally administered,
// from the cluster ID and the interface's index). A multicast destination
// is flooded by a switch to every port, and IGMP/MLD snooping leaves it
// alone, as it is not an IP multicast MAC. On every unit:
//
//   - an nftables rule in the arp family's output hook writes the
//     multicast MAC as the sender hardware address of every ARP packet
//     the unit sends for a cluster address, so that the hosts' ARP caches
//     name it (Linux, checked on the test bed, accepts an ARP reply whose
//     sender is a multicast MAC and sends unicast IP to it);
//   - the interface joins the multicast MAC (PACKET_ADD_MEMBERSHIP), so
//     that its NIC does not filter the frames out;
//   - a prerouting chain at priority -150 (after conntrack, before
//     destination NAT) takes the frames sent to the multicast MAC: for
//     TCP and UDP it hashes the connection's original tuple (ct original
//     saddr, daddr, proto-src, proto-dst; for other protocols the two
//     addresses) with jhash and a fixed seed, once as it is and once with
//     its ends swapped, takes the sum of the two hashes (modulo the number
//     of buckets: a static map of the pairs) as the bucket, looks the
//     bucket up in the owner map, and keeps the packet (and sets its packet type to host,
//     since Linux forwards and delivers only those: the old CLUSTERIP did
//     the same) when the owner is this unit; everything else it drops.
//
// The Go side computes the same bucket (statesync.Bucket) from a
// session's key, and the bucket's owner from the cluster's schedule
// (statesync.Schedule.Buckets), so that each unit replicates the sessions
// its kernel keeps.
//
// The filter runs after conntrack, not before it, because the original
// tuple is what makes the hash symmetric (both directions of a connection
// in one bucket) and immune to NAT (the reply of a translated connection
// has other addresses but the same original tuple); packet headers alone
// give neither. That costs nothing: a unit that drops a new connection's
// first packet drops it before conntrack confirms the entry, so no entry
// is left; and the entries a unit holds for its peers' sessions (the warm
// standby's replica) see their traffic and stay fresh.
//
// # Limits
//
//   - IPv4 only: IPv6's neighbour advertisements carry the link-layer
//     address in an ICMPv6 option under a checksum, and this package does
//     not rewrite them.
//   - A packet conntrack does not track (an invalid one: out of window
//     with strict TCP tracking, an ICMP error it cannot match) has no
//     original tuple: every unit drops it.
//   - ICMP errors about a connection are hashed by their own addresses,
//     not the connection's, so they may reach another unit than the
//     connection's owner; that unit holds the connection too (the warm
//     standby) and forwards them as related.
//   - Every frame to the cluster reaches every unit: the switch floods it
//     to every port of the segment, as it did with CLUSTERIP. Each unit
//     receives the whole cluster's traffic and drops its peers' share.
//   - The units must share a byte order (the kernel hashes native words)
//     and the number of buckets.
//   - Units that cannot hear each other (a partition) each claim the
//     buckets of the units they lost, and both forward those sessions.
package clusterip
