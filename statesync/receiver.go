package statesync

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/auth"
)

// ReceiverConfig configures a Receiver. Zero fields take their defaults (see
// DefaultReceiverConfig); Table is required.
type ReceiverConfig struct {
	// Table is where received sessions are stored (required). Several
	// receivers (one per sending unit, in active-active) may share it if
	// each has its own Origin.
	Table *Table
	// Origin tags the entries this receiver writes; the end of a bulk
	// sync removes the entries of this origin that the sender did not
	// send. Table.Upsert and Table.Store write origin 0, so the default 0
	// (active-passive) makes the replica exactly the sender's table. In
	// active-active, give each receiver sharing a table a distinct
	// nonzero Origin, so that it removes only entries it wrote.
	Origin uint8
	// Window is how many datagrams beyond a gap are kept until the gap is
	// filled (default 4096; should match the sender's).
	Window int
	// Keys: as for the sender; both ends must hold the same keys.
	Keys *hakit.Keyring
	// Epoch is the receiver's control epoch (of its acknowledgements); 0
	// means now in Unix nanoseconds.
	Epoch uint64
	// AckDelay is the longest time received data waits for an
	// acknowledgement (default 2 ms).
	AckDelay time.Duration
	// NackInterval is the least time between two requests for the same
	// missing datagrams (default 10 ms).
	NackInterval time.Duration
	// Timeout: when nothing was heard from the sender for this long, the
	// receiver is no longer in sync (default 1 s).
	Timeout time.Duration
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
	// Logger receives sync state changes; nil discards.
	Logger *slog.Logger
}

// ReceiverStats counts what a Receiver did.
type ReceiverStats struct {
	Datagrams     uint64 // data datagrams applied
	Records       uint64 // records applied
	Acks          uint64 // acknowledgements sent
	Probes        uint64 // probes accepted
	Buffered      uint64 // datagrams that arrived ahead of a gap
	Streams       uint64 // streams (epochs) started
	Resyncs       uint64 // resyncs requested by this receiver
	SweepsSkipped uint64 // bulk ends applied after a lost datagram at Commit, so not swept
	// Duplicate counts data datagrams received twice within the window
	// the sender resends from (resends, reordering); older ones are
	// replays, not resends (DropReplay).
	Duplicate     uint64
	DropTableFull uint64 // sessions not stored: the table held its limit (Table.SetLimit)
	DropExpect    uint64 // expectations not stored: the table held MaxExpectations
	EventsDropped uint64 // events dropped because Events was not called for long
	// Drops of received datagrams, by reason.
	DropMalformed, DropAuth, DropVersion, DropReplay, DropWindow, DropCluster, DropPeer uint64
	// DropStaleNonce (with keys): authentic datagrams of a stream the
	// receiver did not follow that do not echo its nonce, so may have
	// been recorded before it started (nonce.go).
	DropStaleNonce uint64
}

// add adds o's counters to s's.
func (s *ReceiverStats) add(o ReceiverStats) {
	s.Datagrams += o.Datagrams
	s.Records += o.Records
	s.Acks += o.Acks
	s.Probes += o.Probes
	s.Buffered += o.Buffered
	s.Streams += o.Streams
	s.Resyncs += o.Resyncs
	s.SweepsSkipped += o.SweepsSkipped
	s.Duplicate += o.Duplicate
	s.DropTableFull += o.DropTableFull
	s.DropExpect += o.DropExpect
	s.EventsDropped += o.EventsDropped
	s.DropMalformed += o.DropMalformed
	s.DropAuth += o.DropAuth
	s.DropVersion += o.DropVersion
	s.DropReplay += o.DropReplay
	s.DropWindow += o.DropWindow
	s.DropCluster += o.DropCluster
	s.DropPeer += o.DropPeer
	s.DropStaleNonce += o.DropStaleNonce
}

type rslot struct {
	seq uint64 // 0: empty
	b   []byte
}

