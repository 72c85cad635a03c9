// Package conntrack mirrors the Linux kernel's netfilter connection
// tracking table (conntrack) into a statesync.Table on the active unit, and
// injects a replicated table into the standby's kernel, so that a pair of
// Linux firewalls keeps its TCP connections across a failover.
//
// On the active unit a Follower dumps the kernel's table once (so that
// sessions older than the follower are included) and then follows the
// kernel's NEW, UPDATE and DESTROY events, upserting and deleting sessions
// in the table and reporting every change through Config.OnChange, or
// writing it to Config.Sink, a statesync.Driver over the same table that
// replicates each change (ExampleDialFollower):
//
//	f, err := conntrack.DialFollower(table, &conntrack.Config{Sink: sync})
//	if err != nil {
//		log.Fatal(err)
//	}
//	err = f.Run(ctx) // until ctx is done or the kernel's event stream breaks
//
// The kernel reports the destruction of an entry only if event reporting
// was attached to it at creation: set net.netfilter.nf_conntrack_events=1
// on the active unit (the default 2 attaches it only while some process
// listens, so entries older than the Follower would linger in the table
// until the next Follower's dump removes them).
//
// On the standby, the replicated table (a statesync.Receiver's) is injected
// into the kernel at the latest at commit, before the unit's addresses come
// up (ExampleDialInjector):
//
//	res := sync.Commit()                    // everything received is in the table
//	n, err := inj.Commit(time.Now(), table) // creates, or updates, every session
//
// # What crosses, and what the kernel refuses
//
// A session carries the zone, the protocol, the original tuple, the reply
// tuple when it differs from the reversed original (a NAT mapping), the
// protocol state (TCP, SCTP, DCCP), the status bits, the timeout as an
// absolute deadline, the connection mark and the counters (both directions
// added; present when net.netfilter.nf_conntrack_acct=1). TCP, UDP,
// UDP-Lite, SCTP and DCCP sessions keep their ports in the key. ICMP and
// ICMPv6 sessions have no ports: the key's source port holds the ICMP
// identifier and the destination port the type and code (type<<8 | code).
// Flows of other protocols (GRE, …), templates and untracked or dying
// entries are counted and skipped.
//
// ctnetlink lets user space set only some status bits when it creates an
// entry: Inject sends IPS_SEEN_REPLY, IPS_ASSURED and IPS_FIXED_TIMEOUT and
// drops the others (the kernel sets IPS_CONFIRMED itself and refuses
// IPS_EXPECTED, IPS_CONFIRMED and IPS_DYING with EBUSY; it ignores the NAT
// bits). It does not export TCP window tracking (td_end, td_maxwin, the
// window scale), so an injected TCP entry is marked "be liberal" in both
// directions (IP_CT_TCP_FLAG_BE_LIBERAL): the kernel accepts the next
// segments of the connection whatever their sequence numbers, as
// conntrackd's injected entries do; everything else about the state
// (established, fin-wait, …) is kept.
//
// NAT: the kernel translates an entry's packets only when the entry carries
// NAT bindings, which ctnetlink sets from CTA_NAT_SRC and CTA_NAT_DST
// attributes that github.com/ti-mo/conntrack does not send. Inject
// therefore creates NAT sessions with its own ctnetlink message: the
// reversed original as the reply tuple, plus a source binding (to the
// reply's destination) and/or a destination binding (to the reply's
// source), from which the kernel derives the translated reply tuple and
// sets IPS_SRC_NAT or IPS_DST_NAT and both done bits, as when the unit that
// created it ran its NAT rules (Stats.InjectedNAT counts them). The
// standby needs NAT hooks registered, that is a nat table like the active
// unit's, for the kernel to apply them. An existing entry's tuples and
// bindings cannot be changed: Inject updates only its timeout, state,
// mark and status. ICMP sessions are mapped by address only.
//
// Linux only: on other systems DialFollower and DialInjector return an
// error wrapping errors.ErrUnsupported.
package conntrack
