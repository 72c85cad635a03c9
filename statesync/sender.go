package statesync

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hakit/hakit"
)

// SenderConfig configures a Sender. Zero fields take their defaults (see
// DefaultSenderConfig); Table is required.
type SenderConfig struct {
	// Table is the table the bulk syncs read (required). The caller
	// records every change to it with Sender.Upsert and Sender.Delete.
	Table *Table
	// MTU is the largest datagram, in bytes (default 1472: a UDP payload
	// on a 1500-byte link; use 1500 for raw Ethernet). At least 256.
	MTU int
	// Window is how many unacknowledged datagrams are kept for resending
	// (default 4096, about 6 MB at 1472 bytes). When it overflows the
	// sender starts a full resync.
	Window int
	// Keys, if not nil, authenticate every datagram with HMAC-SHA256
	// truncated to 128 bits under the ring's primary key (its statesync
	// subkey, see hakit.Keyring), and are required on acknowledgements,
	// under any key of the ring. hakit.Keyring.Set rotates them while the
	// stream runs.
	Keys *hakit.Keyring
	// Epoch is the first stream's epoch; 0 means now in Unix nanoseconds,
	// so that a restarted sender's epochs exceed its previous ones while
	// the clock does not go back. A Driver given one counts its later
	// streams up from it, leaving the clock out.
	Epoch uint64
	// RetransmitTimeout: when no acknowledgement progress was seen for
	// this long, a probe asks the receiver to report what it misses
	// (default 20 ms).
	RetransmitTimeout time.Duration
	// MinResend is the least time between two resends of one datagram
	// (default 10 ms), so that repeated requests do not multiply traffic.
	MinResend time.Duration
	// Keepalive: a probe is sent when nothing was sent for this long
	// (default 100 ms), so that the receiver knows the sender is alive.
	Keepalive time.Duration
	// BulkTimeout bounds a bulk sync: past it an EventBulkOverdue is
	// reported (default 10 s).
	BulkTimeout time.Duration
	// Filter, if not nil, selects the sessions a bulk sync sends (in
	// active-active, those this unit owns).
	Filter func(*Session) bool
	// Cluster is the cluster ID written in every datagram and required
	// of the peer's (default 0); datagrams of another cluster are dropped
	// and counted (DropCluster).
	Cluster uint16
	// Unit and Peer are the unit IDs of this unit and of the peer, written
	// in every datagram and required of the peer's: datagrams from
	// another unit, or for another one, are dropped and counted
	// (DropPeer). 0 names no unit and checks nothing (a point-to-point
	// link). A Driver sets them from its own config.
	Unit, Peer uint16
	// Logger receives resyncs and bulk progress; nil discards.
	Logger *slog.Logger
}

// SenderStats counts what a Sender did.
type SenderStats struct {
	Records   uint64 // records sent (first transmission)
	Datagrams uint64 // data datagrams sent (first transmission)
	Bytes     uint64 // bytes of those datagrams
	Resent    uint64 // data datagrams sent again on request
	Probes    uint64 // probes sent
	Acks      uint64 // acknowledgements accepted
	Resyncs   uint64 // full resyncs started after the first stream
	// Suppressed counts records not sent while the window was full and
	// the receiver silent; the following resync covers them.
	Suppressed uint64
	// EventsDropped counts events dropped because Events was not called
	// for a long while (the oldest go first).
	EventsDropped uint64
	// Drops of received datagrams, by reason.
	DropMalformed, DropAuth, DropVersion, DropReplay, DropStale, DropCluster, DropPeer uint64
}

// add adds o's counters to s's.
func (s *SenderStats) add(o SenderStats) {
	s.Records += o.Records
	s.Datagrams += o.Datagrams
	s.Bytes += o.Bytes
	s.Resent += o.Resent
	s.Probes += o.Probes
	s.Acks += o.Acks
	s.Resyncs += o.Resyncs
	s.Suppressed += o.Suppressed
	s.EventsDropped += o.EventsDropped
	s.DropMalformed += o.DropMalformed
	s.DropAuth += o.DropAuth
	s.DropVersion += o.DropVersion
	s.DropReplay += o.DropReplay
	s.DropStale += o.DropStale
	s.DropCluster += o.DropCluster
	s.DropPeer += o.DropPeer
}

type wslot struct {
	b     []byte
	sent  time.Time // last (re)transmission, for MinResend
	first time.Time // first transmission, for the backlog's lag
	nrec  int       // records in b
}