// CommitResult reports what Commit did.
type CommitResult struct {
	// Applied is the number of datagrams that were waiting beyond a gap
	// and were applied by the commit.
	Applied int
	// Lost is the number of datagrams the sender sent (as far as the
	// receiver knows) that never arrived.
	Lost uint64
	// InSync reports whether the receiver was in sync before the commit.
	InSync bool
}

// Receiver is the receiving half of a replication stream: a pure state
// machine that validates, orders and applies datagrams to the table,
// acknowledges them, asks for what is missing, and tells whether it holds
// the sender's whole table.
//
// A Receiver is not safe for concurrent use. Datagrams returned by Output
// stay valid until the next call of any other method.
type Receiver struct {
	cfg ReceiverConfig
	fr  framer
	ev  events

	epoch    uint64 // sender's stream
	next     uint64 // next sequence number to apply
	head     uint64 // highest sequence number known to exist
	ring     []rslot
	probeSeq uint64

	gen        uint8 // table generation stamped on entries
	bulkGen    uint8 // the sender's generation of the running bulk sync
	bulkActive bool
	bulkDone   bool
	bulkTotal  uint64
	bulkGot    uint64
	inSync     bool
	needSync   bool
	committed  bool
	gapped     bool // Commit skipped a lost datagram: a bulk end must not sweep
	overflow   bool // the table refused a session since the last bulk began (limit.go)
	held       int  // bytes of the ring's buffers (limit.go)

	lastHeard time.Time
	lastAck   time.Time
	lastNack  time.Time
	unacked   bool
	ackNow    bool

	ctlEpoch, ctlSeq uint64
	nonce            uint64 // this Receiver's, in every ack (nonce.go)
	hello            bool   // an ack is due to tell a sender the nonce
	ack              ackPayload
	ackBuf           []byte
	out              [][]byte
	recs             []record
	stats            ReceiverStats
}

// NewReceiver returns a Receiver that will follow whatever stream it hears
// first.
func NewReceiver(now time.Time, cfg *ReceiverConfig) (*Receiver, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	r := &Receiver{
		cfg:   c,
		fr:    newFramer(c.Keys, identity{Cluster: c.Cluster, Self: c.Unit, Peer: c.Peer}),
		ev:    events{side: SideReceiver, log: c.Logger},
		ring:  make([]rslot, c.Window),
		gen:   c.Table.curGen(c.Origin),
		nonce: auth.Nonce(),
	}
	r.ctlEpoch = c.Epoch
	if r.ctlEpoch == 0 {
		r.ctlEpoch = uint64(now.UnixNano())
	}
	return r, nil
}

// InSync reports whether the receiver holds the sender's whole table: the
// current stream's bulk sync completed and the sender was heard within the
// timeout (as of the last Tick or Step). The election uses it to decide
// whether this unit may take over with sessions intact.
func (r *Receiver) InSync() bool { return r.inSync }

// Stats returns the counters.
func (r *Receiver) Stats() ReceiverStats {
	st := r.stats
	st.EventsDropped = r.ev.dropped
	return st
}

// Events appends the events since the last call to dst, oldest first, and
// forgets them: call it after the other methods, as Output. They are also
// logged (ReceiverConfig.Logger).
func (r *Receiver) Events(dst []Event) []Event { return r.ev.take(dst) }

// Progress returns the current or last bulk sync's progress: records
// applied since it began and the total the sender announced, and whether it
// is still running.
func (r *Receiver) Progress() (got, total uint64, running bool) {
	return r.bulkGot, r.bulkTotal, r.bulkActive
}

// Lag returns how many datagrams the receiver knows exist but has not
// applied yet.
func (r *Receiver) Lag() uint64 {
	if r.head < r.next {
		return 0
	}
	return r.head - r.next + 1
}

