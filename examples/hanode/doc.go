// Hanode is a high-availability daemon for Linux: one cluster member
// (package election/member: heartbeats with Early Interface Failure
// Detection, the election, session sync both ways and the ordered
// takeover) on real interfaces, with the system glue around it: the
// virtual MAC and addresses (package vmac), their announcement (package
// garp), the kernel's conntrack table (package statesync/conntrack), the
// status server.
//
// Usage (as root, or with CAP_NET_ADMIN and CAP_NET_RAW):
//
//	hanode -cluster-id 7 -unit-id 1 -priority 200 \
//		-iface eth0 -iface eth1 -iface eth2 \
//		-vip eth0=198.18.1.1/24 -vip eth0=2001:db8:1::1/64 -vip eth1=198.18.2.1/24 \
//		-vmac interface -sync-peer 198.18.3.2:7946 -conntrack \
//		-key-file /etc/hanode/key -status 127.0.0.1:9100
//
// # Flags (stable: other programs, such as examples/failbench, use them)
//
//	-cluster-id N      cluster ID, unique on the network (0-65535); it sets the
//	                   heartbeat MACs and the virtual MACs
//	-unit-id N         this unit's ID, unique in the cluster (1-65535)
//	-priority N        election priority, 0-255, higher wins (default 128)
//	-iface IFACE       critical interface (repeatable, at least one): heartbeats
//	                   are sent on it (raw Ethernet, EtherType 0xC14B), EIFD
//	                   probes its neighbours, and its link is monitored
//	-vip IFACE=A/PLEN  virtual address held by the primary (repeatable; IPv4
//	                   or IPv6); an interface carrying one is monitored too
//	-vmac MODE         off: only the addresses move (announced with the
//	                   interface's own MAC); interface (default): the virtual
//	                   MAC vmac.LocalMAC(cluster, n) is put on the n-th address
//	                   interface itself; macvlan: on a macvlan child hk<cluster>v<n>
//	-sync-iface IFACE  replicate sessions over raw Ethernet (EtherType 0xC14C)
//	-sync-peer-mac MAC   … to the peer with this MAC; three units or more:
//	                   UNIT@MAC,UNIT@MAC,… (each peer's unit ID and MAC)
//	-sync-peer IP:PORT replicate sessions over UDP to this peer; three units
//	                   or more: UNIT@IP:PORT,UNIT@IP:PORT,…
//	-sync-listen IP:PORT local UDP address (default: any, the first peer's port)
//	-conntrack         replicate the kernel's conntrack table (needs a sync
//	                   transport, and net.netfilter.nf_conntrack_events=1)
//	-conntrack-warm    a standby writes the replica into its kernel as it
//	                   changes, so a takeover writes only the last moments
//	                   (default true; false: all of it at the takeover)
//	-interval D        heartbeat interval (default 100ms)
//	-misses N          missed heartbeats before EIFD (default 2)
//	-probe-window D    EIFD probe window (default 600ms)
//	-mode M            heartbeat verdicts: early (default) or strict (the
//	                   Clavister schedule: 0.2 s + 0.6 s)
//	-preempt           a better unit takes the role from a healthy primary
//	-key-file FILE     shared key (at least 16 bytes, surrounding white space
//	                   ignored) authenticating heartbeats and sync datagrams
//	-status ADDR       serve the status as JSON over HTTP (GET any path): role,
//	                   peers and their per-interface state, monitored links,
//	                   sync progress, counters, recent role changes
//	-state-dir DIR     where -vmac interface records each interface's own MAC
//	                   before the takeover, to restore it after a crash
//	                   (default /run/hanode)
//	-log-level L       debug, info (default), warn or error; logs go to stderr
//
// # Lifecycle
//
// A configuration error (a bad flag, a missing interface, a short key)
// exits with status 2 and a message starting "hanode: invalid
// configuration", before anything on the system has changed. At start the
// unit is a standby: it puts back an interface's own MAC and removes the
// virtual addresses and macvlan children a crashed run may have left, then
// starts the member (heartbeats, the election, the sync receiver); a start that fails
// part way undoes what it did and exits with status 1.
//
// The unit is a member.Driver. Its heartbeat interfaces are the -iface
// interfaces; a LocalFault demotes the unit only on an interface that
// carries virtual addresses: on a link only the cluster uses (a dedicated
// heartbeat or sync link) the peer is the only neighbour, a cut looks the
// same from both units, and moving the role would not mend it; such a
// fault shows in the status and the logs, and the link's carrier still
// counts. EIFD probes the kernel's neighbours of the interface, those it
// listed in the last five minutes, and up to four hosts of the replicated
// sessions on the interface's subnets (a standby forwards nothing, so its
// kernel's cache is often empty). The monitored links are the -iface and
// -vip interfaces, their carrier read from the kernel.
//
// The takeover steps, in member's order: the replicated sessions are
// committed (built in), injected into the kernel's conntrack table
// (-conntrack), the interfaces' own MACs recorded (-vmac interface), the
// virtual MAC and addresses put up (member.Addresses: vmac.Apply), announced
// (member.Announce: gratuitous ARP, unsolicited NA, refreshed), the
// kernel's table followed (-conntrack), and replication to every peer
// started (built in: each peer acknowledges on its own, and one that joins
// gets its own bulk sync while the others go on). On demotion the same in
// reverse, the last step mirroring the new primary, and a warm standby
// following the replica into the kernel again. One sync transport and
// session table serve both directions and every peer. When the conntrack follower stops (the kernel dropped
// events because the reader fell behind, ENOBUFS, or its socket broke), a
// new one is dialled after a pause (conntrack.Keeper: 50 ms, doubling to
// 5 s) and its dump repairs the table; each restart is logged and counted
// (conntrack_follower_restarts in the status), so replication never
// stalls silently. A step that fails is rolled back and retried (counted
// as takeover_failures).
//
// SIGTERM (or SIGINT): a primary that hears a peer hands the role over
// (member.Driver.Handover) and waits, up to 2 s plus ten intervals, until
// the peer is primary; then the daemon releases everything and exits 0,
// leaving no address, MAC or macvlan.
//
// Send heartbeats on every interface (the Clavister and NetDefendOS way) where you can: a
// dedicated heartbeat link has the peer as its only neighbour, so a dead
// peer there waits out the 0.8 s window. Cutting every heartbeat path is a
// split brain: each side loses the other and both go active; when they hear
// each other again the election settles it (the unit that went active
// during the partition stands down and the winner announces again).
// Cutting only the sync link, with heartbeats on the other interfaces,
// changes no role.
//
// In -vmac interface mode the unit records each interface's own MAC in
// -state-dir (default /run/hanode) before it takes the virtual MAC
// (vmac.Record); a restart after a crash that left the virtual MAC on an
// interface puts the recorded MAC back (vmac.Restore: a random locally
// administered one if there is no record), so that the standby does not
// answer with the primary's MAC.
//
// # Tested end to end
//
// e2e_linux_test.go (root; go test ./examples/hanode) builds the daemon and
// runs two units as a stateful nftables firewall pair (policy drop,
// nf_conntrack_tcp_loose=0) between a client and a server bridge, with
// heartbeats on all three interfaces, UDP conntrack replication on a third
// bridge, -vmac interface, and a TCP stream echoing a message every 2 ms.
// In every case the stream continues without a reset and exactly one unit
// forwards afterwards. Cases: power loss of the primary, its daemon
// crashing and restarting, its client link down, every heartbeat path cut
// and healed (with a dedicated heartbeat link and with heartbeats
// everywhere), the sync link alone cut, SIGTERM, a clean start and stop,
// and IPv6 gateways with -key-file and a stream over IPv6. bench_linux_test.go's BenchmarkFailover repeats the power loss and
// reports the gaps a TCP and a UDP stream saw; the figures are in the
// repository's README.
package main
