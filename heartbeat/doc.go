// Package heartbeat implements cluster heartbeats with Early Interface
// Failure Detection (EIFD): versioned, optionally authenticated frames sent
// on every critical interface, miss counting per peer and interface, and the
// verdicts that tell a broken local interface from a broken or dead peer.
//
// Heartbeat never decides a failover: it reports, per peer and interface, a
// State (Alive, Suspect, LocalFault, PeerFault, PeerDown) with its reason and
// time, and the caller (the election) decides.
//
// # Layers
//
// Machine is the pure core. It takes time as an argument, calls out to
// nothing, and returns what to send and what changed. The caller's loop
// (ExampleMachine runs it):
//
//	m, _ := heartbeat.NewMachine(&heartbeat.Config{ClusterID: 7, UnitID: 1},
//		heartbeat.Interface{Name: "eth0", Addr: netip.MustParseAddr("198.18.0.1")})
//	for now := start; now.Before(dead.Add(time.Second)); now = now.Add(5 * time.Millisecond) {
//		for _, frame := range read(now) {
//			out, _ := m.Receive(now, "eth0", frame) // bad frames: an error, counted, nothing else
//			handle(now, out)                        // out.Heard: the peer's newest payload
//		}
//		for _, ifname := range m.NeedNeighbours(now) { // EIFD starts there
//			m.SetNeighbours(ifname, arpCache(ifname))
//		}
//		out := m.Tick(now) // at m.Next(): heartbeats, probes, reports
//		handle(now, out)
//		for _, from := range replies(out.Probes) {
//			handle(now, m.ProbeReply(now, "eth0", from))
//		}
//	}
//
// Driver is the thin driver: one goroutine per interface reading frames, one
// per Prober reading replies, a timer on the configured hakit.Clock (so it
// runs in a testing/synctest bubble or on a simulated clock), and one
// goroutine calling the callbacks (OnReport, OnHeard) in order with no lock
// held. Transports are the small Conn, Prober and NeighbourSource
// interfaces: NewEthernetConn wraps any net.PacketConn carrying whole
// Ethernet frames (AF_PACKET, or the simulated segment), NewPacketProber
// sends ARP requests on one, and the Linux files add AF_PACKET sockets, UDP,
// kernel probes and the kernel's neighbour table.
//
// # Timing (the Clavister schedule)
//
// Every unit sends a heartbeat on every critical interface each Interval
// (default 100 ms: 10 per second). When a peer's heartbeats are missing on an
// interface for Misses intervals (default 2: 0.2 s) the peer is Suspect
// there and EIFD starts: the interface's resolved neighbours (from the
// NeighbourSource, at most 16) and the peer's own advertised address are
// probed (ARP for IPv4, neighbour solicitation for IPv6), again every
// ProbeInterval (default Interval/4). When ProbeWindow (default 0.6 s, 0.8 s
// in all) ends without a heartbeat:
//
//   - no probed neighbour answered: LocalFault (this unit's interface);
//   - nothing was known to probe (no neighbours, no peer address):
//     LocalFault, with a reason saying so: this is the Clavister rule taken
//     literally ("no ARP reply"), and the reason lets the caller tell it
//     from a measured fault;
//   - neighbours answered and the peer is silent on every interface:
//     PeerDown;
//   - neighbours answered and the peer still sends on another interface:
//     PeerFault (the peer's interface).
//
// A heartbeat arriving during EIFD ends the suspicion with no verdict. A
// verdict lasts until heartbeats resume on that interface (reported Alive).
//
// # Early verdicts (ModeEarly, the default)
//
// The Clavister window exists to tell a local fault from a peer's; it need not
// be waited out when the answer is known, and it should not be trusted when
// the link is lossy enough to fake it. ModeEarly changes two things.
//
// First, when the peer is silent on every interface, a probed neighbour
// answered on some interface (so it works), and the peer's own address left
// K probe rounds in a row unanswered there, the peer is declared PeerDown at
// once on every interface not in LocalFault. Each round sends 3 probes to
// the peer, also after it answered: a unit whose daemon dies a moment before
// its links (a power cut as the software sees it) answers at first and then
// no more, and the K rounds count from its last answer.
// K grows with the loss the link showed recently, measured from sequence
// gaps over the peer's last 1024 heartbeats (an upper confidence bound) and
// its last 64 (at face value, so the onset of loss counts within seconds):
// K is the smallest count for which "the Misses heartbeats, every heartbeat
// due during K rounds, and all probes or replies of K rounds were lost by
// chance" has a probability of at most 1e-9. On an idle link K is 1 after
// about 100 heartbeats: PeerDown 0.225 s after the last heartbeat at the
// default interval (keepalived at 100 ms adverts: 0.29 s), 22.5 ms at a
// 10 ms interval, 2.25 s at 1 s. At 20% loss K is 6. The peer alive with
// a fault on that interface would leave its silence on the other
// interfaces to loss, so the verdict also needs that silence (the
// heartbeats missed and the probe rounds unanswered there) to be as
// unlikely under their loss; the window's PeerDown waits for the same, and
// becomes PeerFault when the heartbeats resume elsewhere. Any heartbeat cancels
// the early verdict, and a reply from the peer's address puts it off by K
// rounds; a peer that goes on answering (its daemon hung, its kernel alive)
// gets the window's verdict.
//
// Second, on a link that lost heartbeats recently, the window's verdict waits
// (probing on) until the same bound holds for the silence and the unanswered
// probes, at most 10 windows more; the reason then says how long and at what
// loss. A link that lost nothing in its history keeps the Clavister 0.8 s. The
// gap of an outage that reached a verdict, and a peer's restart, start a new
// loss history.
//
// ModeStrict keeps the Clavister schedule exactly, and under heavy loss it
// flaps as the Clavister rule implies (at 20% loss, 7 or 8 heartbeats lost in a
// row give a verdict, about once per 10^5 intervals per link). ModeEarly is
// the default because it is faster than keepalived at the same heartbeat
// rate and does not flap: virtual-time tests run 10 minutes at 20% loss
// with no verdict, on the pure core and on the simulated segment.
//
// # Frame (version 2)
//
// The frame is the payload of an Ethernet frame of EtherType 0xC14B (by
// default) or of a UDP datagram. Integers are big endian.
//
//	offset  size  field
//	0       1     version (2)
//	1       1     role of the sender (hakit.Role: 1 initial, 2 primary,
//	              3 secondary)
//	2       1     key ID (0: unauthenticated, no tag)
//	3       1     address length A (0, 4 or 16)
//	4       2     cluster ID
//	6       2     sender unit ID (not 0)
//	8       2     sending interface (index in the sender's list)
//	10      2     payload length P (at most 256)
//	12      4     advertised interval, microseconds
//	16      8     epoch (one per start of the sender, increasing)
//	24      8     sequence number of the send round (from 1; the same on
//	              every interface of a round)
//	32      A     sender's address on the interface
//	32+A    P     opaque caller payload
//	32+A+P  16    tag, if key ID != 0: HMAC-SHA256(subkey, EtherType ‖
//	              bytes 0 to 32+A+P) truncated to 128 bits, where subkey
//	              is HKDF-SHA256(secret of the key ID, info "hakit
//	              heartbeat v1")
//
// A frame shorter than the Ethernet minimum (46 bytes) may arrive padded
// with zeros; UnmarshalBinary accepts that padding and nothing else after
// the frame.
//
// # Payloads
//
// Each heartbeat carries an opaque payload (the election's candidate), the
// sender's current one. A sender sends a round at a time: one frame on every
// interface, all with the same sequence number, the payload that was set
// when the round was sent. The receiver delivers a payload (Output.Heard,
// Config.OnHeard) for the first frame of a round it accepts from the peer on
// any interface, and only if its (epoch, sequence number) is above the
// newest it delivered for that peer: a frame of an older round, delayed on
// one interface while a newer one arrived on another, or the other
// interfaces' copies of a round already delivered, count as heartbeats of
// their interfaces but are not delivered. So a peer's payloads arrive once
// per round, in the order they were sent, and a stale one is never
// observed after a newer one, even across a restart of the sender (its
// new epoch is larger).
//
// # Addresses
//
// Frames are sent from SourceMAC(cluster, unit, role), a locally administered
// unicast address 0x02|role<<4 : C1 : cluster : unit, to GroupMAC(cluster),
// the locally administered multicast 03:C1:4B:00 : cluster; with
// Config.Unicast, to the one known peer's SourceMAC (DestinationMAC).
//
// # Authentication and replays
//
// With Config.Keys (a hakit.Keyring shared with session sync), every frame
// is sealed with the ring's primary key and any key of the ring verifies,
// so keys rotate without a restart (see hakit.Keyring); the heartbeat key is
// derived from each secret, so it never authenticates another protocol.
// Tags are compared in constant time, and frames without a tag are dropped. Each receiver keeps, per peer
// and interface, the newest (epoch, sequence) accepted: an older epoch is
// stale, an equal epoch with a sequence not above the mark is a replay. The
// mark moves only after the tag verifies. A restarted sender uses a larger
// epoch and is accepted with its first frame. Without keys frames are still
// checked for version, sanity and cluster ID. Every dropped frame is counted
// by reason in Counters and changes no state.
package heartbeat