func (r *Receiver) setSync(now time.Time, in bool, reason string) {
	if in == r.inSync {
		return
	}
	r.inSync = in
	k := EventInSync
	if !in {
		k = EventOutOfSync
	}
	r.ev.emit(Event{Kind: k, Reason: reason, Epoch: r.epoch, Sent: r.bulkGot, Total: r.bulkTotal})
}

func (r *Receiver) newStream(now time.Time, epoch uint64) {
	r.epoch = epoch
	r.next, r.head = 1, 0
	for i := range r.ring {
		r.ring[i].seq = 0
	}
	r.probeSeq = 0
	r.bulkActive, r.bulkDone = false, false
	r.needSync = false
	r.stats.Streams++
	r.setSync(now, false, "new stream")
}

// Step processes a datagram from the sender. Bad input is counted and
// returned as an error; it never changes the table.
func (r *Receiver) Step(now time.Time, b []byte) error {
	if r.committed {
		r.stats.DropReplay++
		return fmt.Errorf("statesync: receiver already committed: %w", ErrReplay)
	}
	h, payload, err := r.fr.open(b)
	if err == nil && h.dgramType == typeAck {
		err = fmt.Errorf("statesync: receiver got an ack: %w", ErrMalformed)
	}
	if err == nil && h.Epoch < r.epoch {
		err = fmt.Errorf("statesync: epoch %d older than %d: %w", h.Epoch, r.epoch, ErrReplay)
	}
	if err == nil {
		err = r.fresh(h) // nonce.go
	}
	if err != nil {
		r.countDrop(err)
		return err
	}
	if h.dgramType == typeProbe {
		var p probePayload
		if err := p.UnmarshalBinary(payload); err != nil {
			r.countDrop(err)
			return err
		}
		if h.Epoch == r.epoch && h.Seq <= r.probeSeq {
			r.stats.DropReplay++
			return fmt.Errorf("statesync: probe %d not after %d: %w", h.Seq, r.probeSeq, ErrReplay)
		}
		if h.Epoch > r.epoch {
			r.newStream(now, h.Epoch)
		}
		r.probeSeq = h.Seq
		r.stats.Probes++
		r.lastHeard = now
		r.head = max(r.head, p.Head)
		r.ackNow = true
		r.refreshSync(now)
		return nil
	}
	// Validate the whole datagram before anything changes.
	if h.Seq == 0 {
		r.stats.DropMalformed++
		return fmt.Errorf("statesync: data sequence number 0: %w", ErrMalformed)
	}
	recs, err := decodeRecords(r.recs[:0], payload)
	r.recs = recs
	if err != nil {
		r.countDrop(err)
		if h.Epoch == r.epoch && h.Seq == r.next {
			// An authentic datagram we cannot use: the stream cannot go
			// on. Ask for a new one rather than stall.
			r.requestResync(now, "undecodable datagram in sequence")
		}
		return err
	}
	if h.Epoch == r.epoch && r.beyondResend(h.Seq) { // drops.go
		r.stats.DropReplay++
		return fmt.Errorf("statesync: datagram %d older than any the sender can resend after %d: %w", h.Seq, r.head, ErrReplay)
	}
	if h.Epoch > r.epoch {
		r.newStream(now, h.Epoch)
	}
	r.lastHeard = now
	r.head = max(r.head, h.Seq)
	switch {
	case h.Seq < r.next:
		r.stats.Duplicate++
		r.ackNow = true // our acknowledgement may have been lost
		return nil
	case h.Seq >= r.next+uint64(len(r.ring)):
		r.stats.DropWindow++
		return nil
	case h.Seq > r.next:
		slot := &r.ring[h.Seq%uint64(len(r.ring))]
		if slot.seq == h.Seq {
			r.stats.Duplicate++
			return nil
		}
		if !r.hold(slot, payload) { // limit.go
			r.stats.DropWindow++
			return nil
		}
		slot.seq = h.Seq
		r.stats.Buffered++
		r.unacked = true
		return nil
	}
	r.apply(now, recs)
	r.next++
	r.drain(now)
	r.unacked = true
	r.refreshSync(now)
	return nil
}

