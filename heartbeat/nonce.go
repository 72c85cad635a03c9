package heartbeat

import (
	"fmt"
	"time"
)

// liveness is what a Machine with keys knows of one peer's starts: the
// start it took as live (an authenticated frame of it echoed this
// Machine's nonce) and the newest start it heard of, whose nonce its own
// frames echo so that the peer can take this unit as live in turn.
type liveness struct {
	// The live start: its epoch and the sequence number of the frame that
	// proved it (frames of that start at or below it may predate this
	// Machine's start and are not taken).
	live         bool
	epoch, seq   uint64
	heard        bool
	heardEpoch   uint64 // the newest start heard (live or not)
	nonce        uint64 // its nonce: what this unit echoes to the peer
	echoNextTurn bool   // a new nonce learned: echo it in the next round
}

// fresh tells whether an authenticated frame f (received on interface i)
// is of a start of its sender that is live now, that is, it is not a
// recording made before this Machine started. A start of a peer is taken as live from its first
// frame that echoes this Machine's nonce (which the peer can only have
// learned from a frame this Machine sent); later frames of that start, in
// sequence order, are live too (and earlier ones that echo it, delayed on
// another interface). Any other frame is dropped and counted
// (Drops.StaleNonce); the nonce it carries is remembered (for the newest
// start heard), the next round echoes it, and when it is new that round is
// sent at once (in out), so that first contact costs one exchange. Without
// keys anything can be forged and every frame is taken (nil).
func (m *Machine) fresh(now time.Time, f *Frame, i int, out *Output) error {
	if m.sealer == nil {
		return nil
	}
	lv := m.live[f.UnitID]
	if lv == nil {
		if len(m.live) >= m.cfg.MaxPeers {
			m.c.Dropped.PeerLimit++
			return fmt.Errorf("heartbeat: frame of unit %d dropped: %d peers known, the most MaxPeers allows: %w",
				f.UnitID, len(m.live), ErrMalformed)
		}
		lv = &liveness{}
		m.live[f.UnitID] = lv
		m.liveOrder = append(m.liveOrder, f.UnitID)
	}
	if !lv.heard || f.Epoch > lv.heardEpoch {
		// The newest start of the peer heard: echo its nonce from now on.
		lv.heard, lv.heardEpoch = true, f.Epoch
		if f.Nonce != lv.nonce {
			lv.nonce = f.Nonce
			lv.echoNextTurn = true
			if m.started {
				// The peer needs its nonce echoed to take this unit as
				// live: tell it at once. (A start's nonce changes only
				// with a larger epoch, so this is bounded.)
				m.round(out)
				m.nextSend = now.Add(m.cfg.Interval)
			}
		}
	}
	switch {
	case lv.live && f.Epoch == lv.epoch && (f.Seq > lv.seq || f.Echo == m.nonce):
		// Sent after the frame that proved the start live, or itself
		// proof (an earlier round, delayed on its interface): the
		// per-link marks tell a replay within this run.
		return nil
	case lv.live && f.Epoch < lv.epoch:
		if p := m.peers[f.UnitID]; p != nil && p.links[i].heard && f.Epoch < p.links[i].epoch {
			return nil // the link's own epoch check drops it, as ever
		}
		m.c.Dropped.Stale++
		return fmt.Errorf("heartbeat: unit %d epoch %d older than its live start's %d: %w", f.UnitID, f.Epoch, lv.epoch, ErrStale)
	case f.Echo == m.nonce:
		// Made after the peer heard this start: the peer's start is live
		// from this frame on.
		lv.live, lv.epoch, lv.seq = true, f.Epoch, f.Seq-1
		return nil
	}
	m.c.Dropped.StaleNonce++
	return fmt.Errorf("heartbeat: unit %d epoch %d does not echo this start's nonce (recorded before it, or first contact): %w",
		f.UnitID, f.Epoch, ErrStaleNonce)
}

// echoNonce returns the nonce the next frame echoes: one a round, the peers'
// in turn, a newly learned one first.
func (m *Machine) echoNonce() uint64 {
	if m.sealer == nil || len(m.liveOrder) == 0 {
		return 0
	}
	for _, id := range m.liveOrder {
		if lv := m.live[id]; lv.echoNextTurn {
			lv.echoNextTurn = false
			return lv.nonce
		}
	}
	m.echoTurn = (m.echoTurn + 1) % len(m.liveOrder)
	return m.live[m.liveOrder[m.echoTurn]].nonce
}
