package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
)

// HookConfig configures a Hook.
type HookConfig struct {
	// Command is the program and its arguments (required), run directly,
	// not by a shell: for a shell line, {"/bin/sh", "-c", line}.
	Command []string
	// Cluster and Unit are this unit's, for HAKIT_CLUSTER and HAKIT_UNIT.
	Cluster, Unit uint16
	// Timeout bounds each run: then the command and every process of its
	// process group are killed. Zero means 10 s, enough for a script that
	// calls a cloud API, short enough that a hung one does not hold up the
	// events after it for long.
	Timeout time.Duration
	// Queue is how many events may wait while a command runs; more are
	// dropped and counted. Zero means 64, a burst of role changes with
	// their verdicts, steps and sync events many times over.
	Queue int
	// Filter chooses the events that run the command; nil means Notable.
	Filter func(member.Event) bool
	// Logger receives a warning for every run that fails or times out,
	// one every 10 s at most for events dropped (with their count), and a
	// debug line for every run; nil discards them.
	Logger *slog.Logger
}

// HookStats are a Hook's running totals.
type HookStats struct {
	// Runs counts commands started, Failed those that exited non-zero or
	// could not start, TimedOut those killed at the timeout.
	Runs, Failed, TimedOut uint64
	// Dropped counts events not run because the queue was full or the Hook
	// closed.
	Dropped uint64
}

// Hook runs a command for every event it is given, one at a time, in
// order, off the caller's goroutine. Its methods are safe for concurrent
// use.
type Hook struct {
	cfg    HookConfig
	log    *slog.Logger
	queue  chan Record
	done   chan struct{}
	mu     sync.Mutex
	closed bool
	stats  HookStats
	warned time.Time // the last warning about drops
}

// NewHook returns a Hook running cfg.Command, or an error wrapping
// hakit.ErrConfig.
func NewHook(cfg *HookConfig) (*Hook, error) {
	if cfg == nil || len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, fmt.Errorf("notify: config: no command: %w", hakit.ErrConfig)
	}
	c := *cfg
	if c.Timeout < 0 || c.Queue < 0 {
		return nil, fmt.Errorf("notify: config: negative timeout %v or queue %d: %w", c.Timeout, c.Queue, hakit.ErrConfig)
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Queue == 0 {
		c.Queue = 64
	}
	if c.Filter == nil {
		c.Filter = Notable
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hook{cfg: c, log: log, queue: make(chan Record, c.Queue), done: make(chan struct{})}
	go h.loop()
	return h, nil
}

// Observe queues e for the command if the filter takes it, and returns
// at once.
func (h *Hook) Observe(e member.Event) {
	if !h.cfg.Filter(e) {
		return
	}
	r := NewRecord(h.cfg.Cluster, h.cfg.Unit, e)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		select {
		case h.queue <- r:
			return
		default:
		}
	}
	h.stats.Dropped++
	if now := time.Now(); now.Sub(h.warned) >= dropWarnEvery {
		h.warned = now
		h.log.Warn("notify: hook skipped: the commands before it are still running", "event", r.Kind, "dropped", h.stats.Dropped)
	}
}

// Stats returns the running totals.
func (h *Hook) Stats() HookStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// Close runs what is queued (each run still bounded by the timeout),
// then stops; later events are dropped. It is idempotent.
func (h *Hook) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.queue)
	}
	h.mu.Unlock()
	<-h.done
}

func (h *Hook) loop() {
	defer close(h.done)
	for r := range h.queue {
		h.run(r)
	}
}

// dropWarnEvery spaces the warnings about dropped events.
const dropWarnEvery = 10 * time.Second

// maxOutput is how much of a command's output is kept for the log.
const maxOutput = 1024

func (h *Hook) run(r Record) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.cfg.Command[0], h.cfg.Command[1:]...)
	cmd.Env = append(os.Environ(), r.Env()...)
	var out limited
	cmd.Stdout, cmd.Stderr = &out, &out
	killGroup(cmd)
	// Output pipes held open by a background child must not hold up the
	// next event: wait that long after the kill at most.
	cmd.WaitDelay = time.Second
	h.count(func(s *HookStats) { s.Runs++ })
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	switch {
	case ctx.Err() != nil:
		h.count(func(s *HookStats) { s.TimedOut++ })
		h.log.Warn("notify: hook timed out and was killed", "event", r.Kind, "command", h.cfg.Command[0],
			"timeout", h.cfg.Timeout, "output", out.String())
	case err != nil:
		h.count(func(s *HookStats) { s.Failed++ })
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			err = fmt.Errorf("cannot run: %w", err)
		}
		h.log.Warn("notify: hook failed", "event", r.Kind, "command", h.cfg.Command[0], "err", err, "output", out.String())
	default:
		h.log.Debug("notify: hook ran", "event", r.Kind, "command", h.cfg.Command[0], "took", took)
	}
}

func (h *Hook) count(f func(*HookStats)) {
	h.mu.Lock()
	f(&h.stats)
	h.mu.Unlock()
}

// limited keeps the first maxOutput bytes written to it.
type limited struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *limited) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := maxOutput - l.buf.Len(); n > 0 {
		l.buf.Write(p[:min(n, len(p))])
	}
	return len(p), nil
}

func (l *limited) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(bytes.TrimSpace(l.buf.Bytes()))
}
