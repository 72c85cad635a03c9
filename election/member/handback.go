package member

import (
	"fmt"
	"strings"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/statesync"
)

// DefaultHandbackTimeout is how long a unit that lost a split brain waits
// at most for the winner to acknowledge its sessions before its steps go
// down all the same: a winner that does not answer (its sync link cut, a
// version that does not merge) keeps the loser's addresses up no longer
// than this; a table of a million sessions crosses a gigabit link well
// within it.
const DefaultHandbackTimeout = 2 * time.Second

// handback is the hand-back of a unit that lost a split brain: while two
// units were primary, each followed the connections that reached it, and
// the loser's would be lost when it mirrors the winner's table. So before
// its steps go down (its kernel still forwarding, its table still fed),
// it hands its table to the winner, and its steps go down once the winner
// acknowledged it, or at the bound. The winner takes in what it lacks
// while primary (statesync.DriverConfig.OnMerge); its own role never waits
// for this.
type handback struct {
	to     uint16 // the winner
	since  time.Time
	until  time.Time
	handed bool // given out in an Output
}

// handbackOnChange starts a hand-back when this unit stands down after a
// split brain with every step up (its table is replicated: session sync is
// configured and replication runs), and forgets one when the unit becomes
// primary again.
func (m *Machine) handbackOnChange(now time.Time, from, to hakit.Role, reason string) {
	m.hb = nil
	if from != hakit.Primary || to == hakit.Primary || m.stopped || m.cfg.Sessions == nil || m.cfg.Replication == nil ||
		m.up != len(m.plan) || !strings.HasPrefix(reason, "split brain") {
		return
	}
	c := m.el.Candidate(now)
	if !c.Yield || c.Peer == 0 {
		return
	}
	m.hb = &handback{to: c.Peer, since: now, until: now.Add(m.cfg.HandbackTimeout)}
}

// handbackOut returns the unit to hand the sessions to, once, for the
// Output; it ends a hand-back whose bound has passed.
func (m *Machine) handbackOut(now time.Time) uint16 {
	hb := m.hb
	if hb == nil {
		return 0
	}
	if !now.Before(hb.until) {
		m.hb = nil
		m.counters.HandbackTimeouts++
		m.event(now, Event{Kind: EventHandedBack, Peer: hb.to, Err: fmt.Errorf("member: unit %d did not acknowledge this unit's sessions within %v", hb.to, m.cfg.HandbackTimeout),
			Reason: "the steps go down all the same"})
		return 0
	}
	if hb.handed {
		return 0
	}
	hb.handed = true
	return hb.to
}

// handingBack reports whether the steps wait for a hand-back at now.
func (m *Machine) handingBack(now time.Time) bool {
	return m.hb != nil && !m.stopped && !m.wantPrimary() && now.Before(m.hb.until)
}

// HandedBack records at now that peer (0: any) acknowledged the sessions
// handed to it after a split brain this unit lost (Output.HandBack), or,
// with err, that they could not be handed: the steps go down now. It
// changes nothing when no hand-back waits for peer.
func (m *Machine) HandedBack(now time.Time, peer uint16, err error) {
	hb := m.hb
	if hb == nil || peer != 0 && peer != hb.to {
		return
	}
	m.hb = nil
	e := Event{Kind: EventHandedBack, Peer: hb.to, Err: err}
	if err != nil {
		m.counters.HandbackTimeouts++
		e.Reason = "the steps go down all the same"
	} else {
		m.counters.Handbacks++
		e.Reason = fmt.Sprintf("unit %d holds this unit's sessions after %v", hb.to, now.Sub(hb.since).Round(time.Millisecond))
	}
	m.event(now, e)
}

// handBack hands the sessions to unit, the winner of a split brain this
// unit lost (Output.HandBack; 0: none); the acknowledgement comes as a
// sync event.
func (d *Driver) handBack(unit uint16) {
	if unit == 0 {
		return
	}
	if err := d.sync.HandBack(unit); err != nil {
		d.input(func(m *Machine, now time.Time) { m.HandedBack(now, unit, err) })
	}
}

// onMerge is the sync driver's OnMerge: sessions another unit, primary
// too, handed to this one are in the table now.
func (d *Driver) onMerge(peer uint16, merged []statesync.Session) {
	d.log.Info("member: sessions taken in from a unit that was primary too", "peer", peer, "sessions", len(merged))
	if d.cfg.Sync.OnMerge != nil {
		d.cfg.Sync.OnMerge(peer, merged)
	}
}
