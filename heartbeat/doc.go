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
// the link is lossy enough to fake it. ModeEarly changes three things.
//
// First, the evidence. A suspicion's first probe round sends, besides ARP to
// the peer's address (2 probes) and to neighbours (as many as the
// suspicion still lacks witnesses, 4 at most), 20 echo requests (Echo) on
// the heartbeat channel, then 4 a round: every unit that hears one answers,
// authenticated like its heartbeats. Anything received on the interface
// (a heartbeat of any unit, a neighbour's ARP reply, another unit's echo
// answer) is a witness that the interface works; a third unit is as good a
// witness as a neighbour, so a unit that restarted with an empty neighbour
// cache needs none. The peer's own echo answer shows its daemon alive: the
// suspicion goes on, and what the peer left unanswered until then counts
// as loss, not as its silence. A LocalFault is withdrawn (the peer Suspect
// again) as soon as a witness shows the interface works.
//
// Second, the early verdict: when the peer is silent on every interface and
// on one of them it left echo requests (and, on a LAN, ARP probes of its
// address) unanswered while a witness answered, it is declared PeerDown at
// once on every interface not in LocalFault, if two bounds hold:
//
//   - the steady bound: loss at the rate the link's history shows (an upper
//     confidence bound over the peer's last 1024 heartbeats, and one over
//     its last 64, so the onset of loss counts within seconds) explains the
//     silence and the unanswered probes with a probability of at most 1e-9;
//   - the onset bound: loss at whichever rate best explains everything the
//     suspicion saw (the peer's silence, and the witnesses' answers and
//     silences) explains it at most 1e-5 times as well as the peer's death
//     does. This is the guard against loss that starts suddenly after a
//     clean history: a neighbour that answers every probe shows the loss is
//     low now, one that answers few shows it is high, whatever the past.
//     TestLossOnset: after a clean minute, 10%, 20% and 40% loss starting at
//     once give 0 verdicts in 1000 trials each.
//
// On an ARP interface the peer's kernel must be silent too (its address
// unanswered more often than loss explains with a chance of 2%): a unit
// whose daemon died on a live host gets the window's verdict. The peer alive
// with a fault on that interface would leave its silence on the other
// interfaces to loss, so the verdict also needs that silence to be as
// unlikely; the window's PeerDown waits for the same, and becomes PeerFault
// when the heartbeats resume elsewhere. On an idle link this is one probe
// round: PeerDown 0.225 s after the last heartbeat at the default interval
// (keepalived at 100 ms adverts: 0.29 s), 22.5 ms at 10 ms, 2.25 s at 1 s,
// after 2 s of the peer's heartbeats (TestEarlyVerdictShortHistory).
//
// Third, on a link that lost heartbeats recently, the window's verdict
// waits (probing on) until the steady bound holds for the silence and the
// unanswered probes, at most 10 windows more; the reason then says how long
// and at what loss. A link that lost nothing in its history keeps the
// Clavister 0.8 s. The gap of an outage that reached a verdict, and a peer's
// restart, start a new loss history. Where the kernel dropped frames unread
// within the last window (its receive queue full: a flood of frames, or a
// reader starved of CPU; see KernelDrops and Machine.Overrun), the peer's
// heartbeats may have been among them: a PeerFault verdict there waits the
// same way, while a peer silent on every interface still gets PeerDown.
//
// # Routed interfaces (unicast UDP)
//
// Where the units share no layer 2 (ListenUDP, clouds) there is no ARP and
// no neighbour list: the echo requests, sent to each peer's own address,
// are the probes, and a third unit's answers are the witnesses. With
// nothing but the silent peer to ask (a pair), this unit's sends
// succeeding stand for its working side: the peer's unanswered echo
// requests give PeerDown in the same time as on a LAN (0.225 s at 100 ms;
// on the bed, TestUDPPairPowerLoss), and a unit never reports LocalFault
// for lack of neighbours to probe; sends that fail make it LocalFault.
// There the steady bound counts the current silence as lost (nothing else
// measures the loss now), and sudden loss is told from a dead peer by its
// history and its own echo answers alone: TestRoutedLossOnset measures 0
// false verdicts in 300 trials at 10% and 20% loss starting at once, 1 in
// 300 at 40%.
//
// # Probe budget
//
// A switch with Dynamic ARP Inspection err-disables a port that sends more
// than 15 ARP packets a second. Config.ProbeBudget (default 15) bounds the
// ARP requests and neighbour solicitations EIFD sends on one interface in
// any one second, a sliding window: up to the whole budget may go at once.
// A suspicion's first round sends at most 2 probes per suspected peer and
// 4 to neighbours; the peers' own addresses go first (neighbour probes
// leave 2 of the budget to them), the neighbours' answers are shared by
// every suspicion of the interface, and what the budget holds back is
// counted (Counters.ProbesSuppressed). Echo requests are heartbeat frames
// and are not counted. What it costs a pair with 16 neighbours when the
// peer loses power (TestProbeBudgetCost, 40 trials each, time from the last
// heartbeat to PeerDown, on average and at worst; without a budget in
// brackets):
//
//	interval  idle link        5% loss                20% loss
//	100 ms    0.225 s (same)   0.34 s, 0.73 s         0.67 s, 0.80 s
//	                           (0.32 s, 0.55 s)       (0.60 s, 0.83 s)
//	10 ms     22.5 ms (same)   0.27 s, 1.02 s         0.59 s, 2.58 s
//	                           (35 ms, 48 ms)         (66 ms, 83 ms)
//
// At 10 ms a lossy link starts suspicions many times a second, the budget
// holds back about 90% of the probes, and the verdicts wait for the few
// answers it lets through; at 20% loss 1 trial in 40 even ends in
// LocalFault (no witness within the extended window). A third unit on the
// interface answers echo requests, which the budget does not count. Set
// ProbeBudget to -1 where no switch limits ARP.
//
// # Interfaces that go down and up
//
// An interface set down (by an administrator, or a virtual MAC applied by
// down, set, up) makes its sockets fail with "network is down" until it is
// up again. The Driver's readers retry with a short backoff (at most
// 20 ms), count the failures (Counters.ReadErrors) and log the outage once
// at its start and once at its end: heartbeats are read again within an
// interval of the link's return (TestDriverLinkDownUp). Sends that fail are
// counted and fed to the Machine (Machine.SendFailed).
//
// ModeStrict keeps the Clavister schedule exactly, and under heavy loss it
// flaps as the Clavister rule implies (at 20% loss, 7 or 8 heartbeats lost in a
// row give a verdict, about once per 10^5 intervals per link). ModeEarly is
// the default because it is faster than keepalived at the same heartbeat
// rate and does not flap: virtual-time tests run 10 minutes at 20% loss
// with no verdict, on the pure core and on the simulated segment.
//
// # Frame (version 4)
//
// The frame is the payload of an Ethernet frame of EtherType 0xC14B (by
// default) or of a UDP datagram. Integers are big endian.
//
//	offset  size  field
//	0       1     version (4)
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
//	32      4     cluster tag (see Cluster identity)
//	36      8     nonce of the sender (random, one per start)
//	44      8     echo: the nonce of one peer the sender heard, or 0
//	52      A     sender's address on the interface
//	52+A    P     opaque caller payload
//	52+A+P  16    tag, if key ID != 0: HMAC-SHA256(subkey, EtherType ‖
//	              bytes 0 to 52+A+P) truncated to 128 bits, where subkey
//	              is HKDF-SHA256(secret of the key ID, info "hakit
//	              heartbeat v1")
//
// Every frame is at least as long as the Ethernet minimum payload (46
// bytes), so it never arrives padded; UnmarshalBinary accepts nothing
// after the frame.
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
// # Cluster identity
//
// The cluster ID must be unique on a network, and a second cluster given
// the same ID is a common mistake. Every frame carries a 32-bit cluster tag
// (see ClusterTag), derived from the key that seals it (HKDF, so it tells
// nothing of the secret) and from Config.ClusterName, or from the name
// alone without keys. A frame of our cluster ID with another tag is of
// another cluster: it is dropped before anything else looks at it
// (Drops.ClusterTag), so it never reaches the election and neither cluster
// changes a role because of the other. Each such frame counts in
// Counters.Collisions, and the Machine outputs a Collision (a Driver logs
// it at error level) for the first frame of each unit ID and interface,
// then once every CollisionReportEvery. So two clusters are kept apart
// when their keys differ or their names do.
//
// A cluster that copied both our configuration and our key has our tag.
// Its units are still noticed within a few heartbeats: a frame with our
// own unit ID from another epoch (OwnUnit), and a peer's unit ID sending
// from two epochs at once, both advancing (TwoSources). These are
// detected and reported, not kept apart: a unit may follow the other
// cluster's unit of its peer's ID, so give each cluster its own name (or
// key). Not detected: a copied cluster whose units all have IDs unused by
// ours (frames of a new unit ID are taken as a new peer, up to MaxPeers),
// and mixes of a cluster with keys and one without (their frames are
// dropped as unauthenticated, ErrAuth, and warned about). Echo messages
// (see Echo) carry the tag too and are dropped the same way. A forger can
// raise any of these alarms (the tag is read before the frame is
// verified); none changes a role.
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
// mark moves only after the tag verifies. Without keys frames are still
// checked for version, sanity and cluster ID. Every dropped frame is counted
// by reason in Counters and changes no state.
//
// # Replays across restarts
//
// The marks live in memory: a unit that restarts has none, and a frame
// recorded earlier (of a primary since dead) would look new to it. So with
// keys each Machine draws a random 64-bit nonce when it is made (one per
// start of the unit, nothing on disk) and sends it in every frame; each
// frame also echoes the nonce of one peer it heard (the newest start of
// that peer; the peers in turn, one a round, a newly heard one first). A
// receiver takes a start (epoch) of a peer as live only from an
// authenticated frame that echoes the receiver's own current nonce, which
// the peer can have learned only from a frame sent since the receiver
// started; from then on the frames of that start sent after it are taken
// (in sequence order on each interface, as before), and so are earlier
// ones that echo the nonce too (delayed on another interface). Any other
// frame is dropped and counted as Drops.StaleNonce
// (ErrStaleNonce, logged at debug level only: a peer's first frames after
// either unit starts are such drops too). A recording made before the
// receiver started cannot carry its nonce, however old it is: replayed
// into a restarted unit, not one of its frames is taken (no peer, no
// report, no payload; TestReplayIntoRestartedReceiver, with a recording
// of the last 2 s and one 72 hours old).
//
// First contact costs one exchange: a unit that hears a new nonce of a
// peer sends a round at once echoing it, so a restarted unit is taken as
// live by its peer, and takes the peer as live, within three one-way
// trips of its first frame, not an interval (TestNonceRestartHeardAtOnce).
// The epoch rule is unchanged, so a unit whose clock went back across a
// restart still needs an epoch above its last (election/member's
// BootEpoch gives one).
//
// The limits: the nonce only proves that a frame was made after the
// receiver started, not when: within one run of the receiver, freshness
// rests on the (epoch, sequence) marks as before, so a frame recorded
// since the receiver started and delayed is dropped as a replay only if a
// newer one was taken. With more than one peer, a unit echoes one nonce a
// round, so in a cluster of n units a restarted unit may wait up to n-2
// rounds more to be taken as live by the last of them (the immediate round
// goes to the newest nonce). A peer's nonce changes only with a larger
// epoch, so replays cannot make a unit send more than one extra round per
// recorded start of a peer. Without keys nothing is checked: anything can
// be forged anyway.
package heartbeat
