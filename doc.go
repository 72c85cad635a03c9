// Package hakit is a library of high-availability clustering primitives for
// network appliances: firewalls, gateways, load balancers and VPN
// concentrators built in Go. Two or more units form a cluster; one carries the
// traffic (or, active-active, each carries its share); when a unit, an
// interface or a cable fails, another unit takes over in under a second and
// the sessions flowing through keep flowing.
//
// The work is done by small packages with one job each, which exchange plain
// values and can be used alone:
//
//   - [github.com/hakit/hakit/heartbeat]: heartbeat frames sent directly in
//     Ethernet (EtherType 0xC14B) or over unicast UDP, authenticated and
//     replay-protected; per-interface miss counting and Early Interface
//     Failure Detection, which tells a broken local interface from a broken
//     peer by probing known neighbours. It reports; it never decides.
//   - [github.com/hakit/hakit/election]: who is primary. A documented total
//     order over candidates, negotiation among N units, preemption with a
//     hold-down, link-failure handling, split-brain detection and resolution,
//     and planned hand-over.
//   - [github.com/hakit/hakit/vmac]: virtual MAC addresses derived from a
//     cluster identity (NetDefendOS, FortiGate, VRRP and a locally
//     administered scheme), collision detection, and on Linux the takeover
//     toolbox: move the virtual MAC and the virtual IP addresses onto
//     interfaces, with rollback.
//   - [github.com/hakit/hakit/garp]: telling the network that addresses
//     moved: gratuitous ARP, unsolicited neighbour advertisements, the
//     takeover burst and the periodic refresh, transparent-mode learning, and
//     an Announcer interface for clouds where there is no ARP.
//   - [github.com/hakit/hakit/statesync]: the session table and its
//     replication to the standby units (incremental, bulk, acknowledged and
//     resent, authenticated), commit at takeover, and session ownership for
//     active-active; statesync/conntrack mirrors Linux netfilter conntrack.
//
// They compose like this: heartbeat reports peer health per interface to the
// election, together with each peer's candidate data carried in the heartbeat
// payload; statesync tells the election whether this unit is in sync. When
// the election makes this unit primary, the caller commits the replicated
// sessions, applies the virtual MAC and addresses with vmac, and starts the
// garp announcer; when it demotes the unit, the caller does the reverse. The
// programs under examples/ show that wiring: examples/failover runs a whole
// cluster in simulation, examples/hanode is a daemon for real Linux
// interfaces.
//
// Every protocol core is a pure state machine that takes time as an argument;
// thin drivers own the goroutines, timers and sockets. Transports are small
// interfaces (net.PacketConn-shaped), so the same cores run on AF_PACKET
// sockets, UDP and the simulated Ethernet segment used by the tests.
//
// # The shared vocabulary
//
// This package holds what every other one speaks, as net/netip holds
// addresses:
//
//   - Role: a unit's role (Initial, Primary, Secondary), the one the election
//     decides and the heartbeats advertise.
//   - Clock: what every driver's Config.Clock is; RealClock is the wall
//     clock, and a simulated clock implements the same two methods.
//   - Key and Keyring: the shared secrets that authenticate heartbeats and
//     session sync, rotated at runtime with Keyring.Set. Each protocol
//     derives its own subkey from each secret.
//   - ErrConfig: wrapped by every configuration error. Operations a
//     platform lacks return errors wrapping errors.ErrUnsupported, and I/O
//     errors of hakit's own connections are *net.OpError.
//
// Identifiers have one width everywhere: a cluster ID is a uint16 (0 to
// 65535; a scheme that holds fewer, such as vmac.NetDefendMAC's 0 to 63,
// refuses the rest), and a unit ID is a uint16 from 1 to 65535 (0 is
// invalid in every package). A nil *Config means the defaults in every
// package, and each has a DefaultConfig whose comments give the reason for
// each default.
package hakit