// decodeRecords decodes every record of a payload, appending to recs.
func decodeRecords(recs []record, b []byte) ([]record, error) {
	for len(b) > 0 {
		recs = append(recs, record{})
		n, err := recs[len(recs)-1].decode(b)
		if err != nil {
			return recs[:0], err
		}
		b = b[n:]
	}
	return recs, nil
}

// drain applies the buffered datagrams that are now in sequence.
func (r *Receiver) drain(now time.Time) int {
	n := 0
	for {
		slot := &r.ring[r.next%uint64(len(r.ring))]
		if slot.seq != r.next {
			return n
		}
		slot.seq = 0
		// Validated when it arrived.
		recs, _ := decodeRecords(r.recs[:0], slot.b)
		r.recs = recs
		r.apply(now, recs)
		r.next++
		n++
	}
}

func (r *Receiver) apply(now time.Time, recs []record) {
	t := r.cfg.Table
	for i := range recs {
		rec := &recs[i]
		switch rec.recordOp {
		case opUpsert:
			if !t.upsert(&rec.Session, false, r.cfg.Origin, r.gen) {
				r.tableFull(now)
			}
			if r.bulkActive {
				r.bulkGot++
			}
		case opDelete:
			t.Delete(rec.Session.Key)
		case opExpect, opExpectDelete:
			r.applyExpect(now, rec) // expect_sync.go
		case opBulkBegin:
			r.gen = t.nextGen(r.cfg.Origin)
			r.bulkGen = rec.Gen
			r.bulkActive, r.bulkDone = true, false
			r.bulkTotal, r.bulkGot = rec.Total, 0
			r.overflow = false
			r.setSync(now, false, "bulk sync")
			r.ev.emit(Event{Kind: EventBulkStart, Epoch: r.epoch, Total: rec.Total})
		case opBulkEnd:
			if r.bulkActive && rec.Gen == r.bulkGen {
				r.bulkActive = false
				if r.gapped {
					// Some of this bulk never arrived: sweeping would delete
					// the sessions it carried. Keep them (stale entries
					// expire; lost ones cannot come back) and stay out of
					// sync.
					r.stats.SweepsSkipped++
					break
				}
				t.sweep(r.cfg.Origin, r.gen)
				t.sweepExpects(r.cfg.Origin, r.gen)
				r.bulkDone = !r.overflow // limit.go
				r.ev.emit(Event{Kind: EventBulkDone, Epoch: r.epoch, Sent: r.bulkGot, Total: r.bulkTotal})
			}
		}
		r.stats.Records++
	}
	r.stats.Datagrams++
}

func (r *Receiver) refreshSync(now time.Time) {
	switch {
	case !r.bulkDone:
		r.setSync(now, false, "bulk sync incomplete")
	case now.Sub(r.lastHeard) >= r.cfg.Timeout:
		r.setSync(now, false, "sender silent")
	default:
		r.setSync(now, true, "")
	}
}

// RequestResync asks the sender for a new stream with a full bulk sync, at
// an operator's request (conntrackd -n); the request goes with the next
// acknowledgement, and the receiver is out of sync until the bulk sync
// completes.
func (r *Receiver) RequestResync(now time.Time) {
	if !r.committed && r.epoch != 0 {
		r.requestResync(now, "requested")
	}
}

func (r *Receiver) requestResync(now time.Time, reason string) {
	if !r.needSync {
		r.stats.Resyncs++
	}
	r.needSync = true
	r.ackNow = true
	r.setSync(now, false, reason)
}

