package conntrack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit/statesync"
)

// Pauses between Followers: the first, doubled after each quick failure up
// to the last.
const (
	keepPause    = 50 * time.Millisecond
	keepMaxPause = 5 * time.Second
)

// Keeper keeps a Follower running on a table, for as long as the unit is
// primary: each time one stops (the kernel dropped events because the
// reader fell behind, ENOBUFS, or its socket broke) it dials a new one
// after a pause (50 ms, doubled after each quick failure, up to 5 s), whose
// dump repairs the table, so replication never stalls silently. Each
// restart is logged and counted. Its methods are safe for concurrent use.
type Keeper struct {
	table *statesync.Table
	cfg   Config
	log   *slog.Logger
	dial  func() (runner, error)

	restarts atomic.Uint64
	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan error
}

// runner is what a Keeper needs of a Follower.
type runner interface {
	Run(context.Context) error
	Close() error
}

// NewKeeper returns a Keeper of Followers dialled with DialFollower(table,
// cfg).
func NewKeeper(table *statesync.Table, cfg *Config) *Keeper {
	c := cfg.withDefaults()
	k := &Keeper{table: table, cfg: c, log: c.Logger}
	k.dial = func() (runner, error) { return DialFollower(table, &k.cfg) }
	return k
}

// Start dials the first Follower and runs it, and its successors, on a
// goroutine of the Keeper's until Stop. It fails if that first dial fails
// (on platforms without conntrack, with an error wrapping
// ErrNotSupported). Starting a started Keeper does nothing.
func (k *Keeper) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cancel != nil {
		return nil
	}
	f, err := k.dial()
	if err != nil {
		return fmt.Errorf("conntrack: follower: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel, k.done = cancel, make(chan error, 1)
	go func() { k.done <- k.keep(ctx, f) }()
	return nil
}

// Stop stops the Follower running and waits for it. It returns the error
// that stopped the last one, if it was not the stop itself.
func (k *Keeper) Stop() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cancel == nil {
		return nil
	}
	k.cancel()
	err := <-k.done
	k.cancel = nil
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Restarts returns how many Followers were dialled again after one stopped.
func (k *Keeper) Restarts() uint64 { return k.restarts.Load() }

// keep runs f, and a new Follower each time one stops, until ctx is done.
func (k *Keeper) keep(ctx context.Context, f runner) error {
	pause := keepPause
	for {
		var err error
		if f != nil {
			began := time.Now()
			err = f.Run(ctx)
			f.Close()
			if time.Since(began) > 10*keepMaxPause {
				pause = keepPause // it ran well: not a crash loop
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		k.restarts.Add(1)
		k.log.Error("conntrack: follower stopped; a new one follows", "err", err, "after", pause)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, keepMaxPause)
		if f, err = k.dial(); err != nil {
			f = nil
			k.log.Error("conntrack: follower", "err", err)
		}
	}
}
