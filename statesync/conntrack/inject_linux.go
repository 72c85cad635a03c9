package conntrack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	ct "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/statesync"
)

// Injector writes sessions into the kernel's conntrack table: on the
// standby, as they arrive (Follow) or at commit. It sends its requests in
// batches, hundreds per system call, with one acknowledgement per batch.
// It is safe for concurrent use (calls are serialised).
type Injector struct {
	cfg Config

	mu      sync.Mutex
	nl      *nlConn
	exp     *ct.Conn // creates expectations (expect_linux.go)
	stats   InjectorStats
	pend    []pending // the requests of the batch being built, in order
	redo    []pending // refused requests to send again in another form
	changes []statesync.Change
	scan    []statesync.Session
	warm    *warm // the table Follow keeps in step, if any
	// Result of the current flush: written and refused, and the first
	// refusal.
	wrote, refused int
	first          error
	// With refusedKeys not nil (while following), the keys of the
	// sessions the kernel refused are appended to it.
	refusedKeys *[]statesync.Key
}

// pending is a request of a batch.
type pending struct {
	s       statesync.Session
	timeout uint32
	form    form
	del     bool
	revived bool
	// undone: refused (and counted), nothing to delete, or sent again in
	// another form.
	undone bool
}

// DialInjector opens a netlink socket in the network namespace of the
// calling thread and returns an Injector writing to that namespace's
// conntrack table. A nil cfg means the defaults.
func DialInjector(cfg *Config) (*Injector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nl, err := dialNL()
	if err != nil {
		return nil, fmt.Errorf("conntrack: injector: %w", err)
	}
	exp, err := ct.Dial(nil)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("conntrack: injector: %w", err)
	}
	return &Injector{cfg: cfg.withDefaults(), nl: nl, exp: exp}, nil
}

// Close closes the socket. A running Follow returns.
func (in *Injector) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if w := in.warm; w != nil {
		in.warm = nil
		close(w.stop)
	}
	return errors.Join(in.nl.Close(), in.exp.Close())
}

// warmTable returns the table Follow keeps in step, if any.
func (in *Injector) warmTable() *statesync.Table {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.warm == nil {
		return nil
	}
	return in.warm.table
}

// Stats returns the counters.
func (in *Injector) Stats() InjectorStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

// timeout returns the timeout, in seconds, to write s with at now, and
// whether its deadline had passed; ok is false when the session is to be
// skipped (expired, no grace).
func (in *Injector) timeout(s *statesync.Session, now time.Time) (secs uint32, revived, ok bool) {
	if s.Expires == 0 {
		return durSecs(in.cfg.DefaultTimeout), false, true
	}
	left := int64(s.Expires) - now.Unix()
	var grace int64
	if in.cfg.Grace > 0 {
		grace = int64(durSecs(in.cfg.Grace))
	}
	if left <= 0 {
		if grace == 0 {
			return 0, false, false
		}
		return uint32(grace), true, true
	}
	return uint32(min(left+grace, 1<<31-1)), false, true
}

// durSecs rounds d up to whole seconds, at least 1, at most 2^31−1.
func durSecs(d time.Duration) uint32 {
	return uint32(min(max((d+time.Second-1)/time.Second, 1), 1<<31-1))
}

// add appends the writing of s to the batch, flushing the batch when full.
// The Config's Guard checks (and may change) a copy of s first.
func (in *Injector) add(now time.Time, orig *statesync.Session) error {
	c := *orig
	s := &c
	if err := in.cfg.Guard.Check(now, s); err != nil {
		in.stats.Refused++
		in.cfg.Logger.Debug("conntrack: replicated session refused", "key", s.Key, "err", err)
		return nil
	}
	if err := check(s); err != nil {
		in.stats.Skipped++
		in.cfg.Logger.Debug("conntrack: session skipped", "key", s.Key, "err", err)
		return nil
	}
	secs, revived, ok := in.timeout(s, now)
	if !ok {
		in.stats.Expired++
		return nil
	}
	in.pend = append(in.pend, pending{s: *s, timeout: secs, revived: revived})
	in.nl.m.appendWrite(in.nl.next(), 0, s, secs, formCreate)
	if in.nl.full() {
		return in.flush()
	}
	return nil
}

