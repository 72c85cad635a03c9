// Package witness is the contract between the election and an outside
// arbiter that settles who may be primary when the units of a cluster
// cannot hear each other: a lease that at most one unit holds at a time,
// renewed in the background, with a fencing token per tenure.
//
// Without a witness, a partition (the heartbeat links cut, both units
// alive) makes both units primary, and in a cloud both call the provider's
// API to move the address: the last write wins, whoever that is. With a
// witness, the units still detect failures on their own links in well under
// a second; the arbiter is consulted only when they cannot hear each other,
// and then only the unit holding the lease may act.
//
// A Witness reports; the election decides. Driver implements Witness on any
// Store; election/witness/etcd and election/witness/kube provide Stores on
// an etcd key and a Kubernetes Lease, and Memory one in memory for tests.
//
//	w, _ := etcd.New(client, "/hakit/cluster-7/lease", unit, nil)
//	defer w.Close()
//	w.Acquire(ctx)  // when primary, or when cut off (below)
//	s := w.Status() // on every election tick: s.Held, s.Token, s.Reason
//	w.Release(ctx)  // when no longer primary
//
// # What the election does with the status
//
// A unit is cut off when it hears no peer (for a pair: its peer is lost).
// In a cluster of more than two units read "cut off" as "some peer it has
// heard is lost": a unit that cannot hear every unit cannot rule out a
// primary beyond the cut. Held is read at each decision; Status computes it
// from the clock, so it is exact even between renewals.
//
//  1. A primary contends: it calls Acquire when it becomes primary and
//     holds the lease for as long as it stays primary, and it calls
//     Release when it stops (demotion, handover, shutdown), so that its
//     successor gets the lease at once rather than after the TTL.
//  2. A standby contends only when cut off: it calls Acquire when it
//     becomes cut off, and Release when it hears a primary again.
//  3. A cut-off unit becomes primary only while Held. A cut-off primary
//     stays primary only while Held: when Held turns false it stands down
//     at once, with Status.Reason as the reason.
//  4. A unit that hears its peers ignores the witness for its role: it
//     neither becomes nor stops being primary because of it, and the
//     witness is not part of its health or its place in the order. A
//     healthy pair keeps working when the arbiter is down; the status says
//     so ("witness unreachable: …") and should be logged with "peers
//     heard, keeping the role".
//  5. Every write to shared state (each Announcer call) carries
//     Status.Token. A new primary announces once Held, so its token is
//     newer than every earlier holder's. A primary whose tenure lapsed
//     while it hears its peers (the arbiter down) keeps refreshing its
//     announcements with the token of its last tenure.
//
// Fed to an election as one input per tick, that is
// Witness(now, Status().Held), which the election applies by rules 3 and 4.
//
// Why it is safe: the primary holds the lease before any partition, so a
// standby cut off from it finds the lease taken and stays standby ("lease
// held by unit 1 (token 57)"); exactly one side stays primary. If the
// primary is cut off from the arbiter as well, it stands down at Until,
// and the standby can take the lease only from Until plus the Margin on.
//
// # When Held turns false
//
// Held turns true when an acquisition returns the lease to this unit, and
// turns false at the first of:
//   - Release or Close;
//   - a renewal that the arbiter answers with "not yours" (the lease
//     expired there, was revoked, or is held by another);
//   - Until = the start of the last acquisition or renewal the arbiter
//     confirmed + TTL − Margin, when no later renewal was confirmed: the
//     arbiter was unreachable for longer than the lease allows.
//
// The arbiter keeps a lease for at least the TTL after the start of the
// last call that renewed it (etcd restarts lengthen it), so another unit
// can hold it only from Until + Margin on: the Margin is the time this
// unit has to stop acting. With the defaults (TTL 5 s, renewals every 1 s,
// Margin 1 s) a holder that loses the arbiter reports Reachable false
// within 2 s (its next renewal, which times out after 1 s) and keeps Held
// for 3 to 4 s in all. A tenure that ended is never resumed: the next
// acquisition gets a new, larger token.
//
// # Trade-offs
//
// A standby cannot tell a crashed primary from a partitioned one, so when
// the primary crashes its standby becomes primary only when the crashed
// unit's lease expires at the arbiter: up to the TTL after the crash
// (5 s by default), not in the sub-second time of a failover that the
// heartbeat layer alone can decide (a LAN pair, whose probes tell a dead
// peer from a cut link, needs no witness).
//
// With the arbiter down and the primary dead, nobody becomes primary
// until the arbiter is back: taking over without the lease is exactly what
// a partitioned standby must not do, and the two cases look the same from
// the standby. When the arbiter comes back, the dead primary's lease still
// runs its TTL (etcd extends every lease when it restarts), then the
// standby takes it.
//
// While the arbiter is down, a role change among units that hear each
// other (a planned handover) cannot get a new token: the new primary's
// fenced writes wait until it holds the lease again.
//
// # Fencing tokens
//
// A holder can be stale without knowing it: a process paused between
// checking Held and writing, a write delayed in the network. The token is
// what makes that harmless: every write carries the writer's token, and
// the shared state refuses a token lower than the highest it has seen (a
// conditional update, "only if the stored token is not larger than mine").
// Announcers should be idempotent: announcing again with the same token
// and the same target is a no-op that succeeds. See Example.
//
// # Writing a Store
//
// A Store for another arbiter (Consul, ZooKeeper, a database row) needs
// three calls with the guarantees listed at Store; the Driver does the
// timing, the background renewal and the status. Memory is a small one to
// read first.
package witness