// Sender is the sending half of a replication stream to one receiver: a
// pure state machine. It batches records into datagrams of at most MTU
// bytes, numbers them, keeps them until acknowledged, resends what the
// receiver reports missing, runs bulk syncs from the table, and starts a
// full resync when it cannot continue the stream.
//
// A Sender is not safe for concurrent use. Datagrams returned by Output
// stay valid until the next call of any other method.
type Sender struct {
	cfg SenderConfig
	fr  framer
	ev  events

	epoch  uint64
	next   uint64 // sequence number of the open (or next) datagram
	acked  uint64 // cumulative acknowledgement
	win    []wslot
	open   []byte // datagram being filled, nil if none
	nrec   int    // records in open
	out    [][]byte
	ctl    []byte
	ctlSeq uint64

	peerEpoch, peerSeq uint64
	peerNonce          uint64 // the receiver's nonce, echoed in data and probes (nonce.go)
	lastProgress       time.Time
	lastProbe          time.Time
	lastSend           time.Time
	stalled            bool // window overflowed, receiver silent since
	dirty              bool // records suppressed while stalled

	bulk struct {
		active  bool
		gen     uint8
		cur     Cursor
		total   uint64
		sent    uint64
		start   time.Time
		overdue bool
	}

	ack   ackPayload
	scan  []Session // the bulk sync's current batch
	stats SenderStats
	pend  pending // the unacknowledged datagrams' totals (backlog.go)
}

// NewSender returns a Sender whose first stream starts, at now, with a bulk
// sync of the table.
func NewSender(now time.Time, cfg *SenderConfig) (*Sender, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	s := &Sender{
		cfg: c,
		fr:  newFramer(c.Keys, identity{Cluster: c.Cluster, Self: c.Unit, Peer: c.Peer}),
		ev:  events{side: SideSender, log: c.Logger},
		win: make([]wslot, c.Window),
	}
	s.epoch = c.Epoch
	if s.epoch == 0 {
		s.epoch = uint64(now.UnixNano())
	}
	s.epoch--
	s.newStream(now, "")
	return s, nil
}

// Epoch returns the current stream's epoch.
func (s *Sender) Epoch() uint64 { return s.epoch }

// Stats returns the counters.
func (s *Sender) Stats() SenderStats {
	st := s.stats
	st.EventsDropped = s.ev.dropped
	return st
}

// Events appends the events since the last call to dst, oldest first, and
// forgets them: call it after the other methods, as Output. They are also
// logged (SenderConfig.Logger).
func (s *Sender) Events(dst []Event) []Event { return s.ev.take(dst) }

// Progress returns the current or last bulk sync's progress: sessions sent
// and the total announced (the table's size when it started; an upper
// bound when a Filter is set), and whether it is still running.
func (s *Sender) Progress() (sent, total uint64, running bool) {
	return s.bulk.sent, s.bulk.total, s.bulk.active
}

// Acked reports whether the receiver acknowledged everything sent so far
// and no bulk sync is running.
func (s *Sender) Acked() bool {
	return !s.bulk.active && s.open == nil && s.acked == s.next-1
}

// newStream starts a new epoch beginning with a bulk sync. reason is empty
// for the first stream.
func (s *Sender) newStream(now time.Time, reason string) {
	s.epoch++
	s.next, s.acked = 1, 0
	s.pend = pending{}
	s.open, s.nrec = nil, 0
	s.out = s.out[:0]
	for i := range s.win {
		s.win[i].sent = time.Time{}
	}
	s.lastProgress, s.lastProbe = now, now
	s.dirty = false
	s.bulk.active = true
	s.bulk.gen++
	if s.bulk.gen == 0 {
		s.bulk.gen = 1
	}
	s.bulk.cur = 0
	s.bulk.sent = 0
	s.bulk.total = uint64(s.cfg.Table.Len())
	s.bulk.start = now
	s.bulk.overdue = false
	if reason != "" {
		s.stats.Resyncs++
		s.ev.emit(Event{Kind: EventResync, Reason: reason, Epoch: s.epoch, Total: s.bulk.total})
	}
	s.ev.emit(Event{Kind: EventBulkStart, Epoch: s.epoch, Total: s.bulk.total})
	r := record{recordOp: opBulkBegin, Gen: s.bulk.gen, Total: s.bulk.total}
	s.append(now, &r)
}

