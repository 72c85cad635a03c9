// Package conntrack mirrors the Linux kernel's netfilter connection
// tracking table (conntrack) into a statesync.Table on the active unit, and
// writes a replicated table into the standby's kernel, so that a pair of
// Linux firewalls keeps its connections across a failover.
//
// On the active unit a Follower dumps the kernel's table (so that sessions
// older than the follower are included) and then follows the kernel's NEW,
// UPDATE and DESTROY events, upserting and deleting sessions through
// Config.Sink (a statesync.Driver, which replicates each change;
// ExampleDialFollower):
//
//	f, err := conntrack.DialFollower(table, &conntrack.Config{Sink: driver,
//		Rules: &conntrack.Rules{IgnoreAddrs: ownAddrs}})
//	if err != nil {
//		log.Fatal(err)
//	}
//	err = f.Run(ctx) // until ctx is done or the kernel's event stream breaks
//
// The dump is read as a stream and reconciled through the table's marks
// (statesync.Table.Mark), so its memory does not grow with the table.
// Follower.Resync dumps again (conntrackd -R). Rules selects sessions by
// protocol, address and TCP state, as conntrackd's Filter section.
//
// The kernel reports the destruction of an entry only if event reporting
// was attached to it at creation: set net.netfilter.nf_conntrack_events=1
// on the active unit (the default 2 attaches it only while some process
// listens, so entries older than the Follower would linger in the table
// until their deadline, when the refresh finds them gone).
//
// On the standby, an Injector writes the replicated table into the
// kernel, at the latest at commit, before the unit's addresses come up
// (ExampleInjector_Follow, ExampleDialInjector):
//
//	inj, _ := conntrack.DialInjector(nil)
//	go inj.Follow(ctx, table) // the replica goes into the kernel as it changes
//	// … the election makes this unit primary:
//	res := d.Commit()                // every record received is in the table
//	n, err := inj.Commit(now, table) // the last moments' changes; then the addresses
//
// Without Follow, Commit writes the whole table. Either way the requests
// go in batches, hundreds per system call with one acknowledgement each
// (the kernel reports failures on its own), and each creates the entry or,
// when the kernel has it, updates it.
//
// # Busy flows and deadlines
//
// A session's deadline (Session.Expires) is the kernel's timeout at its
// last event. The kernel pushes a flow's timeout forward with every packet
// without telling anyone, so a busy flow's replicated deadline falls
// behind: a UDP stream that has been busy for longer than its timeout (120
// s by default), or any TCP connection where the established timeout is
// tuned down, would look dead to the standby. Two things keep such flows:
//
//   - The Follower's refresh: every Config.Refresh (1 s) it looks up in the
//     kernel the sessions whose deadline is less than Config.RefreshAhead
//     (3 s) away, a batch of GET requests per system call, and upserts
//     those the kernel kept alive with their new deadline (the standby's
//     replica, and with Follow its kernel, follow). Those the kernel no
//     longer has are deleted: their DESTROY event was lost. So while the
//     active unit lives, a live flow's replicated deadline stays at least
//     RefreshAhead − Refresh (2 s) ahead. The lookups cost the active unit
//     one request for each busy flow once per timeout, and a few for each
//     idle flow in its last seconds; at most 16,384 per refresh, the rest
//     at the next one.
//   - The grace period at injection: the Injector writes every session
//     with its time left plus Config.Grace (30 s), and a session whose
//     deadline has passed with Grace alone (counted in
//     InjectorStats.Revived), as conntrackd does with its commit timeout.
//     It covers the moments between the last refresh and the first packet
//     through the new active unit (failover, commit, announcement).
//
// Limits: a session is never dropped at commit for its deadline (unless
// Grace < 0), so a flow that really ended but whose DESTROY event was lost
// in the active unit's last moments is written too, and ends Grace after
// its deadline. Any written entry that carries no traffic after the
// takeover ends up to Grace later than it would have on the old active
// unit; traffic resets an entry's timeout to the kernel's own at its first
// packet. A flow busy at a rate slower than its timeout is not busy: it
// ends as it would have.
//
// # A warm standby
//
// Injector.Follow writes the whole replica into the standby's kernel, then
// every change as the table's change feed (statesync.Table.Feed) reports
// it, batched, so that the takeover has only the last moments left to
// write, whatever the table's size: the addresses still come up after the
// sessions. It costs the standby the kernel's entries (the memory the
// active unit's kernel spends on the same flows) and one netlink request
// per change. The refresh keeps busy flows alive there too; the grace
// period keeps entries alive past the replicated deadline for as long as
// the takeover needs. If a batch cannot be written (the socket failed) or
// the kernel refuses a session, the next Commit writes the whole table.
// Entries the standby's kernel had that the replica does not hold are left
// to their own timeouts.
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
// Helpers (FTP, SIP, …) through NAT: a session carries the name of its
// conntrack helper and the TCP sequence adjustments a NAT helper made when
// it resized a payload (an FTP PORT command rewritten to the unit's
// address). The Injector attaches the helper when it creates the entry
// (CTA_HELP) and writes the adjustments (CTA_SEQ_ADJ_*), so that on the
// new active unit the control connection keeps its sequence numbers and
// its next commands get their data connections expected and translated
// (TestFailoverKeepsFTPThroughNAT). The kernel sends no event when a
// helper changes an entry's adjustments, so the Follower reads the entries
// with a helper at each Refresh: a takeover within a Refresh of a resized
// command misses that change. One more limit: the kernel's FTP helper
// recognises a command only at the start of a line it has seen, so on
// the new unit the first command after the takeover is not inspected
// (the next ones are). The standby needs the helper registered (a ct
// helper rule like the active unit's) and a NAT hook on prerouting.
//
// # Expectations
//
// A helper that reads a connection's payload announces the connections
// it expects: an FTP data connection (PORT, PASV, EPSV), the media of a
// SIP call (its SDP), with the NAT helper's translation when the master
// is translated. The kernel lets the first packet of such a connection
// through as related to its master (nftables ct state related), once. The
// Follower reads the kernel's expectations with its dump and follows
// their NEW and DESTROY events, and writes them as
// statesync.Expectation through Config.Sink when it is an ExpectSink (a
// statesync.Driver, an election/member Driver), which replicates them with
// the sessions; at Commit the Injector creates the table's expectations
// in the kernel after the sessions, each on its master (one the table
// holds no master for is skipped), checked by Guard.CheckExpect
// (InjectorStats.Expectations, ExpectSkipped, ExpectFailed). So a
// connection announced through the old active unit and opened after the
// takeover passes the new one (TestFailoverKeepsExpectations: FTP passive
// mode through NAT, SIP RTP and RTCP). Limits: the kernel gives an
// expectation created this way its helper's whole timeout (FTP 5 min, SIP
// 3 min) rather than the time it had left; a warm standby's Follow
// does not write expectations as they change, only Commit does (they are
// few, and short-lived); and what github.com/ti-mo/conntrack lacks for
// them is listed in expect_linux.go.
//
// ctnetlink lets user space set only some status bits when it creates an
// entry: the Injector sends IPS_SEEN_REPLY, IPS_ASSURED and
// IPS_FIXED_TIMEOUT and drops the others (the kernel sets IPS_CONFIRMED
// itself and refuses IPS_EXPECTED, IPS_CONFIRMED and IPS_DYING with
// EBUSY; it ignores the NAT bits). It does not export TCP window tracking
// (td_end, td_maxwin, the window scale), so an injected TCP entry is marked
// "be liberal" in both directions (IP_CT_TCP_FLAG_BE_LIBERAL): the kernel
// accepts the next segments of the connection whatever their sequence
// numbers, as conntrackd's injected entries do; everything else about the
// state (established, fin-wait, …) is kept. SCTP verification tags are not
// exported either, and are written as 0.
//
// NAT: the kernel translates an entry's packets only when the entry carries
// NAT bindings, which ctnetlink sets from CTA_NAT_SRC and CTA_NAT_DST
// attributes (github.com/ti-mo/conntrack cannot send them: see
// message_linux.go). The Injector creates a NAT session with the reversed
// original as the reply tuple, plus a source binding (to the reply's
// destination) and/or a destination binding (to the reply's source), from
// which the kernel derives the translated reply tuple and sets IPS_SRC_NAT
// or IPS_DST_NAT and both done bits, as when the unit that created it ran
// its NAT rules (InjectorStats.InjectedNAT counts them). The standby needs
// NAT hooks registered, that is a nat table like the active unit's, for
// the kernel to apply them. An existing entry's tuples and bindings cannot
// be changed: writing a session the kernel has updates only its timeout,
// state, mark and status (InjectorStats.Updated). ICMP sessions are mapped
// by address only.
//
// Linux only: on other systems DialFollower and DialInjector return an
// error wrapping errors.ErrUnsupported.
package conntrack
