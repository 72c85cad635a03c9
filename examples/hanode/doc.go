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
//	-cluster-name S    the cluster's name, the same on each of its units: with
//	                   the key it makes the cluster tag of every heartbeat,
//	                   so a second cluster given the same -cluster-id (a
//	                   copied configuration) is told apart, reported at
//	                   error level and in the status ("collisions") and
//	                   /metrics (hakit_cluster_id_collisions_total), and
//	                   never mixed into the election (see heartbeat,
//	                   Cluster identity)
//	-unit-id N         this unit's ID, unique in the cluster (1-65535)
//	-priority N        election priority, 0-255, higher wins (default 128)
//	-iface IFACE       critical interface (repeatable, at least one): heartbeats
//	                   are sent on it (raw Ethernet, EtherType 0xC14B), EIFD
//	                   probes its neighbours, and its link is monitored;
//	                   every unit gives its -iface flags in the same order,
//	                   one per segment (a heartbeat that arrives on another
//	                   link than it was sent for is dropped as relayed)
//	-vip IFACE=A/PLEN  virtual address held by the primary (repeatable; IPv4
//	                   or IPv6); an interface carrying one is monitored too
//	-vmac MODE         off: only the addresses move (announced with the
//	                   interface's own MAC); interface (default): the virtual
//	                   MAC vmac.LocalMAC(cluster, n) (its bytes 1 and 2 from
//	                   a hash of -cluster-name if given) is put on the n-th address
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
//	-key-file FILE     shared key (at least 16 bytes, not all zeros,
//	                   surrounding white space ignored) authenticating
//	                   heartbeats and sync datagrams; the file must not be
//	                   readable by group or others (chmod 600). It holds one
//	                   secret (key ID 1), or lines "key ID SECRET", the
//	                   first sealing, all verifying; SIGHUP rereads it, so
//	                   keys rotate without a restart: on every unit in turn,
//	                   add the new key second, SIGHUP; then put it first,
//	                   SIGHUP; then drop the old one, SIGHUP. Required:
//	-insecure-no-auth  runs without a key instead, open to anyone on the
//	                   segments (forged heartbeats force failovers, forged
//	                   sync injects sessions), with a warning at every start
//	                   and in the status
//	-status ADDR       serve the status as JSON over HTTP (GET / or /status):
//	                   role, peers and their per-interface state, monitored
//	                   links, sync progress, counters, recent role changes;
//	                   beside it /metrics (Prometheus, package
//	                   election/member/metrics) and /events (every notable
//	                   event as a line of JSON, as long as the client stays
//	                   connected; package election/member/notify).
//	                   A non-loopback ADDR needs -status-token-file FILE (a
//	                   token, mode 0600, asked as "Authorization: Bearer
//	                   TOKEN") or -status-insecure-remote
//	-max-sessions N    the most replicated sessions held (default 1048576;
//	                   beyond it new ones are dropped and counted, and the
//	                   standby reports itself out of sync); -1: no limit
//	-conntrack-keep-marks  inject the replicated sessions' marks too (by
//	                   default cleared). The standby never injects a session
//	                   to or from its own addresses, and caps timeouts at
//	                   the kernel's 5 days
//	-notify CMD        run the shell command CMD (/bin/sh -c) on every role
//	                   change, heartbeat verdict, split brain, sync change,
//	                   failed step and completed takeover, one at a time, with
//	                   the event in HAKIT_* environment variables (HAKIT_EVENT,
//	                   HAKIT_TO, HAKIT_REASON, …); it never delays a takeover,
//	                   and a failing or slow one is logged and counted
//	                   (hakit_notify_* in /metrics)
//	-notify-timeout D  kill a -notify command and its children after D
//	                   (default 10s)
//	-state-dir DIR     where -vmac interface records each interface's own MAC
//	                   before the takeover, to restore it after a crash
//	                   (default /run/hanode)
//	-epoch-file FILE   counts this unit's starts, so that its peers hear a
//	                   restart even with a clock that went back (default
//	                   /var/lib/hanode/c<cluster>-u<unit>.epoch; it must
//	                   survive a reboot)
//	-vip-lifetime D    give the virtual addresses this lifetime in the kernel
//	                   (whole seconds, at least 3s), refreshed every third of
//	                   it while primary: a daemon killed holding them stops
//	                   answering for them by itself (default 0: none)
//	-log-level L       debug, info (default), warn or error; logs go to stderr
//	-preempt-delay D   with -preempt, how long a better unit waits (default 10s)
//	-hold-down D       the least time a primary keeps the role before it is
//	                   preempted (default 1m)
//	-config FILE       read the settings from a TOML file whose keys are the
//	                   flags' names, and its [[check]] health checks; flags on
//	                   the command line override it
//	-check-config FILE validate FILE with the other flags, print the effective
//	                   configuration, exit (0, or 2 if invalid)
//	-bridge BR=P0,P1   transparent mode (repeatable): the unit bridges two
//	                   segments with the Linux bridge BR and its ports P0 and
//	                   P1 (create them with both ports isolated, `bridge link
//	                   set dev P isolated on`, so that nothing forwards before
//	                   hanode runs); only the primary's bridge forwards, the
//	                   others' ports stay isolated; the ports' links are
//	                   monitored; every unit names the same segment's port
//	                   first; no -vip is needed (the cluster has no address
//	                   on the path): give the heartbeats an -iface of their own
//	-bridge-probe-interval D  the loop probes' interval (default 10ms): a
//	                   takeover waits two of them, a bridge unheard for five
//	                   counts as gone
//
// The file, the health checks (script, file, process, link, a gateway
// answering ARP/NDP; with a weight off the priority, or a fault), SIGHUP
// (applies the keys, priority, checks, notify hook and log level; refuses
// any other change, or a file that does not read, as a whole and keeps
// running) and a table of keepalived's options are in README.md.
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
// SIGTERM (or SIGINT, SIGQUIT; SIGHUP reloads, see below): a primary that hears a peer hands
// the role over (member.Driver.Handover) and waits, up to 2 s plus ten
// intervals, until the peer is primary; then the daemon releases
// everything and exits 0, leaving no address, MAC or macvlan. SIGPIPE is
// ignored: a log reader that goes away costs the log, not the unit. A
// panic or another fatal error of the Go runtime (SIGABRT gives a
// goroutine dump this way) ends the daemon at once; its watchdog, a
// second hanode process started with it that reads the runtime's crash
// report, then releases what the daemon held (as a restart would) and
// logs it. SIGKILL leaves them, like a power loss: the restart clears
// them, and with -vip-lifetime the kernel removes the addresses (not the
// virtual MAC) once their lifetime runs out.
//
// Each start takes its heartbeat and sync epochs from the counter in
// -epoch-file (member.BootEpoch): a unit whose clock came back behind is
// still heard by its peer at once. With a key, each start also draws a
// random nonce that its peer must echo (see the heartbeat and statesync
// package documentation, Replays across restarts): frames recorded before
// a unit started and replayed into it are never taken, and are counted in
// the status (counters.heartbeat.Dropped.StaleNonce,
// counters.receiver.DropStaleNonce).
//
// A unit whose own loop stalled (the process stopped or starved for more
// than misses + 1 intervals, or half the detection time) treats itself as
// having lost contact: if its peer took over meanwhile, the split brain
// is settled for the peer (election.RuleRunning), whatever the
// priorities. Its heartbeat verdicts right after the stall wait until the
// heartbeats that queued meanwhile are read, so a standby starved for a
// moment does not take over from a live primary.
//
// Send heartbeats on every interface (the Clavister and NetDefendOS way) where you can: a
// dedicated heartbeat link has the peer as its only neighbour, so a dead
// peer there waits out the 0.8 s window. Cutting every heartbeat path is a
// split brain: each side loses the other and both go active; when they hear
// each other again the election settles it (the unit that went active
// during the partition stands down and the winner announces again).
// Before the loser's addresses go down it hands its conntrack sessions to
// the winner, which injects the ones it lacked: connections opened through
// either side during the partition, or through a frozen unit's kernel,
// carry on (member.Sync.OnMerge).
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
// # Transparent mode (-bridge)
//
// With -bridge the unit is a transparent (bridging) firewall: the hosts on
// both segments are in one subnet and never see the cluster's addresses.
// The takeover step "bridge" (member.Bridge) lets the bridge forward
// (ports not isolated, learning on) only while the unit is primary and its
// loop guard (member.LoopGuard) finds no other bridge forwarding between
// the segments; then the switch on each side learns, through the new
// primary's ports, every MAC known on the other side (garp's learning
// frames, for the MACs the old primary's probes listed and those its own
// bridge learnt). The probes are sealed with the -key-file keys. Down isolates the ports before anything else, so that
// in a handover the old primary stops before the new one starts. The
// status shows each bridge (forwarding, why a primary's is held, the
// probes' counters). A stateful firewall keeps its sessions as in routed
// mode (-conntrack): with bridge-family conntrack (nf_conntrack_bridge)
// or with br_netfilter (net.bridge.bridge-nf-call-iptables, or the bridge's
// nf_call_iptables option) and an inet-family ruleset.
//
//	ip link add br0 type bridge
//	ip link set eth0 master br0; ip link set eth1 master br0
//	bridge link set dev eth0 isolated on; bridge link set dev eth1 isolated on
//	ip link set br0 up
//	hanode -cluster-id 7 -unit-id 1 -priority 200 -iface eth2 \
//		-bridge br0=eth0,eth1 -sync-peer 198.18.3.2:7946 -conntrack \
//		-key-file /etc/hanode/key -status 127.0.0.1:9100
//
// # VRRP mode (-protocol vrrp)
//
// With -protocol vrrp the role comes from a VRRPv3 virtual router (RFC
// 9568, package election/vrrp) on the one -iface instead of hakit's
// heartbeats and election, so that a hanode unit can stand in for one
// keepalived unit of an existing pair, or share an address with a router;
// the takeover is the same (member.NewVRRP: Master runs the steps above,
// Backup takes them down). One virtual router has one address family: run
// one hanode per family.
//
//	hanode -protocol vrrp -vrrp-vrid 51 -priority 150 -unit-id 1 \
//		-iface eth0 -vip eth0=198.18.0.100/24 -vmac off
//
//	-protocol P              hakit (default) or vrrp
//	-vrrp-vrid N             virtual_router_id, 1-255 (required)
//	-priority N              the VRRP priority, 1-255 (255: address owner)
//	-vrrp-advert-interval D  advert_int (default 1s; 10ms-40.95s, steps of 10ms)
//	-vrrp-unicast-peer IP    unicast_peer (repeatable); no group joined
//	-vrrp-unicast-src IP     unicast_src_ip (default: the interface's first
//	                         IPv4 address, or its IPv6 link-local one)
//	-vrrp-checksum F         IPv4 checksum sent: pseudo-header (default:
//	                         keepalived, FRR) or message-only (RFC 9568:
//	                         Cisco, Juniper, keepalived 2.2.8+ with
//	                         v3_checksum_as_v2); both are accepted
//	-vrrp-nopreempt          nopreempt
//	-vrrp-link-local ADDR    IPv6: the virtual link-local address, advertised
//	                         first (RFC 9568 section 5.2.9); it is not put on
//	                         the interface
//	-vrrp-min-unicast-ttl N  lowest TTL or hop limit accepted on unicast
//	                         adverts (keepalived's IPv6 unicast: 64, unless
//	                         its unicast_ttl is 255)
//	-vrrp-accept             accept mode, reported in the status
//
// -vmac interface or macvlan puts VRRP's virtual MAC on the interface,
// 00-00-5E-00-01-{VRID} (00-00-5E-00-02-{VRID} for IPv6), as keepalived's
// use_vmac does; -vmac off announces the addresses with the interface's
// own MAC, as keepalived does by default. List the same addresses, in the
// same order, as the peer: keepalived refuses advertisements whose list
// differs from its own. -interval, -misses, -probe-window, -mode and
// -preempt are hakit's and refused with -protocol vrrp. On SIGTERM a
// Master sends priority 0 (the Backup takes over after its Skew_Time),
// releases everything and exits 0. The status has a "vrrp" section: the
// state, the Master followed, every peer with its priority, interval and
// checksum form, and the counters.
//
// What a VRRP peer that is not hakit (keepalived, a router) gets from a
// hanode unit: the VRRP election as RFC 9568 has it (priorities,
// preemption or nopreempt, priority 0 on a clean stop, Master_Down_Interval
// on a crash, the higher primary address on a tie), both checksum forms,
// unicast peers, and on takeover the addresses, the virtual MAC if asked,
// gratuitous ARP or unsolicited neighbour advertisements, refreshed while
// Master. What it does not get: the sessions (hakit's session sync speaks
// only to hakit peers; a keepalived peer's conntrackd is not understood,
// so connections are lost when the role crosses between hanode and
// keepalived); Early Interface Failure Detection (a dead Master is noticed
// after Master_Down_Interval, 3 advert intervals and the skew, as between
// two keepalived units); authentication (VRRPv3 has none: anything on the
// link can send advertisements); hakit's preemption delay and hold-down
// (VRRP preempts as soon as the better router's timer runs out); planned
// handover (SIGTERM resigns with priority 0 instead); and interface or
// script tracking (keepalived's track_interface, FAULT state): a link
// going down does not lower the priority. Between two hanode units that
// both run -protocol vrrp, -sync-peer replicates the sessions as in hakit
// mode: the Master sends its table, the Backup holds it and commits it
// when it becomes Master; the role still follows VRRP alone, whether or
// not the Backup's table is in sync.
//
// # Active-active mode (-cluster-mode active-active)
//
// With -cluster-mode active-active (TOML: cluster-mode =
// "active-active"; -buckets, 64 by default, the same on every unit) every
// unit carries traffic: each holds the -vip addresses (IPv4) all the time,
// answers ARP for them with the cluster's multicast MAC of the interface
// (package statesync/clusterip), and its kernel keeps the connections of
// the buckets the share gives it (election/member's ActiveActive, from the
// units its heartbeats hear). -conntrack and -sync-peer (or -sync-iface,
// naming every other unit) are required: each unit replicates the
// sessions it owns to all the others and writes theirs into its kernel as
// they arrive, so that when a unit fails the survivors take over its
// buckets with their connections and nothing else moves. The units need
// net.netfilter.nf_conntrack_tcp_loose=0 (the daemon refuses to start
// otherwise: a unit that picks up the middle of a connection would take
// it for a new one the wrong way round). Health checks, -protocol vrrp and
// IPv6 addresses are refused in this mode; the status server serves the
// share (units, this unit's buckets, the sync peers) as JSON. SIGTERM
// stops the unit; the peers take its buckets when they notice.
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
// and IPv6 gateways with -key-file and a stream over IPv6.
// faults_linux_test.go adds the primary's daemon frozen and resumed, and
// the daemon ending by SIGQUIT, a closed log reader, SIGPIPE, fatal runtime
// errors and SIGKILL with -vip-lifetime. bench_linux_test.go's BenchmarkFailover repeats the power loss and
// reports the gaps a TCP and a UDP stream saw; the figures are in the
// repository's README. activeactive_linux_test.go runs the active-active
// mode: two units, then three, 100 TCP streams from four clients, the
// share of each unit, and the power loss of one.
package main