// startDatagram opens the datagram with sequence number s.next. It reports
// false when the window is full.
func (s *Sender) startDatagram(now time.Time) bool {
	w := uint64(len(s.win))
	if s.next > w && s.next-w > s.acked {
		// The slot still holds an unacknowledged datagram.
		if s.stalled {
			return false
		}
		s.stalled = true
		s.newStream(now, "resend window overflow")
		return s.open != nil
	}
	slot := &s.win[s.next%w]
	if cap(slot.b) < s.cfg.MTU {
		slot.b = make([]byte, 0, s.cfg.MTU)
	}
	s.open = s.fr.begin(slot.b[:0], typeData, s.epoch, s.next, s.peerNonce)
	s.nrec = 0
	return true
}

// seal closes the open datagram and queues it.
func (s *Sender) seal(now time.Time) {
	if s.open == nil {
		return
	}
	putNonce(s.open, s.peerNonce) // the newest, not the one at begin (nonce.go)
	b := s.fr.seal(s.open)
	slot := &s.win[s.next%uint64(len(s.win))]
	slot.b, slot.sent, slot.first, slot.nrec = b, now, now, s.nrec
	s.pend.add(slot)
	s.out = append(s.out, b)
	s.stats.Datagrams++
	s.stats.Records += uint64(s.nrec)
	s.stats.Bytes += uint64(len(b))
	s.lastSend = now
	s.next++
	s.open, s.nrec = nil, 0
}

// append adds r to the open datagram, sealing and opening as needed. It
// reports false when the record was suppressed.
func (s *Sender) append(now time.Time, r *record) bool {
	n := r.EncodedLen()
	limit := s.cfg.MTU
	if s.fr.mac != nil {
		limit -= tagLen
	}
	if s.open != nil && len(s.open)+n > limit {
		s.seal(now)
	}
	if s.open == nil && !s.startDatagram(now) {
		s.stats.Suppressed++
		s.dirty = true
		return false
	}
	s.open, _ = r.appendTo(s.open)
	s.nrec++
	return true
}

// Upsert records that sess was inserted or changed. The caller stores it in
// the table first (Table.Upsert returns the session to pass here).
func (s *Sender) Upsert(now time.Time, sess Session) {
	r := record{recordOp: opUpsert, Session: sess}
	s.append(now, &r)
}

// Delete records that the session with key k was removed.
func (s *Sender) Delete(now time.Time, k Key) {
	r := record{recordOp: opDelete, Session: Session{Key: k}}
	s.append(now, &r)
}

// Resync starts a new stream with a full bulk sync of the table, at an
// operator's request (conntrackd -B): the receiver's replica becomes the
// table as it is now. It is loud like every resync (SenderStats.Resyncs,
// EventResync).
func (s *Sender) Resync(now time.Time) { s.newStream(now, "requested") }

// Flush closes the datagram being filled, so that Output returns it.
func (s *Sender) Flush(now time.Time) { s.seal(now) }

// inflight returns the number of unacknowledged sealed datagrams.
func (s *Sender) inflight() uint64 { return s.next - 1 - s.acked }

// Tick does the time-driven work: flushes the open datagram, advances a
// running bulk sync as far as the window allows (half of it), checks the
// bulk sync's time bound, and sends a probe when acknowledgements stall or
// the link has been idle. Call it every millisecond or so.
func (s *Sender) Tick(now time.Time) {
	s.Flush(now)
	if s.bulk.active && !s.stalled {
		s.advanceBulk(now)
	}
	if s.bulk.active && !s.bulk.overdue && now.Sub(s.bulk.start) > s.cfg.BulkTimeout {
		s.bulk.overdue = true
		s.ev.emit(Event{Kind: EventBulkOverdue, Epoch: s.epoch, Sent: s.bulk.sent, Total: s.bulk.total})
	}
	stuck := s.inflight() > 0 && now.Sub(s.lastProgress) >= s.cfg.RetransmitTimeout && now.Sub(s.lastProbe) >= s.cfg.RetransmitTimeout
	if stuck || now.Sub(s.lastSend) >= s.cfg.Keepalive {
		s.probe(now)
	}
}

func (s *Sender) advanceBulk(now time.Time) {
	half := uint64(len(s.win) / 2)
	for s.bulk.active && s.inflight() < half && !s.stalled {
		epoch := s.epoch
		var done bool
		s.scan, s.bulk.cur, done = s.cfg.Table.Scan(s.scan[:0], s.bulk.cur, 64)
		for i := range s.scan {
			sess := &s.scan[i]
			if s.cfg.Filter != nil && !s.cfg.Filter(sess) {
				continue
			}
			r := record{recordOp: opUpsert, Session: *sess}
			if s.append(now, &r) {
				s.bulk.sent++
			}
			if s.epoch != epoch {
				return // a resync restarted the bulk sync
			}
		}
		if done {
			s.bulkExpects(now) // expect_sync.go
			if s.epoch != epoch {
				return
			}
			r := record{recordOp: opBulkEnd, Gen: s.bulk.gen}
			s.append(now, &r)
			s.seal(now)
			s.bulk.active = false
			s.ev.emit(Event{Kind: EventBulkDone, Epoch: s.epoch, Sent: s.bulk.sent, Total: s.bulk.total})
		}
	}
}