// Tick does the time-driven work: acknowledges received data, asks for
// missing datagrams, and updates the in-sync state. Call it every
// millisecond or so.
func (r *Receiver) Tick(now time.Time) {
	if r.committed || r.epoch == 0 && !r.hello {
		return
	}
	r.refreshSync(now)
	gaps := r.head >= r.next
	due := r.ackNow || r.hello && now.Sub(r.lastAck) >= r.cfg.NackInterval ||
		r.unacked && now.Sub(r.lastAck) >= r.cfg.AckDelay ||
		gaps && now.Sub(r.lastNack) >= r.cfg.NackInterval
	if !due {
		return
	}
	r.ack.Epoch, r.ack.Cum, r.ack.NeedSync = r.epoch, r.next-1, r.needSync
	r.ack.Missing = r.ack.Missing[:0]
	if gaps {
		r.lastNack = now
		r.ack.Missing = r.missing(r.ack.Missing)
	}
	r.ctlSeq++
	b := r.fr.begin(r.ackBuf[:0], typeAck, r.ctlEpoch, r.ctlSeq, r.nonce)
	b, _ = r.ack.AppendBinary(b)
	r.ackBuf = r.fr.seal(b)
	r.out = append(r.out, r.ackBuf)
	r.stats.Acks++
	r.lastAck = now
	r.unacked, r.ackNow, r.hello = false, false, false
}

// missing appends the ranges between next and head that are not buffered.
func (r *Receiver) missing(dst []seqRange) []seqRange {
	w := uint64(len(r.ring))
	last := min(r.head, r.next+w-1)
	for q := r.next; q <= last && len(dst) < maxRanges; q++ {
		if r.ring[q%w].seq == q {
			continue
		}
		first := q
		for q < last && r.ring[(q+1)%w].seq != q+1 {
			q++
		}
		dst = append(dst, seqRange{first, q})
	}
	return dst
}

// Output appends the datagrams to send to dst and forgets them. They stay
// valid until the next call of another method.
func (r *Receiver) Output(dst [][]byte) [][]byte {
	dst = append(dst, r.out...)
	clear(r.out)
	r.out = r.out[:0]
	return dst
}

// Commit applies everything received and not yet applied, including the
// datagrams waiting beyond a gap that can no longer be filled, and returns
// what it did. It is the last thing a standby does with the stream before it
// takes over: when Commit returns, every record received is in the table,
// so the caller may bring the addresses up (and the conntrack mirror may
// inject the table). After Commit the receiver drops further datagrams.
//
// A bulk sync that ends beyond a lost datagram is not swept: entries the
// bulk did not refresh are kept (counted in ReceiverStats.SweepsSkipped),
// because the lost datagram may have carried them.
func (r *Receiver) Commit(now time.Time) CommitResult {
	res := CommitResult{InSync: r.inSync}
	if r.committed {
		return res
	}
	r.committed = true
	w := uint64(len(r.ring))
	last := min(r.head, r.next+w-1)
	for q := r.next; q <= last; q++ {
		slot := &r.ring[q%w]
		if slot.seq != q {
			res.Lost++
			r.gapped = true
			continue
		}
		slot.seq = 0
		recs, _ := decodeRecords(r.recs[:0], slot.b)
		r.recs = recs
		r.apply(now, recs)
		res.Applied++
	}
	if r.head >= r.next+w {
		res.Lost += r.head - (r.next + w) + 1
	}
	r.next = max(r.next, last+1)
	return res
}

func (r *Receiver) countDrop(err error) {
	switch {
	case errors.Is(err, ErrAuth):
		r.stats.DropAuth++
	case errors.Is(err, ErrVersion):
		r.stats.DropVersion++
	case errors.Is(err, ErrReplay):
		r.stats.DropReplay++
	case errors.Is(err, ErrCluster):
		r.stats.DropCluster++
	case errors.Is(err, ErrPeer):
		r.stats.DropPeer++
	case errors.Is(err, ErrStaleNonce):
		r.stats.DropStaleNonce++
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrMalformed), errors.Is(err, ErrNotSync):
		r.stats.DropMalformed++
	default:
		r.stats.DropMalformed++
	}
}
