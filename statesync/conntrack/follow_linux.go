package conntrack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hakit/hakit"

	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/statesync"
)

// Follower mirrors the kernel's conntrack table into a statesync.Table: an
// initial dump, then the kernel's events. Create it with DialFollower and
// call Run once.
type Follower struct {
	table        *statesync.Table
	cfg          Config
	events, dump *ct.Conn
	ran          atomic.Bool
	closeOnce    sync.Once

	mu    sync.Mutex
	stats FollowerStats
}

// DialFollower opens the two netlink sockets a Follower needs (one for the
// events, one for the dump) in the network namespace of the calling
// thread, and returns a Follower writing to table. A nil cfg means the
// defaults.
//
// Set net.netfilter.nf_conntrack_events=1 in that namespace: with the
// default 2 the kernel attaches event reporting only to entries created
// while some process listens, so entries older than the Follower would
// never report their destruction (DialFollower logs a warning).
func DialFollower(table *statesync.Table, cfg *Config) (*Follower, error) {
	if table == nil {
		return nil, fmt.Errorf("conntrack: follower without a table: %w", hakit.ErrConfig)
	}
	events, err := ct.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("conntrack: dial events: %w", err)
	}
	dump, err := ct.Dial(nil)
	if err != nil {
		events.Close()
		return nil, fmt.Errorf("conntrack: dial dump: %w", err)
	}
	f := &Follower{table: table, cfg: cfg.withDefaults(), events: events, dump: dump}
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
		err = errors.Join(f.events.Close(), f.dump.Close())
	})
	return err
}

// Run subscribes to the kernel's conntrack events, dumps the table,
// writes every session to the table (removing entries the dump does not
// contain, so that a new Follower reconciles a table an older one left),
// and then applies the events until ctx is done (it returns ctx.Err()) or
// the event stream breaks. When the kernel dropped events because the
// reader was too slow (ENOBUFS), or on any other socket error, Run returns
// an error: the table may have missed changes, and the caller dials a new
// Follower on the same table, whose dump repairs it. Run closes the
// sockets when it returns and may be called once.
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
	errs, err := f.events.Listen(evs, 1, netfilter.GroupsCT)
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

	flows, err := f.dump.Dump(nil)
	if err != nil {
		return fmt.Errorf("conntrack: dump: %w", err)
	}
	f.applyDump(flows)
	f.cfg.Logger.Info("conntrack: dumped the kernel's table", "flows", len(flows), "sessions", f.table.Len())

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-evs:
			f.apply(ev)
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
func (f *Follower) convert(fl ct.Flow) (statesync.Session, bool) {
	if fl.Status.Value&ct.StatusDying != 0 {
		f.count(func(s *FollowerStats) { s.Skipped++ })
		return statesync.Session{}, false
	}
	s, err := FlowToSession(fl, f.cfg.Now())
	if err != nil {
		f.count(func(s *FollowerStats) { s.Skipped++ })
		f.cfg.Logger.Debug("conntrack: flow skipped", "err", err)
		return s, false
	}
	if f.cfg.Filter != nil && !f.cfg.Filter(&s) {
		f.count(func(s *FollowerStats) { s.Filtered++ })
		return s, false
	}
	return s, true
}

func (f *Follower) applyDump(flows []ct.Flow) {
	f.count(func(s *FollowerStats) { s.Dumped += uint64(len(flows)) })
	seen := make(map[statesync.Key]struct{}, len(flows))
	for _, fl := range flows {
		s, ok := f.convert(fl)
		if !ok {
			continue
		}
		seen[s.Key] = struct{}{}
		f.upsert(s)
	}
	var stale []statesync.Key
	f.table.Range(func(s statesync.Session) bool {
		if _, ok := seen[s.Key]; !ok {
			stale = append(stale, s.Key)
		}
		return true
	})
	for _, k := range stale {
		if old, ok := f.cfg.Sink.Delete(k); ok {
			f.count(func(s *FollowerStats) { s.Stale++; s.Deletes++ })
			f.changed(old, true)
		}
	}
}

func (f *Follower) apply(ev ct.Event) {
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
		if old, ok := f.cfg.Sink.Delete(s.Key); ok {
			f.count(func(s *FollowerStats) { s.Deletes++ })
			f.changed(old, true)
		}
		return
	default:
		return
	}
	s, ok := f.convert(*ev.Flow)
	if !ok {
		return
	}
	if old, found := f.table.Get(s.Key); found {
		// Events carry only what changed on some kernels: keep what the
		// event lacks.
		if ev.Flow.ProtoInfo == (ct.ProtoInfo{}) {
			s.State = old.State
		}
		if s.Expires == 0 {
			s.Expires = old.Expires
		}
		if s.Packets == 0 && s.Bytes == 0 {
			s.Packets, s.Bytes = old.Packets, old.Bytes
		}
	}
	f.upsert(s)
}

func (f *Follower) upsert(s statesync.Session) {
	s = f.cfg.Sink.Upsert(s)
	f.count(func(st *FollowerStats) { st.Upserts++ })
	f.changed(s, false)
}

func (f *Follower) changed(s statesync.Session, deleted bool) {
	if f.cfg.OnChange != nil {
		f.cfg.OnChange(s, deleted)
	}
}