func (s *Sender) probe(now time.Time) {
	s.ctlSeq++
	b := s.fr.begin(s.ctl[:0], typeProbe, s.epoch, s.ctlSeq, s.peerNonce)
	b, _ = probePayload{Head: s.next - 1}.AppendBinary(b)
	s.ctl = s.fr.seal(b)
	s.out = append(s.out, s.ctl)
	s.stats.Probes++
	s.lastProbe, s.lastSend = now, now
}

// Output appends the datagrams to send to dst, in order, and forgets them.
// They stay valid until the next call of another method.
func (s *Sender) Output(dst [][]byte) [][]byte {
	dst = append(dst, s.out...)
	clear(s.out)
	s.out = s.out[:0]
	return dst
}

// Step processes a datagram from the receiver (an acknowledgement). Bad
// input is counted and returned as an error; it never changes the stream.
func (s *Sender) Step(now time.Time, b []byte) error {
	h, payload, err := s.fr.open(b)
	if err == nil && h.dgramType != typeAck {
		err = fmt.Errorf("statesync: sender got a %v datagram: %w", h.dgramType, ErrMalformed)
	}
	if err == nil {
		err = s.ack.UnmarshalBinary(payload)
	}
	if err == nil && (h.Epoch < s.peerEpoch || h.Epoch == s.peerEpoch && h.Seq <= s.peerSeq) {
		err = fmt.Errorf("statesync: ack %d/%d not after %d/%d: %w", h.Epoch, h.Seq, s.peerEpoch, s.peerSeq, ErrReplay)
	}
	if err != nil {
		s.countDrop(err)
		return err
	}
	s.peerEpoch, s.peerSeq = h.Epoch, h.Seq
	a := &s.ack
	if s.learnNonce(now, h.Nonce, a.Epoch) { // nonce.go
		return nil
	}
	if a.Epoch != s.epoch {
		s.stats.DropStale++
		return nil // about an older stream: already replaced
	}
	if a.Cum >= s.next {
		s.stats.DropMalformed++
		return fmt.Errorf("statesync: ack of %d, only %d sent: %w", a.Cum, s.next-1, ErrMalformed)
	}
	s.stats.Acks++
	if a.NeedSync {
		s.newStream(now, "receiver requested a resync")
		return nil
	}
	if a.Cum > s.acked {
		s.acknowledge(a.Cum)
		s.lastProgress = now
		if s.stalled {
			s.stalled = false
			if s.dirty {
				s.newStream(now, "records suppressed while the receiver was silent")
				return nil
			}
		}
	}
	budget := maxResendPerAck
	for _, r := range a.Missing {
		if r.First <= s.acked {
			// Something the receiver acknowledged before and lost (it
			// restarted): the stream cannot be continued.
			s.newStream(now, "receiver lost acknowledged datagrams")
			return nil
		}
		for q := max(r.First, s.acked+1); q <= r.Last && q < s.next && budget > 0; q++ {
			slot := &s.win[q%uint64(len(s.win))]
			if now.Sub(slot.sent) < s.cfg.MinResend {
				continue
			}
			slot.sent = now
			s.out = append(s.out, slot.b)
			s.stats.Resent++
			budget--
			s.lastSend = now
		}
	}
	return nil
}

// maxResendPerAck bounds the burst one acknowledgement can trigger; the
// rest is asked for again by the next one.
const maxResendPerAck = 256

func (s *Sender) countDrop(err error) {
	switch {
	case errors.Is(err, ErrAuth):
		s.stats.DropAuth++
	case errors.Is(err, ErrVersion):
		s.stats.DropVersion++
	case errors.Is(err, ErrReplay):
		s.stats.DropReplay++
	case errors.Is(err, ErrCluster):
		s.stats.DropCluster++
	case errors.Is(err, ErrPeer):
		s.stats.DropPeer++
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrMalformed), errors.Is(err, ErrNotSync):
		s.stats.DropMalformed++
	default:
		s.stats.DropMalformed++
	}
}
