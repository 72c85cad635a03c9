package conntrack

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/statesync"
)

// Injector writes sessions into the kernel's conntrack table: on the
// standby, at the latest at commit. It is safe for concurrent use (calls
// are serialised).
type Injector struct {
	cfg  Config
	conn *ct.Conn
	nf   *netfilter.Conn // for NAT sessions: see natCreateMessage

	mu    sync.Mutex
	stats InjectorStats
}

// DialInjector opens a netlink socket in the network namespace of the
// calling thread and returns an Injector writing to that namespace's
// conntrack table. A nil cfg means the defaults.
func DialInjector(cfg *Config) (*Injector, error) {
	c, err := ct.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("conntrack: dial: %w", err)
	}
	nf, err := netfilter.Dial(nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("conntrack: dial: %w", err)
	}
	return &Injector{cfg: cfg.withDefaults(), conn: c, nf: nf}, nil
}

// Close closes the sockets.
func (in *Injector) Close() error { return errors.Join(in.conn.Close(), in.nf.Close()) }

// Stats returns the counters.
func (in *Injector) Stats() InjectorStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

// Inject creates each session in the kernel, or updates it when the kernel
// already has it (its timeout, state, mark and status), and returns how
// many it created or updated. Each is checked by the Config's Guard
// first. Sessions the Guard refuses, that expired or that cannot be
// converted are counted and skipped; sessions the kernel refuses are
// counted, and the first refusal is returned (wrapped, with the number of
// failures) after all sessions were tried.
func (in *Injector) Inject(now time.Time, sessions ...statesync.Session) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var (
		n, failed int
		first     error
	)
	for i := range sessions {
		err := in.inject(now, &sessions[i])
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrExpired), errors.Is(err, ErrUnsupportedFlow), errors.Is(err, ErrRefused):
		default:
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return n, fmt.Errorf("conntrack: %d of %d sessions not injected, the first: %w", failed, len(sessions), first)
	}
	return n, nil
}

// Commit injects every session of table (see Inject): the standby's last
// step before its addresses come up, after statesync.Receiver.Commit.
func (in *Injector) Commit(now time.Time, table *statesync.Table) (int, error) {
	var (
		batch []statesync.Session
		n     int
		errs  error
	)
	flush := func() {
		k, err := in.Inject(now, batch...)
		n += k
		if err != nil && errs == nil {
			errs = err
		}
		batch = batch[:0]
	}
	table.Range(func(s statesync.Session) bool {
		batch = append(batch, s)
		if len(batch) == 1024 {
			flush()
		}
		return true
	})
	flush()
	if errs != nil {
		in.cfg.Logger.Error("conntrack: commit incomplete", "injected", n, "err", errs)
	} else {
		in.cfg.Logger.Info("conntrack: committed", "injected", n, "sessions", table.Len())
	}
	return n, errs
}

func (in *Injector) inject(now time.Time, orig *statesync.Session) error {
	c := *orig
	s := &c
	if err := in.cfg.Guard.Check(now, s); err != nil {
		in.stats.Refused++
		in.cfg.Logger.Debug("conntrack: replicated session refused", "key", s.Key, "err", err)
		return err
	}
	f, err := SessionToFlow(*s, now, in.cfg.DefaultTimeout)
	switch {
	case errors.Is(err, ErrExpired):
		in.stats.Expired++
		return err
	case err != nil:
		in.stats.Skipped++
		in.cfg.Logger.Debug("conntrack: session skipped", "key", s.Key, "err", err)
		return err
	}
	if s.NAT() {
		var msg netlink.Message
		if msg, err = natCreateMessage(s, f); err == nil {
			_, err = in.nf.Query(msg)
		}
	} else {
		err = in.conn.Create(f)
	}
	if errors.Is(err, unix.EEXIST) {
		err = in.update(f)
		if err == nil {
			in.stats.Updated++
		}
	} else if err == nil {
		in.stats.Created++
	}
	if err != nil {
		in.stats.Failed++
		in.cfg.Logger.Warn("conntrack: kernel refused a session", "key", s.Key, "err", err)
		return fmt.Errorf("conntrack: inject %v: %w", s.Key, err)
	}
	if s.NAT() {
		in.stats.InjectedNAT++
	}
	return nil
}

// update changes an existing entry. The kernel cannot clear SEEN_REPLY or
// ASSURED (EBUSY): when the existing entry has a bit the session lacks,
// the update is retried without the status.
func (in *Injector) update(f ct.Flow) error {
	// The original tuple identifies the entry; its tuples and NAT
	// bindings cannot change.
	f.TupleReply = ct.Tuple{}
	err := in.conn.Update(f)
	if errors.Is(err, unix.EBUSY) {
		f.Status = ct.Status{}
		err = in.conn.Update(f)
	}
	return err
}

// Delete removes the session's entry from the kernel; a missing entry is
// not an error.
func (in *Injector) Delete(s statesync.Session) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	s.Expires = 0 // an expired session may still have an entry
	f, err := SessionToFlow(s, in.cfg.Now(), in.cfg.DefaultTimeout)
	if err != nil {
		return err
	}
	err = in.conn.Delete(ct.Flow{TupleOrig: f.TupleOrig, Zone: f.Zone})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("conntrack: delete %v: %w", s.Key, err)
	}
	in.stats.Deleted++
	return nil
}
