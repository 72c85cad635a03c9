package conntrack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit"

	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/statesync"
)

// Follower mirrors the kernel's conntrack table into a statesync.Table: a
// dump, then the kernel's events, and a periodic refresh of the deadlines
// of busy flows. Create it with DialFollower and call Run once.
type Follower struct {
	table     *statesync.Table
	cfg       Config
	events    *ct.Conn
	nl        *nlConn // dumps and the refresh's lookups
	ran       atomic.Bool
	closeOnce sync.Once
	resync    chan chan error

	// Used by Run's goroutine only.
	keys   []statesync.Key
	due    statesync.Cursor // where the refresh continues
	dueBuf []statesync.Session
	fresh  []statesync.Session
	gone   []bool
	// helped holds the keys of sessions with a helper: the kernel sends
	// no event when a NAT helper changes an entry's sequence
	// adjustments, so each refresh reads them (bounded by the table).
	helped map[statesync.Key]struct{}

	mu    sync.Mutex
	stats FollowerStats
}

// refreshMax bounds the sessions one refresh looks up in the kernel, so
// that events do not wait long behind it; the next refresh continues
// where it stopped.
const refreshMax = 16384

// DialFollower opens the two netlink sockets a Follower needs (one for the
// events, one for dumps and lookups) in the network namespace of the
// calling thread, and returns a Follower writing to table. A nil cfg means
// the defaults.
//
// Set net.netfilter.nf_conntrack_events=1 in that namespace: with the
// default 2 the kernel attaches event reporting only to entries created
// while some process listens, so entries older than the Follower would
// never report their destruction (DialFollower logs a warning; the
// refresh still finds them gone when their deadline comes).
func DialFollower(table *statesync.Table, cfg *Config) (*Follower, error) {
	if table == nil {
		return nil, fmt.Errorf("conntrack: follower without a table: %w", hakit.ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	events, err := ct.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("conntrack: dial events: %w", err)
	}
	nl, err := dialNL()
	if err != nil {
		events.Close()
		return nil, fmt.Errorf("conntrack: dial: %w", err)
	}
	f := &Follower{table: table, cfg: c, events: events, nl: nl, resync: make(chan chan error)}
	if f.cfg.Sink == nil {
		f.cfg.Sink = table
	}
	// With nf_conntrack_events=2 (the default since Linux 6.0) only
	// entries created while a listener exists report their changes.
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_events"); err == nil && strings.TrimSpace(string(b)) != "1" {
		f.cfg.Logger.Warn("conntrack: net.netfilter.nf_conntrack_events is not 1: entries created before the follower will not report their destruction",
			"value", strings.TrimSpace(string(b)))
	}
	return f, nil
}

// Stats returns the counters; safe to call at any time.
func (f *Follower) Stats() FollowerStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *Follower) count(fn func(*FollowerStats)) {
	f.mu.Lock()
	fn(&f.stats)
	f.mu.Unlock()
}

// Close closes the sockets; Run returns. Close is needed only when Run was
// never called or to stop it from another goroutine without a context.
func (f *Follower) Close() error {
	var err error
	f.closeOnce.Do(func() {
		err = errors.Join(f.events.Close(), f.nl.Close())
	})
	return err
}

// Resync dumps the kernel's table again and reconciles the table with it
// (conntrackd -R): sessions are written again and those the kernel no
// longer has are removed, through the Sink, so that a replica follows.
// It waits for Run to do it, and returns Run's error or ctx's.
func (f *Follower) Resync(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case f.resync <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run subscribes to the kernel's conntrack events, dumps the table,
// writes every session to the table (removing entries the dump does not
// contain, so that a new Follower reconciles a table an older one left),
// and then applies the events until ctx is done (it returns ctx.Err()) or
// the event stream breaks. Every Config.Refresh it looks up in the kernel
// the sessions whose deadline is near and writes the ones the kernel kept
// alive with their new deadline (see the package doc). When the kernel
// dropped events because the reader was too slow (ENOBUFS), or on any
// other socket error, Run returns an error: the table may have missed
// changes, and the caller dials a new Follower on the same table, whose
// dump repairs it. Run closes the sockets when it returns and may be
// called once.
func (f *Follower) Run(ctx context.Context) error {
	if !f.ran.CompareAndSwap(false, true) {
		return errors.New("conntrack: Follower.Run called twice")
	}
	evs := make(chan ct.Event, 1024)
	if err := f.events.SetReadBuffer(f.cfg.ReadBuffer); err != nil {
		f.cfg.Logger.Warn("conntrack: cannot set the event socket's buffer", "bytes", f.cfg.ReadBuffer, "err", err)
	}
	// Subscribe before dumping, so that no change falls between the two:
	// events queued meanwhile are applied after the dump, newer than it.
	errs, err := f.events.Listen(evs, 1, append(append([]netfilter.NetlinkGroup(nil), netfilter.GroupsCT...), netfilter.GroupsCTExp...))
	if err != nil {
		f.Close()
		return fmt.Errorf("conntrack: listen: %w", err)
	}
	defer func() {
		// The worker may be blocked handing over an event or an error:
		// drain both until Close has waited for it.
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-evs:
				case <-errs:
				case <-done:
					return
				}
			}
		}()
		f.Close()
		close(done)
	}()

	if err := f.dumpAll(); err != nil {
		return err
	}
	var tick <-chan time.Time
	if f.cfg.Refresh > 0 {
		t := time.NewTicker(f.cfg.Refresh)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-evs:
			f.apply(ev)
		case <-tick:
			if err := f.refresh(); err != nil {
				return err
			}
		case done := <-f.resync:
			err := f.dumpAll()
			done <- err
			if err != nil {
				return err
			}
		case err := <-errs:
			if errors.Is(err, unix.ENOBUFS) {
				f.count(func(s *FollowerStats) { s.Overruns++ })
				f.cfg.Logger.Error("conntrack: the kernel dropped events; the table needs a new dump", "err", err)
				return fmt.Errorf("conntrack: events lost (dial a new Follower to resync): %w", err)
			}
			f.count(func(s *FollowerStats) { s.OtherErrs++ })
			f.cfg.Logger.Error("conntrack: event stream broken", "err", err)
			return fmt.Errorf("conntrack: events: %w", err)
		}
	}
}

