// Package statesync keeps the session (connection) table of a cluster's
// units in step: the active unit's flow table is continuously copied to the
// others, so that after a failover the new active unit knows which
// connections exist and traffic continues.
//
// # The table
//
// Table holds Sessions keyed by Key (zone, protocol, original source and
// destination). It is sharded for concurrent writers and stores compact
// entries: about 100 bytes per session at a million sessions, against 256
// for the kernel's own conntrack entry. Expire removes idle sessions (time
// is an argument). Table.Upsert is for the unit that owns a session (it
// bumps the session's Version); Table.Store is for replicas. Scan reads it
// a bounded number of sessions at a time; Feed reports its changes to one
// consumer that mirrors it elsewhere (a standby's kernel), coalesced, with
// no allocation on the writers' path; Mark and Unmarked reconcile the
// sessions an owner writes with a fresh dump of their source.
//
// # Replication
//
// A Sender (on the unit that owns the sessions) and a Receiver (on each
// unit that mirrors them) are pure state machines: they take time as an
// argument, and return datagrams to send through Output. A Driver runs them
// over a Transport (raw Ethernet through EthernetTransport, unicast UDP
// through UDPTransport, or the simulated segment) with a goroutine and a
// ticker. The caller's loop with the cores (the package Example runs it):
//
//	s, _ := statesync.NewSender(now, &statesync.SenderConfig{Table: primary, Keys: keys})
//	r, _ := statesync.NewReceiver(now, &statesync.ReceiverConfig{Table: standby, Keys: keys})
//
//	var events []statesync.Event
//	// One round trip: sender's datagrams to the receiver, its acks back.
//	exchange := func() {
//		s.Tick(now)
//		for _, b := range s.Output(nil) {
//			r.Step(now, b)
//		}
//		now = now.Add(10 * time.Millisecond)
//		r.Tick(now)
//		for _, b := range r.Output(nil) {
//			s.Step(now, b)
//		}
//		events = r.Events(s.Events(events)) // bulk syncs, in sync, resyncs
//	}
//
// On every change of the table the caller also calls s.Upsert(now,
// t.Upsert(sess)), or t.Delete(k) and s.Delete(now, k). The Driver does this
// loop (ExampleDriver); it also
// switches direction on a role change (SetSending, SetReceiving), on the
// same transport and table, and hands the events to DriverConfig.OnEvent.
//
// Changes are records (upsert, delete) batched into datagrams of at most
// the configured MTU. Datagrams are numbered per stream; the receiver
// applies them in order, buffers what arrives beyond a gap, acknowledges
// cumulatively and asks for missing ranges; the sender keeps a bounded
// window of unacknowledged datagrams and resends from it, and probes when
// acknowledgements stop, so a lost tail is noticed. When it cannot continue
// the stream (the window overflowed, a gap cannot be filled because the
// receiver restarted, a datagram cannot be decoded, or the receiver asks)
// it starts a new stream with a full resync: loudly, with a counter
// (SenderStats.Resyncs), a Warn log and an EventResync; never a silent
// stall. Sender.Backlog (per peer: PeerStatus.Backlog) says how far
// behind the receiver is: the updates, datagrams and bytes it has not
// acknowledged, and the lag, how long ago the oldest of them went out.
//
// A stream starts with a bulk sync: the sender walks its table, paced by
// the window, while changes keep flowing in the same stream; progress is
// reported as sent/total (Sender.Progress, Receiver.Progress, events), and
// a bulk sync that runs past SenderConfig.BulkTimeout is reported. The
// receiver marks what it receives; at the end of the bulk sync it removes
// the entries the sender no longer has. Receiver.InSync (and EventInSync)
// says the receiver holds the sender's whole table: the bulk sync of the
// current stream completed and the sender was heard recently. The election
// uses it to decide whether a standby can take over with sessions intact.
//
// # Several peers
//
// A Driver syncs with every other unit of the cluster over one transport
// (DriverConfig.Peers; UDPTransport and EthernetTransport take several
// peers): its sending half runs one Sender per peer, so each peer
// acknowledges on its own, one that falls behind or joins gets its own
// resends or bulk sync while the others go on, and its receiving half runs
// one Receiver per peer. Datagrams name their cluster and their sending and
// receiving units (DriverConfig.Cluster, Unit), so the Driver routes each
// to the streams of the peer that sent it; another cluster's datagrams are
// dropped and counted (DriverStats.Foreign), as are those from a unit that
// is not a peer (DriverStats.Unknown). Active-passive, the unit that sends
// sends its whole table and a standby's replica is the table of whichever
// peer sends (after a takeover, the new primary's bulk sync replaces it);
// active-active (DriverConfig.ActiveActive), see below. Driver.Peers
// reports each peer's streams.
//
// # After a split brain
//
// While two units were primary, each followed the connections that
// reached it. The one that stands down hands its whole table to the
// winner first (Driver.HandBack; EventHandedBack once acknowledged); a
// Driver with DriverConfig.OnMerge, sending and not receiving (a primary),
// takes in the stream of any peer that sends to it all the same: the
// sessions it lacks become its own (stored, replicated, and given to
// OnMerge for the kernel), the ones it held are kept as they are, and the
// ones it took in stay that peer's to update while its stream lasts.
//
// # Commit at takeover
//
// Receiver.Commit (Driver.Commit) applies everything received, including
// datagrams waiting beyond a gap that can no longer be filled, and returns.
// The ordering contract: when the election makes this unit primary, the
// caller calls Commit first and brings the virtual addresses up (and
// announces them) only after Commit returns, so no packet of a known
// session reaches this unit before the session is in its table.
//
// # Wire format (version 5)
//
// Every datagram starts with a 40-byte header (big-endian):
//
//	offset size field
//	0      2    magic "hs"
//	2      1    version (5)
//	3      1    type: 1 data, 2 ack, 3 probe
//	4      1    flags: bit 0 authenticated
//	5      1    key ID
//	6      2    length of the whole datagram (Ethernet padding is ignored)
//	8      2    cluster ID
//	10     2    sending unit ID (0: unnamed, on a point-to-point link)
//	12     2    receiving unit ID (0: unnamed)
//	14     2    reserved, zero
//	16     8    epoch: the stream (data, probe) or the receiver's control stream (ack)
//	24     8    sequence number: data from 1; ack and probe have their own counter
//	32     8    nonce: the receiver's (ack), or its echo (data, probe; 0 for none)
//
// A data payload is a sequence of records, each starting with its
// operation byte (1 upsert, 2 delete, 3 bulk-begin, 4 bulk-end). Upsert and
// delete continue with the key:
//
//	fam(1) proto(1) zone(2) sport(2) dport(2) src(0|4|16) dst(0|4|16)
//
// where fam holds a 2-bit family per address (0 none, 1 IPv4, 2 IPv6):
// bits 0-1 source, 2-3 destination, 4-5 and 6-7 the reply tuple's (zero in
// a delete). An upsert then carries
//
//	state(1) status(4) expires(4) mark(4) version(8) packets(8) bytes(8)
//
// and, when a reply family is not zero, the NAT tuple:
//
//	rsport(2) rdport(2) rsrc(0|4|16) rdst(0|4|16)
//
// and, when the op byte has bit 7 set, the session's conntrack helper and
// TCP sequence adjustments:
//
//	hlen(1) helper(hlen) nadj(1) nadj × (pos(4) before(4) after(4))
//
// Bulk-begin is op(1) gen(1) total(8), bulk-end op(1) gen(1). An IPv4
// upsert without NAT is 54 bytes, so a 1500-byte datagram carries 27. An
// ack payload is
//
//	epoch(8) cum(8) flags(1) n(1) n × (first(8) last(8))
//
// the stream's epoch, the cumulative acknowledgement, flags (bit 0: a
// resync is needed) and up to 32 missing ranges; a probe payload is head(8),
// the highest sequence number sent. With keys (a hakit.Keyring, the one the heartbeats
// use), the datagram ends with the first 16 bytes of HMAC-SHA256 over
// everything before them, keyed with the primary key's statesync subkey
// (HKDF-SHA256 of its secret, info "hakit statesync v1") and naming the key
// in the key ID byte; receivers accept any key of their ring (so keys rotate
// without a restart), compare in constant time and drop datagrams without a
// valid tag. Replays are
// rejected by epoch (a stream's epoch only grows; by default it is the
// sender's start time in nanoseconds) and sequence number. A datagram of
// another version is dropped with an error wrapping ErrVersion and counted.
// A sender whose clock went backwards across a restart must be given an
// Epoch above its previous one (SenderConfig.Epoch), or receivers reject
// its stream as stale (counted, and the receiver falls out of sync: not
// silent).
//
// # Replays across restarts
//
// Epochs and sequence numbers stop replays only while the receiver
// remembers them. So that a datagram recorded before a receiver started
// is never applied, with keys each Receiver draws a random 64-bit nonce and
// puts it in the nonce field of its acknowledgements; the Sender puts the
// newest nonce it accepted in every data datagram and probe it seals; and
// a receiver follows a new stream (or its first) only from an authentic
// datagram that echoes its own nonce. Anything else of a stream it does
// not follow is dropped and counted (ReceiverStats.DropStaleNonce, error
// ErrStaleNonce): a recording made before the receiver started cannot
// echo a nonce that did not exist yet, so replaying one into a restarted
// standby changes nothing in its replica and never makes it report in
// sync, however old the recording (the tests replay one 72 hours old). The
// receiver then acknowledges at once (at most once per NackInterval) to
// tell the sender its nonce; a sender that hears a new nonce from a
// receiver that does not follow its current stream starts a new one
// echoing it (a resync, counted, unless it is the sender's first contact).
// First contact so costs one round trip and the restart of the sender's
// first bulk sync. The limits: once a stream is followed, its datagrams
// are checked by sequence number only (a replay of one is a duplicate of
// the live stream's own data); acknowledgements are not protected by the
// nonce (a replayed one is refused by the control epoch, which only
// grows, and at worst makes the sender restart its stream once per
// recorded receiver start); and without keys nothing is checked, since
// anything can be forged.
// On raw Ethernet the EtherType is 0xC14C (EtherType), next to the
// heartbeats' 0xC14B.
//
// # Bad input
//
// Malformed, truncated, forged, replayed, foreign-version and
// foreign-cluster datagrams, and those from or for another unit, are
// counted (SenderStats, ReceiverStats, DriverStats) and dropped. A data datagram is
// decoded whole before any record is applied, so a batch is never half
// applied. A data datagram of the current stream older than anything the
// sender can still resend is counted as a replay (ReceiverStats.DropReplay);
// one within the window it resends from is a Duplicate, as a replay of it
// cannot be told from a resend. What the socket dropped before the Driver
// read it (the kernel's drops on a full receive queue, other sources,
// Ethernet frames of another type) is in DriverStats.Transport.
//
// # Active-active
//
// Schedule assigns each session an owning unit by weighted rendezvous
// hashing, moving as few sessions as possible when units join or leave.
// Every unit holds the whole table: with DriverConfig.ActiveActive its
// Driver runs a Sender to every other unit for the sessions it owns
// (SenderConfig.Filter selects them for bulk syncs) and a Receiver from
// every other unit, each with an origin of its own, so that a peer's bulk
// sync replaces only that peer's sessions; InSync then means in sync with
// every peer.
package statesync