// addDelete appends the deletion of the entry of k to the batch.
func (in *Injector) addDelete(k statesync.Key) error {
	s := statesync.Session{Key: k}
	if check(&s) != nil {
		return nil
	}
	in.pend = append(in.pend, pending{s: s, del: true})
	in.nl.m.appendKeyed(msgCTDelete, in.nl.next(), 0, k)
	if in.nl.full() {
		return in.flush()
	}
	return nil
}

// flush sends the batch, and again in another form what the kernel refused
// to rewrite whole. It adds to in.wrote, in.refused and in.first, and
// returns an error only when the socket failed.
func (in *Injector) flush() error {
	for len(in.pend) > 0 {
		first := in.nl.seq - uint32(len(in.pend)) + 1
		in.redo = in.redo[:0]
		err := in.nl.flush(func(r reply) {
			i := int(r.Seq - first)
			if r.Errno == 0 || i < 0 || i >= len(in.pend) {
				return
			}
			p := &in.pend[i]
			p.undone = true
			switch {
			case p.del && r.Errno == unix.ENOENT:
				// Nothing to delete.
			case !p.del && p.form == formCreate && (r.Errno == unix.EOPNOTSUPP || r.Errno == unix.EBUSY):
				// The entry exists, with NAT bindings or status bits that
				// cannot be rewritten: update it in place.
				again := *p
				again.undone, again.form = false, formUpdate
				if r.Errno == unix.EBUSY {
					again.form = formUpdateNoStatus
				}
				in.redo = append(in.redo, again)
			case !p.del && p.form == formUpdate && r.Errno == unix.EBUSY:
				again := *p
				again.undone, again.form = false, formUpdateNoStatus
				in.redo = append(in.redo, again)
			default:
				in.refused++
				in.stats.Failed++
				if in.refusedKeys != nil && !p.del {
					*in.refusedKeys = append(*in.refusedKeys, p.s.Key)
				}
				if in.first == nil {
					in.first = fmt.Errorf("conntrack: write %v: %w", p.s.Key, r.Errno)
				}
				in.cfg.Logger.Warn("conntrack: kernel refused a session", "key", p.s.Key, "err", r.Errno)
			}
		})
		in.stats.Batches++
		if err != nil {
			in.stats.Failed += uint64(len(in.pend))
			in.refused += len(in.pend)
			in.pend = in.pend[:0]
			return err
		}
		for i := range in.pend {
			switch p := &in.pend[i]; {
			case p.undone:
			case p.del:
				in.stats.Deleted++
			default:
				in.wrote++
				in.stats.Injected++
				if p.form != formCreate {
					in.stats.Updated++
				}
				if p.revived {
					in.stats.Revived++
				}
				if p.s.NAT() {
					in.stats.InjectedNAT++
				}
			}
		}
		in.pend = in.pend[:0]
		for _, p := range in.redo {
			in.pend = append(in.pend, p)
			in.nl.m.appendWrite(in.nl.next(), 0, &p.s, p.timeout, p.form)
		}
	}
	return nil
}

// result returns what the flushes since the last call wrote, and the
// error to report: the first refusal, wrapped with their number.
func (in *Injector) result(total int, sockErr error) (int, error) {
	n, refused, first := in.wrote, in.refused, in.first
	in.wrote, in.refused, in.first = 0, 0, nil
	if sockErr != nil {
		return n, fmt.Errorf("conntrack: inject: %w", sockErr)
	}
	if first != nil {
		return n, fmt.Errorf("conntrack: %d of %d sessions not injected, the first: %w", refused, total, first)
	}
	return n, nil
}

