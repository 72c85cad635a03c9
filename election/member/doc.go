// Package member is one cluster member: a heartbeat node, the election,
// session sync in both directions and the ordered takeover, composed once
// so that an appliance adds only its own steps and its OS glue.
//
// # The takeover order
//
// When the election makes the unit primary, its steps come up one at a
// time, in this order:
//
//  1. the sessions replicated from the old primary are committed (built
//     in, when session sync is configured): nothing answers for the
//     addresses before the sessions are known;
//  2. the user's steps, in the order given: typically the kernel's session
//     injection, then the virtual MACs and addresses (Addresses), then the
//     announcement (Announce: gratuitous ARP, or a cloud's route update);
//  3. replication of this unit's table to the peers starts (built in).
//
// On demotion they go down in reverse: replication stops, the
// announcements are withdrawn, the addresses released, …, and the unit
// mirrors the new primary's table again. A step whose Up fails must leave
// nothing half done; the steps before it go down in reverse (a rollback),
// the failure is reported and counted with the step's name and error, and
// the takeover is tried again after a pause that doubles up to a cap,
// while the unit is still primary. A demotion that arrives during a
// takeover reverses from wherever it is; a Down that fails is reported and
// the reversal goes on. After a split brain this unit won, every step that
// announces (a Reannouncer) announces again. After one it lost, its steps
// stay up (its kernel forwarding the connections that reached it) until
// it has handed its session table to the winner and the winner
// acknowledged it (Output.HandBack, Machine.HandedBack; the Driver does
// this with statesync's HandBack), or until MachineConfig.HandbackTimeout:
// the winner, primary all along, takes in the sessions it lacks
// (Sync.OnMerge), so the connections of both sides carry on. The winner's
// role never waits for it.
//
// A unit whose own loop stalled (a starved process, a paused VM) reads,
// when it resumes, its heartbeats' late timers before the heartbeats that
// waited in its sockets: the verdicts and peer losses reported then wait
// out the election's resume window, and are applied only if the
// heartbeats still show them, so that a standby does not take over from
// a primary that never stopped.
//
// # Machine and Driver
//
// Machine is the pure core: heartbeat reports, each peer's heartbeat
// payload, the local link and sync state, and the results of the steps go
// in, with their time; Tick returns the role, the payload for this unit's
// heartbeats and the one step to run next. It reads no clock and calls
// nothing:
//
//	m, err := member.NewMachine(now, &member.MachineConfig{Election: ec, Links: links, Steps: steps})
//	if err != nil {
//		return
//	}
//	m.Report(now, report)             // each heartbeat report
//	_ = m.Payload(now, peer, payload) // each accepted heartbeat's payload
//	m.Links(now, 1)                   // monitored interfaces up
//	m.Sync(now, true)                 // session table in sync
//	out := m.Tick(now)                // at m.Next() and after every input
//	// out.Payload and out.Role into the heartbeats (at once if out.Send)
//	for out.Run != nil {
//		err := out.Run.Run(ctx) // one step's Up, Down or Reannounce
//		_ = m.Done(now, *out.Run, err)
//		out = m.Tick(now)
//	}
//
// Driver runs a Machine with a heartbeat.Driver on the unit's Interfaces
// and one statesync.Driver for every sync peer, on one Clock: the primary
// sends its table to every peer, each acknowledging on its own (a joining
// one gets its bulk sync while the others go on); a secondary mirrors the
// primary's and commits it when it takes over, on the same transport and
// table. Its work
// happens in the parts' callbacks and in callbacks of its Clock; the
// steps run one after the other in a callback of their own, so a slow
// step holds up neither the heartbeats nor the election. On a simulated
// clock with push-style transports (heartbeat.PushConn,
// statesync.PushTransport) a whole cluster runs deterministically in one
// goroutine. Config.OnEvent gets every event (role changes with their
// reason, heartbeat verdicts, split brains, sync state, steps that
// failed or were rolled back, completed takeovers with their phases), in
// order, with no lock held; it may call any method of the Driver.
//
// # Another protocol's election
//
// Config.Roles replaces the heartbeats and the election with a
// RoleSource: another protocol decides the role, and the Driver runs the
// same takeover for it (the same steps in the same order, rollback and
// retries, session sync). NewVRRP is the one for a VRRP virtual router
// (package election/vrrp), so that a unit can pair with keepalived or
// share an address with a router: Master is Primary, Backup is Secondary,
// and Close sends VRRP's priority 0 before the steps go down, so that the
// Backup takes over after its Skew_Time. A Machine takes such a role
// through Assign (MachineConfig.Assigned).
//
// # A witness for partitions
//
// With Config.Witness (a lease on etcd or a Kubernetes Lease, package
// election/witness), the witness settles who may be primary when a unit
// hears no peer (every peer lost, in the heartbeats' verdict, or none
// heard yet), and only then: a unit cut off from every peer becomes
// or stays primary only while it holds the lease (a cut-off primary whose
// lease lapses stands down at once, with the witness's reason); a unit
// that hears a peer ignores the witness, so a healthy pair keeps its roles
// while the arbiter is down. The Driver contends for the lease while the
// unit is primary, and while it is cut off and the election would make it
// primary; it releases the lease when neither holds, and at Close. It
// reads the witness's status at every tick, and at the instant a held
// lease lapses. Status.Witness and EventWitness say what the unit does
// with the witness, in words ("kept standby: cut off from every peer, and
// the lease held by unit 1 (token 57)"), and so do the logs.
//
// Every step runs with the fencing token of this unit's latest tenure
// (Token); Announce puts it in every garp.Move. A new primary's steps
// after the session commit come up once it holds the lease, so its
// writes carry a token newer than every earlier primary's; a shared
// resource that refuses older tokens (a cloud API's conditional update)
// then refuses a stale primary's late write. While the arbiter is down, a
// handover between units that hear each other brings the steps up with
// the unit's last token.
//
// The rule is written for a pair. In a larger cluster, units that hear
// each other elect among themselves without the witness: when the primary
// is cut off from all of them, one of them becomes primary too, but its
// steps wait for the lease, which the cut-off primary keeps for as long as
// it reaches the arbiter.
//
// # Transparent (bridging) mode
//
// A transparent unit bridges two segments with a Linux bridge and has no
// address on the path. Its takeover step is Bridge: the bridge forwards
// only while the step is up and the step's LoopGuard, the pure core that
// reads the other units' loop probes (LoopProbe) heard on the ports, finds
// no other bridge forwarding between the segments, whatever the election
// says (in a split brain both units are primary); once forwarding, it
// makes the switches learn, through its own ports, every MAC known on the
// other side. Down blocks the bridge first. The rules and their limits are
// in LoopGuard's documentation and the README's "Cluster modes".
//
// A planned handover is Driver.Handover: the role moves to the best peer
// once it is ready, and Handover returns when that peer is primary and
// this unit's steps are down. Close stops the unit without one: the
// heartbeats stop (the peers take over when they notice), the steps go
// down in reverse, the transports are closed.
package member
