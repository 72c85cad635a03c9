package statesync

import (
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultMaxSessions is the most sessions a Table holds unless SetLimit
// says otherwise: about 128 MiB of entries (see BenchmarkTableMemory),
// four times the kernel's usual nf_conntrack_max. A peer, or a forger,
// cannot grow the table beyond it.
const DefaultMaxSessions = 1 << 20

// limit is a Table's cap on its number of sessions.
type limit struct {
	max     atomic.Int64 // 0: DefaultMaxSessions; < 0: none
	refused atomic.Uint64
}

// admit reports whether a new session may join a table of n sessions, and
// counts a refusal. Under concurrent inserts the table may exceed the
// limit by the number of inserting goroutines (the count is read without
// the other shards' locks).
func (l *limit) admit(n int64) bool {
	m := l.max.Load()
	if m == 0 {
		m = DefaultMaxSessions
	}
	if m > 0 && n >= m {
		l.refused.Add(1)
		return false
	}
	return true
}

// SetLimit sets the most sessions t holds: 0 means DefaultMaxSessions, a
// negative n no limit. At the limit a session with a new key is not stored
// (Upsert and Store do nothing; Refused counts it), while sessions
// already present are still updated and deleted. A Receiver that meets
// the limit counts the session (ReceiverStats.DropTableFull) and reports
// itself out of sync until a bulk sync fits. Lowering the limit removes
// nothing.
func (t *Table) SetLimit(n int) { t.lim.max.Store(int64(n)) }

// Limit returns the most sessions t holds (see SetLimit); -1 means none.
func (t *Table) Limit() int {
	switch m := t.lim.max.Load(); {
	case m == 0:
		return DefaultMaxSessions
	case m < 0:
		return -1
	default:
		return int(m)
	}
}

// Refused returns how many sessions with a new key t did not store because
// it held its limit.
func (t *Table) Refused() uint64 { return t.lim.refused.Load() }

// tableFull records that the table refused a session from the sender: the
// replica is incomplete until a bulk sync fits.
func (r *Receiver) tableFull(now time.Time) {
	r.stats.DropTableFull++
	r.overflow = true
	if r.bulkDone {
		r.bulkDone = false
		r.setSync(now, false, fmt.Sprintf("session table full (%d sessions, the limit)", r.cfg.Table.Len()))
	}
}

// MaxBufferedBytes caps the bytes a Receiver keeps of datagrams that
// arrived beyond a gap: 16 MiB, the window of 4096 full-size Ethernet
// datagrams with room to spare, whatever size the datagrams claim (a UDP
// datagram may be 64 KiB). A datagram that does not fit is dropped and
// counted as beyond the window (DropWindow); the sender resends it.
const MaxBufferedBytes = 16 << 20

// hold copies payload into slot's buffer if the ring's buffers stay within
// MaxBufferedBytes.
func (r *Receiver) hold(slot *rslot, payload []byte) bool {
	if len(payload) > cap(slot.b) {
		if r.held-cap(slot.b)+len(payload) > MaxBufferedBytes {
			return false
		}
		r.held -= cap(slot.b)
		slot.b = make([]byte, 0, len(payload))
		r.held += cap(slot.b)
	}
	slot.b = append(slot.b[:0], payload...)
	return true
}
