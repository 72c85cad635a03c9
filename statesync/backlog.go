package statesync

import "time"

// Backlog is what a Sender sent that its receiver has not acknowledged
// yet: how far the receiver's replica is behind this unit's table.
type Backlog struct {
	// Records and Bytes are the unacknowledged updates (upserts, deletes,
	// bulk records) and the bytes of their datagrams, Datagrams how many
	// datagrams carry them. Records suppressed while the window was full
	// (SenderStats.Suppressed) are not among them: the resync that follows
	// sends them again.
	Records, Datagrams, Bytes uint64
	// Lag is the age of the oldest unacknowledged update: how long ago it
	// was first sent (zero when everything is acknowledged). It grows while
	// the receiver does not acknowledge, and drops back as it catches up.
	Lag time.Duration
}

// pending holds the totals of the unacknowledged datagrams, kept as they
// are sealed and acknowledged, so that Backlog costs nothing.
type pending struct{ records, bytes uint64 }

func (p *pending) add(w *wslot) {
	p.records += uint64(w.nrec)
	p.bytes += uint64(len(w.b))
}

func (p *pending) remove(w *wslot) {
	p.records -= uint64(w.nrec)
	p.bytes -= uint64(len(w.b))
}

// acknowledge moves the cumulative acknowledgement up to cum, taking the
// datagrams it covers out of the backlog.
func (s *Sender) acknowledge(cum uint64) {
	w := uint64(len(s.win))
	for q := s.acked + 1; q <= cum; q++ {
		s.pend.remove(&s.win[q%w])
	}
	s.acked = cum
}

// Backlog returns, at now, what the receiver has not acknowledged yet. It
// is cheap: a few fields read, no walk over the window.
func (s *Sender) Backlog(now time.Time) Backlog {
	b := Backlog{Records: s.pend.records, Bytes: s.pend.bytes, Datagrams: s.inflight()}
	if b.Datagrams > 0 {
		b.Lag = max(now.Sub(s.win[(s.acked+1)%uint64(len(s.win))].first), 0)
	}
	return b
}
