package statesync

import (
	"fmt"
	"time"
)

// A split brain leaves sessions on both sides: while two units were
// primary, each followed (and owned) the connections that reached it. When
// it heals, one of them stands down and mirrors the other's table from
// then on, so the sessions only it knew would be lost. Two halves of the
// Driver keep them:
//
//   - the unit that stands down hands its table to the winner first
//     (HandBack): a new stream to that peer, beginning with a bulk sync of
//     the whole table, and EventHandedBack once the peer acknowledged all
//     of it;
//   - a unit whose receiving half is off (a primary) takes in the stream of
//     any peer that sends to it all the same (DriverConfig.OnMerge): it
//     receives it into a table of its own, and stores every session it
//     does not hold yet as its own (Upsert: replicated to every peer), then
//     tells OnMerge which ones. A session it held before is left as it
//     is: its own state is the newer one (it runs the cluster), and a
//     deletion from the other unit changes nothing. A session it took in
//     from the peer stays the peer's to update while the peer's stream
//     lasts: its traffic went through the peer (that is why this unit did
//     not know it), and does until the peer stands down; a frozen unit
//     that resumes reads what its kernel did meanwhile in order, so its
//     first word on a session is often an old state.

// merger receives a peer's stream on a unit whose receiving half is off.
type merger struct {
	r     *Receiver
	t     *Table           // the peer's sessions, as received
	f     *Feed            // what changed in t since the last merge
	taken map[Key]struct{} // the sessions taken in from the peer
	ch    []Change
	added []Session
}

// mergeStep hands a datagram of l's peer to its merger, started on the
// first one, and merges what it applied. It runs with d.mu held.
func (d *Driver) mergeStep(now time.Time, l *peerLink, b []byte) error {
	if l.m == nil {
		c := d.receiverConfig(now, l)
		c.Table = NewTable(0)
		c.Table.SetLimit(d.cfg.Table.Limit())
		r, err := NewReceiver(now, c)
		if err != nil {
			return fmt.Errorf("statesync: merge: %w", err)
		}
		f, err := c.Table.Feed()
		if err != nil {
			return fmt.Errorf("statesync: merge: %w", err)
		}
		l.m, l.rEpoch = &merger{r: r, t: c.Table, f: f, taken: map[Key]struct{}{}}, c.Epoch
	}
	err := l.m.r.Step(now, b)
	d.mergeLocked(l)
	return err
}

// mergeLocked stores the sessions l's merger received that the table does
// not hold, replicates them, and queues them for OnMerge.
func (d *Driver) mergeLocked(l *peerLink) {
	m := l.m
	m.added = m.added[:0]
	for {
		m.ch = m.f.Next(m.ch[:0], 256)
		if len(m.ch) == 0 {
			break
		}
		for _, c := range m.ch {
			if c.Deleted {
				continue
			}
			k := c.Session.Key
			if _, ok := d.cfg.Table.Get(k); ok {
				if _, taken := m.taken[k]; !taken {
					continue // this unit's own state wins
				}
			}
			s := d.cfg.Table.Upsert(c.Session)
			d.replicateLocked(s)
			m.taken[s.Key] = struct{}{}
			m.added = append(m.added, s)
		}
	}
	if len(m.added) == 0 {
		return
	}
	d.stats.Merged += uint64(len(m.added))
	if d.cfg.Logger != nil {
		d.cfg.Logger.Info("statesync: sessions merged from a peer that was primary too", "peer", l.peer.Unit, "sessions", len(m.added))
	}
	if d.merges != nil {
		d.merges.Push(mergedSessions{peer: l.peer.Unit, sessions: append([]Session(nil), m.added...)})
	}
}

type mergedSessions struct {
	peer     uint16
	sessions []Session
}

// mergingLocked reports whether a data or probe datagram for l, which has
// no receiving half, goes to a merger.
func (d *Driver) mergingLocked(l *peerLink) bool {
	return d.cfg.OnMerge != nil && !d.cfg.ActiveActive && l.r == nil && d.sending
}

// tickMergersLocked does the mergers' time-driven work (acknowledgements).
func (d *Driver) tickMergersLocked(now time.Time) {
	for _, l := range d.links {
		if l.m != nil {
			l.m.r.Tick(now)
		}
	}
}

// dropMergersLocked forgets the mergers: the unit receives (it is a
// standby again) or no longer sends.
func (d *Driver) dropMergersLocked() {
	for _, l := range d.links {
		if l.m != nil {
			l.m.f.Close()
			l.m = nil
		}
	}
}

// HandBack hands this unit's whole table to peer unit (0: the only peer of
// a point-to-point link), a primary that won a split brain against this
// one: the stream to it starts again with a bulk sync of the table, and
// OnEvent gets EventHandedBack (Side SideSender, Peer unit) once the peer
// acknowledged all of it and every change since. The peer keeps what it
// lacks (DriverConfig.OnMerge). Call it before the sending half goes off;
// it returns an error if it is off, the peer unknown or the Driver closed.
func (d *Driver) HandBack(unit uint16) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return fmt.Errorf("statesync: hand back: %w", ErrClosed)
	case !d.sending:
		return fmt.Errorf("statesync: hand back to unit %d: not sending", unit)
	}
	l := d.link(unit)
	if l == nil && len(d.cfg.Peers) == 0 {
		l = d.links[0]
	}
	if l == nil {
		return fmt.Errorf("statesync: hand back to unit %d: not a peer", unit)
	}
	l.s.Resync(d.clk.Now())
	l.handback = true
	d.flushLocked()
	return nil
}

// handedBackLocked reports EventHandedBack once the peer of a hand-back
// acknowledged everything.
func (d *Driver) handedBackLocked(l *peerLink) {
	if !l.handback || l.s == nil || !l.s.Acked() {
		return
	}
	l.handback = false
	sent, total, _ := l.s.Progress()
	if d.calls != nil {
		d.calls.Push(Event{Kind: EventHandedBack, Side: SideSender, Peer: l.peer.Unit, Epoch: l.s.Epoch(), Sent: sent, Total: total})
	}
}