// convert turns a flow into a session, counting and logging flows that are
// skipped; ok is false for those.
func (f *Follower) convert(fl *ct.Flow) (statesync.Session, bool) {
	if fl.Status&ct.StatusDying != 0 {
		f.count(func(s *FollowerStats) { s.Skipped++ })
		return statesync.Session{}, false
	}
	s, err := FlowToSession(*fl, f.cfg.Now())
	if err != nil {
		f.count(func(s *FollowerStats) { s.Skipped++ })
		f.cfg.Logger.Debug("conntrack: flow skipped", "err", err)
		return s, false
	}
	return s, true
}

// keep reports whether the rules select s, counting those they do not.
func (f *Follower) keep(s *statesync.Session) bool {
	if f.cfg.keep(s) {
		return true
	}
	f.count(func(s *FollowerStats) { s.Filtered++ })
	return false
}

// dumpAll reads the kernel's table as a stream, upserting each flow, then
// removes the table's sessions the dump did not write: memory does not
// grow with the table.
func (f *Follower) dumpAll() error {
	f.table.Mark()
	n := 0
	f.nl.m.end(f.nl.m.begin(msgCTGet, unix.NLM_F_DUMP, f.nl.next(), unix.AF_UNSPEC))
	err := f.nl.dump(func(r reply) {
		fl, err := r.flow()
		if err != nil {
			f.count(func(s *FollowerStats) { s.Skipped++ })
			return
		}
		n++
		if s, ok := f.convert(&fl); ok && f.keep(&s) {
			f.upsert(s)
		}
	})
	f.count(func(s *FollowerStats) { s.Dumped += uint64(n); s.Dumps++ })
	if err != nil {
		return fmt.Errorf("conntrack: dump: %w", err)
	}
	var c statesync.Cursor
	for done := false; !done; {
		f.keys, c, done = f.table.Unmarked(f.keys[:0], c, 1024)
		for _, k := range f.keys {
			if old, ok := f.cfg.Sink.Delete(k); ok {
				f.count(func(s *FollowerStats) { s.Stale++; s.Deletes++ })
				f.changed(old, true)
			}
		}
	}
	f.cfg.Logger.Info("conntrack: dumped the kernel's table", "flows", n, "sessions", f.table.Len())
	return f.dumpExpects()
}

// refresh looks up the sessions whose deadline is within RefreshAhead and
// writes those the kernel kept alive with their new deadline, and removes
// those the kernel no longer has.
func (f *Follower) refresh() error {
	now := f.cfg.Now()
	by := statesync.Deadline(now.Add(f.cfg.RefreshAhead))
	budget := refreshMax
	for budget > 0 {
		var done bool
		f.dueBuf, f.due, done = f.table.ScanExpiring(f.dueBuf[:0], f.due, by, min(budget, batchGets))
		f.keys = f.keys[:0]
		for i := range f.dueBuf {
			f.keys = append(f.keys, f.dueBuf[i].Key)
		}
		budget -= len(f.keys)
		if err := f.lookup(now, f.keys); err != nil {
			return err
		}
		if done {
			f.due = 0
			break
		}
	}
	return f.refreshHelped(now, budget)
}

// refreshHelped looks up, within budget, the sessions with a helper, whose
// sequence adjustments change without an event.
func (f *Follower) refreshHelped(now time.Time, budget int) error {
	f.keys = f.keys[:0]
	for k := range f.helped {
		if _, ok := f.table.Get(k); !ok {
			delete(f.helped, k)
			continue
		}
		if budget--; budget < 0 {
			break
		}
		f.keys = append(f.keys, k)
		if len(f.keys) == batchGets {
			if err := f.lookup(now, f.keys); err != nil {
				return err
			}
			f.keys = f.keys[:0]
		}
	}
	return f.lookup(now, f.keys)
}

