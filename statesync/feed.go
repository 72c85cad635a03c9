package statesync

import (
	"errors"
	"sync/atomic"
)

// Change is one item of a Feed: a session as the table holds it now, or
// the key of a session removed from the table.
type Change struct {
	// Session is the session as stored; when Deleted, only its Key is set.
	Session Session
	// Deleted reports that the session was removed.
	Deleted bool
}

// Feed is a Table's change feed, for one consumer that mirrors the table
// elsewhere (a standby's kernel conntrack table, say) as it changes rather
// than all at once. Create it with Table.Feed.
//
// The feed holds no copies of sessions: writing to the table marks the
// entry (once, however often it changes before the consumer looks) and
// removing an entry the consumer was given keeps its 40-byte key. Next
// then returns each changed session as it is at that moment, after the
// removals. So the consumer sees every session's latest state, not every
// step, and the feed's memory is bounded by the table's size: at most an
// index per entry and a key per session the consumer holds. Writes to a
// table without a Feed cost one test of a nil pointer; with a Feed, an
// append to a reused slice the first time an entry changes after Next
// looked at it (no allocation once the slices have grown). A Store of
// what the entry already holds (the same version and content: a replica's
// bulk sync after a resync) is not a change.
//
// A Feed is not safe for concurrent use: one goroutine calls Next. The
// table's writers may run concurrently with it.
type Feed struct {
	t    *Table
	sig  *feedSignal
	next int // the shard Next starts from
}

// feedSignal tells the consumer that changes wait: raised by the first
// change after the consumer cleared it.
type feedSignal struct {
	raised atomic.Bool
	ch     chan struct{}
}

func (f *feedSignal) notify() {
	if !f.raised.Load() && f.raised.CompareAndSwap(false, true) {
		select {
		case f.ch <- struct{}{}:
		default:
		}
	}
}

// errFeedExists is returned by Table.Feed when the table has one.
var errFeedExists = errors.New("statesync: the table already has a feed")

// Feed starts the table's change feed. Every session the table holds when
// it starts counts as changed, so the first calls of Next return the whole
// table (a bounded number at a time): the consumer starts from nothing.
// A table has at most one feed at a time; Feed returns an error while
// another is open.
func (t *Table) Feed() (*Feed, error) { return t.newFeed(false) }

// FeedChanges starts the table's change feed for a consumer that already
// holds every session the table holds now (a unit demoted from primary,
// whose kernel the table mirrored): only what changes from now on comes
// out of Next, the removal of those sessions included. It fails as Feed.
func (t *Table) FeedChanges() (*Feed, error) { return t.newFeed(true) }

func (t *Table) newFeed(held bool) (*Feed, error) {
	t.feedMu.Lock()
	defer t.feedMu.Unlock()
	if t.feed != nil {
		return nil, errFeedExists
	}
	f := &Feed{t: t, sig: &feedSignal{ch: make(chan struct{}, 1)}}
	queued := false
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		sh.fd = f.sig
		sh.dirty, sh.gone = sh.dirty[:0], sh.gone[:0]
		for idx := uint32(0); idx < sh.hi; idx++ {
			e := sh.at(idx)
			e.flags &^= flagQueued | flagSeen
			switch {
			case e.flags&flagLive == 0:
			case held:
				e.flags |= flagSeen
			default:
				e.flags |= flagQueued
				sh.dirty = append(sh.dirty, idx)
				queued = true
			}
		}
		sh.mu.Unlock()
	}
	if queued {
		f.sig.notify()
	}
	t.feed = f
	return f, nil
}

// Ready returns a channel that receives a value when changes may be
// waiting: after the first change that follows a Next call. The consumer
// waits on it, then calls Next until it returns fewer than it asked for.
func (f *Feed) Ready() <-chan struct{} { return f.sig.ch }

// Next appends to dst up to max changes and returns it. Within a shard of
// the table removals come before the sessions that changed, so applying
// the changes in order leaves the consumer with the table's state for
// every key returned, even when a key was removed and inserted again. It
// returns fewer than max changes only when none were left when it looked.
func (f *Feed) Next(dst []Change, max int) []Change {
	f.sig.raised.Store(false)
	start := len(dst)
	for n := 0; n < numShards && len(dst)-start < max; n++ {
		sh := &f.t.shards[f.next]
		sh.mu.Lock()
		dst = sh.drain(dst, start+max)
		more := len(sh.dirty) > 0 || len(sh.gone) > 0
		sh.mu.Unlock()
		if more {
			break // max reached within this shard: start here next time
		}
		f.next = (f.next + 1) % numShards
	}
	return dst
}

// Len returns the number of changes waiting (an upper bound: an entry
// changed and then removed before the consumer saw it counts once).
func (f *Feed) Len() int {
	n := 0
	for i := range f.t.shards {
		sh := &f.t.shards[i]
		sh.mu.RLock()
		n += len(sh.dirty) + len(sh.gone)
		sh.mu.RUnlock()
	}
	return n
}

// Close ends the feed: the table stops recording changes and a new Feed
// may be started. Close is idempotent.
func (f *Feed) Close() {
	t := f.t
	t.feedMu.Lock()
	defer t.feedMu.Unlock()
	if t.feed != f {
		return
	}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		sh.fd = nil
		sh.dirty, sh.gone = nil, nil
		sh.mu.Unlock()
	}
	t.feed = nil
}

// drain moves up to max-len(dst) of the shard's changes to dst, removals
// first; sh is locked.
func (sh *shard) drain(dst []Change, max int) []Change {
	n := 0
	for ; n < len(sh.gone) && len(dst) < max; n++ {
		dst = append(dst, Change{Session: Session{Key: sh.gone[n].unpack()}, Deleted: true})
	}
	sh.gone = sh.gone[:copy(sh.gone, sh.gone[n:])]
	if len(sh.gone) > 0 {
		return dst
	}
	n = 0
	for ; n < len(sh.dirty) && len(dst) < max; n++ {
		idx := sh.dirty[n]
		e := sh.at(idx)
		e.flags &^= flagQueued
		if e.flags&flagLive == 0 {
			continue // removed before the consumer saw it
		}
		e.flags |= flagSeen
		dst = append(dst, Change{})
		sh.get(e, idx, &dst[len(dst)-1].Session)
	}
	sh.dirty = sh.dirty[:copy(sh.dirty, sh.dirty[n:])]
	return dst
}
