package main

import (
	"sync"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/notify"
)

// notifier is the -notify hook as the daemon holds it: a reload replaces
// it (a new command or timeout) while events flow. The hook replaced runs
// what it has queued and ends on its own; its counts stay in Stats, so
// the metrics' counters never go back.
type notifier struct {
	mu      sync.Mutex
	cur     *notify.Hook // nil: no -notify
	retired map[*notify.Hook]bool
	base    notify.HookStats // of the replaced hooks that have ended
	ending  sync.WaitGroup
}

// Observe hands e to the current hook, if any; it returns at once.
func (n *notifier) Observe(e member.Event) {
	n.mu.Lock()
	h := n.cur
	n.mu.Unlock()
	if h != nil {
		h.Observe(e)
	}
}

// set makes h (nil: none) the hook of the events from now on; the one it
// replaces finishes its queue in the background.
func (n *notifier) set(h *notify.Hook) {
	n.mu.Lock()
	old := n.cur
	n.cur = h
	if old != nil {
		if n.retired == nil {
			n.retired = map[*notify.Hook]bool{}
		}
		n.retired[old] = true
		n.ending.Add(1)
	}
	n.mu.Unlock()
	if old != nil {
		go func() {
			defer n.ending.Done()
			old.Close()
			n.mu.Lock()
			defer n.mu.Unlock()
			delete(n.retired, old)
			n.base = addHookStats(n.base, old.Stats())
		}()
	}
}

// Stats returns the totals of every hook this daemon ran.
func (n *notifier) Stats() notify.HookStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.base
	for h := range n.retired {
		s = addHookStats(s, h.Stats())
	}
	if n.cur != nil {
		s = addHookStats(s, n.cur.Stats())
	}
	return s
}

// close runs what every hook has queued, then stops them.
func (n *notifier) close() {
	n.set(nil)
	n.ending.Wait()
}

func addHookStats(a, b notify.HookStats) notify.HookStats {
	return notify.HookStats{Runs: a.Runs + b.Runs, Failed: a.Failed + b.Failed, TimedOut: a.TimedOut + b.TimedOut, Dropped: a.Dropped + b.Dropped}
}

// newHook returns the hook of h, or nil when it names no command.
func (d *daemon) newHook(h hookFlags) (*notify.Hook, error) {
	if h.Command == "" {
		return nil, nil
	}
	return notify.NewHook(&notify.HookConfig{Command: []string{"/bin/sh", "-c", h.Command},
		Cluster: d.cfg.ClusterID, Unit: d.cfg.UnitID, Timeout: h.Timeout, Logger: d.log})
}