// lookup asks the kernel for the entries of keys in one batch.
func (f *Follower) lookup(now time.Time, keys []statesync.Key) error {
	if len(keys) == 0 {
		return nil
	}
	first := f.nl.seq + 1
	for _, k := range keys {
		f.nl.m.appendKeyed(msgCTGet, f.nl.next(), 0, k)
	}
	fresh := f.fresh[:0]
	gone := append(f.gone[:0], make([]bool, len(keys))...)
	defer func() { f.fresh, f.gone = fresh[:0], gone[:0] }()
	err := f.nl.flush(func(r reply) {
		i := int(r.Seq - first)
		if i < 0 || i >= len(keys) {
			return
		}
		if r.Errno == unix.ENOENT {
			gone[i] = true
			return
		}
		if r.Errno != 0 {
			return
		}
		fl, err := r.flow()
		if err != nil {
			return
		}
		s, err := FlowToSession(fl, now)
		if err == nil {
			fresh = append(fresh, s)
		}
	})
	if err != nil {
		return fmt.Errorf("conntrack: refresh: %w", err)
	}
	f.count(func(s *FollowerStats) { s.Checked += uint64(len(keys)) })
	for i, k := range keys {
		if gone[i] && f.table.Local(k) {
			if old, ok := f.cfg.Sink.Delete(k); ok {
				f.count(func(s *FollowerStats) { s.Vanished++; s.Deletes++ })
				f.changed(old, true)
			}
		}
	}
	for _, s := range fresh {
		old, ok := f.table.Get(s.Key)
		if !ok || s.Expires <= old.Expires+1 && (s.SeqAdj == old.SeqAdj || s.SeqAdj == [2]statesync.SeqAdj{}) {
			continue // as the table has it: an idle flow about to end
		}
		f.merge(&s, old, true)
		if !f.keep(&s) {
			f.remove(s.Key)
			continue
		}
		f.count(func(st *FollowerStats) { st.Refreshed++ })
		f.upsert(s)
	}
	return nil
}

// merge keeps in s what old has and s, from an event, lacks.
func (f *Follower) merge(s *statesync.Session, old statesync.Session, hasProto bool) {
	if !hasProto {
		s.State = old.State
	}
	if s.Expires == 0 {
		s.Expires = old.Expires
	}
	if s.Packets == 0 && s.Bytes == 0 {
		s.Packets, s.Bytes = old.Packets, old.Bytes
	}
	// The kernel reports the sequence adjustments only when they change.
	if s.SeqAdj == [2]statesync.SeqAdj{} {
		s.SeqAdj = old.SeqAdj
	}
}

func (f *Follower) apply(ev ct.Event) {
	if ev.Expect != nil {
		f.applyExpect(ev) // expect_linux.go
		return
	}
	if ev.Flow == nil {
		return
	}
	switch ev.Type {
	case ct.EventNew:
		f.count(func(s *FollowerStats) { s.New++ })
	case ct.EventUpdate:
		f.count(func(s *FollowerStats) { s.Updates++ })
	case ct.EventDestroy:
		f.count(func(s *FollowerStats) { s.Destroys++ })
		s, err := FlowToSession(*ev.Flow, f.cfg.Now())
		if err != nil {
			f.count(func(s *FollowerStats) { s.Skipped++ })
			return
		}
		f.remove(s.Key)
		return
	default:
		return
	}
	s, ok := f.convert(ev.Flow)
	if !ok {
		return
	}
	if old, found := f.table.Get(s.Key); found {
		// Events carry only what changed on some kernels: keep what the
		// event lacks.
		f.merge(&s, old, ev.Flow.ProtoInfo != (ct.ProtoInfo{}))
	}
	if !f.keep(&s) {
		f.remove(s.Key) // it may have passed before (a TCP state left the rules)
		return
	}
	f.upsert(s)
}

// remove deletes the session of k if it is this unit's (in active-active,
// the kernel also holds other units' sessions, written by an Injector: the
// Follower neither takes nor removes those).
func (f *Follower) remove(k statesync.Key) {
	if !f.table.Local(k) {
		return
	}
	if old, ok := f.cfg.Sink.Delete(k); ok {
		f.count(func(s *FollowerStats) { s.Deletes++ })
		f.changed(old, true)
	}
}

func (f *Follower) upsert(s statesync.Session) {
	if s.Helper != "" {
		if f.helped == nil {
			f.helped = make(map[statesync.Key]struct{})
		}
		f.helped[s.Key] = struct{}{}
	}
	s = f.cfg.Sink.Upsert(s)
	f.count(func(st *FollowerStats) { st.Upserts++ })
	f.changed(s, false)
}

func (f *Follower) changed(s statesync.Session, deleted bool) {
	if f.cfg.OnChange != nil {
		f.cfg.OnChange(s, deleted)
	}
}