// Inject writes each session into the kernel, creating it or updating the
// entry the kernel already has (its timeout, state, mark and status), and
// returns how many it wrote. The timeout is the time left until
// Session.Expires plus Config.Grace; a session whose deadline has passed
// gets Config.Grace (it is usually a busy flow: see the package doc).
// Sessions that cannot be converted are counted and skipped; sessions the
// kernel refuses are counted, and the first refusal is returned (wrapped,
// with the number of failures) after all sessions were tried.
func (in *Injector) Inject(now time.Time, sessions ...statesync.Session) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := range sessions {
		if err := in.add(now, &sessions[i]); err != nil {
			return in.result(len(sessions), err)
		}
	}
	return in.result(len(sessions), in.flush())
}

// Delete removes the session's entry from the kernel; a missing entry is
// not an error.
func (in *Injector) Delete(s statesync.Session) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := check(&s); err != nil {
		return err
	}
	if err := in.addDelete(s.Key); err != nil {
		_, err = in.result(1, err)
		return err
	}
	_, err := in.result(1, in.flush())
	return err
}

// Commit writes table into the kernel: the standby's last step before its
// addresses come up, after statesync.Driver.Commit. When Follow keeps the
// kernel in step with this table, only the changes it has not written yet
// are left (and Follow returns); otherwise every session is written, many
// per system call. It returns the number of sessions written.
func (in *Injector) Commit(now time.Time, table *statesync.Table) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	start := time.Now()
	if w := in.warm; w != nil && w.table == table {
		in.warm = nil
		close(w.stop)
		n, err := in.commitTail(now, w)
		in.writeExpects(now, table)
		if err == nil {
			in.cfg.Logger.Info("conntrack: committed the tail", "written", n, "sessions", table.Len(), "took", time.Since(start))
		} else {
			in.cfg.Logger.Error("conntrack: commit incomplete", "written", n, "err", err)
		}
		return n, err
	}
	n, err := in.writeAll(now, table)
	in.writeExpects(now, table)
	if err == nil {
		in.cfg.Logger.Info("conntrack: committed", "written", n, "sessions", table.Len(), "took", time.Since(start))
	} else {
		in.cfg.Logger.Error("conntrack: commit incomplete", "written", n, "err", err)
	}
	return n, err
}

// Resync writes every session of table into the kernel again, without
// stopping Follow: after an operator flushed the kernel's table, say. It
// returns the number of sessions written.
func (in *Injector) Resync(now time.Time, table *statesync.Table) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.writeAll(now, table)
}

// writeAll writes every session of table; in.mu is held. The table is
// read a few hundred sessions at a time, so memory does not grow with it.
func (in *Injector) writeAll(now time.Time, table *statesync.Table) (int, error) {
	var c statesync.Cursor
	for done := false; !done; {
		in.scan, c, done = table.Scan(in.scan[:0], c, 256)
		for i := range in.scan {
			if err := in.add(now, &in.scan[i]); err != nil {
				return in.result(table.Len(), err)
			}
		}
	}
	return in.result(table.Len(), in.flush())
}

// warm is the state of Follow.
type warm struct {
	table *statesync.Table
	feed  *statesync.Feed
	stop  chan struct{}
	// retry holds the keys of the sessions the kernel refused (a full
	// hash chain, say): Commit writes them again. lost is set when a batch
	// could not be written (the socket failed) or retry overflowed
	// (maxRetry): Commit then writes the whole table.
	retry []statesync.Key
	lost  bool
}

// maxRetry bounds the refused sessions a warm standby remembers.
const maxRetry = 65536

// Follow keeps the kernel's table in step with table (a standby's
// replica) as it changes: it writes every session the table holds, then
// each change (created, updated, removed) as it arrives, so that at
// takeover Commit only writes the last moments. Sessions get the same
// timeouts as from Inject, so a replica whose deadlines the active unit
// refreshes (its Follower does) keeps busy flows alive in this kernel too.
// Follow returns nil after Commit of this table, ctx.Err() when ctx is
// done, or an error if table already has a change feed or another table
// is being followed. It costs the standby the kernel entries (the memory
// the active unit's kernel uses for the same flows) and one netlink
// request per change, batched.
//
// Entries the kernel already had that the table does not hold are left
// to their own timeouts.
func (in *Injector) Follow(ctx context.Context, table *statesync.Table) error {
	return in.follow(ctx, table, table.Feed)
}

// FollowChanges is Follow for a kernel that already holds the table's
// sessions: a unit demoted from primary, whose table mirrored its kernel
// (a Follower's). It writes only what changes from now on (the new
// primary's bulk sync brings what differs), so that a takeover soon after
// the demotion does not wait for the whole table to be written again.
func (in *Injector) FollowChanges(ctx context.Context, table *statesync.Table) error {
	return in.follow(ctx, table, table.FeedChanges)
}

func (in *Injector) follow(ctx context.Context, table *statesync.Table, newFeed func() (*statesync.Feed, error)) error {
	feed, err := newFeed()
	if err != nil {
		return fmt.Errorf("conntrack: follow: %w", err)
	}
	defer feed.Close()
	w := &warm{table: table, feed: feed, stop: make(chan struct{})}
	in.mu.Lock()
	if in.warm != nil {
		in.mu.Unlock()
		return errors.New("conntrack: the injector follows another table already")
	}
	in.warm = w
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		if in.warm == w {
			in.warm = nil
		}
		in.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.stop:
			return nil
		case <-feed.Ready():
		}
		in.mu.Lock()
		if in.warm != w {
			in.mu.Unlock()
			return nil
		}
		n, err := in.drain(in.cfg.Now(), w)
		in.stats.Followed += uint64(n)
		in.mu.Unlock()
		if err != nil {
			in.cfg.Logger.Error("conntrack: following the replica", "err", err)
		}
	}
}

// drain writes the feed's changes until none are left; in.mu is held.
// The sessions the kernel refused go to w.retry.
func (in *Injector) drain(now time.Time, w *warm) (int, error) {
	const max = 512
	in.refusedKeys = &w.retry
	defer func() {
		in.refusedKeys = nil
		if len(w.retry) > maxRetry {
			w.lost, w.retry = true, w.retry[:0]
		}
	}()
	total := 0
	for {
		in.changes = w.feed.Next(in.changes[:0], max)
		total += len(in.changes)
		for i := range in.changes {
			c := &in.changes[i]
			var err error
			if c.Deleted {
				err = in.addDelete(c.Session.Key)
			} else {
				err = in.add(now, &c.Session)
			}
			if err != nil {
				w.lost = true
				return in.result(total, err)
			}
		}
		if len(in.changes) < max {
			break
		}
	}
	if err := in.flush(); err != nil {
		w.lost = true
		return in.result(total, err)
	}
	return in.result(total, nil)
}

// commitTail writes what Follow had not written yet, and again what the
// kernel refused while following; in.mu is held.
func (in *Injector) commitTail(now time.Time, w *warm) (int, error) {
	n, err := in.drain(now, w)
	if err == nil && !w.lost && len(w.retry) > 0 {
		// Refused again: counted and reported, as by Inject.
		var m int
		m, err = in.retry(now, w)
		n += m
	}
	in.stats.Tail = uint64(n)
	if !w.lost {
		return n, err
	}
	in.cfg.Logger.Warn("conntrack: some changes did not reach the kernel while following: writing the whole table", "err", err)
	return in.writeAll(now, w.table)
}

// retry writes the sessions of w.retry that the table still holds.
func (in *Injector) retry(now time.Time, w *warm) (int, error) {
	in.cfg.Logger.Info("conntrack: writing again the sessions the kernel refused while following", "sessions", len(w.retry))
	total := 0
	for _, k := range w.retry {
		s, ok := w.table.Get(k)
		if !ok {
			continue
		}
		total++
		if err := in.add(now, &s); err != nil {
			return in.result(total, err)
		}
	}
	w.retry = w.retry[:0]
	return in.result(total, in.flush())
}
