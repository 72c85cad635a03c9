package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/internal/link"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/vmac"
)

// The daemon's glue to the system it runs on: what a crashed run left,
// the interfaces' own MACs and addresses, the kernel's conntrack table.

// clearCrash removes what a run that crashed while primary left behind
// (the virtual MAC, addresses, macvlan children): a unit starts as a
// standby.
func (d *daemon) clearCrash() error {
	restored, err := vmac.Restore(d.macDir(), d.takeovers...)
	for _, r := range restored {
		from := "the record in " + d.macDir()
		if !r.Recorded {
			from = "random (no record)"
		}
		d.log.Warn("the interface kept the virtual MAC of a crashed run; own MAC restored",
			"iface", r.Interface, "mac", r.MAC.String(), "from", from)
	}
	if err != nil {
		return err
	}
	for _, t := range d.takeovers {
		if t.Macvlan != "" {
			if err := vmac.RemoveMacvlan(t.Macvlan); err != nil {
				return fmt.Errorf("remove stale macvlan %s: %w", t.Macvlan, err)
			}
		} else if err := vmac.RemoveVIPs(t.Interface, prefixAddrs(t.Prefixes)...); err != nil {
			return fmt.Errorf("remove stale virtual addresses on %s: %w", t.Interface, err)
		}
	}
	return nil
}

// macDir is where interface mode records the interfaces' own MACs: one
// directory per cluster and unit, as units of several clusters (or, on a
// test bed, several namespaces) may share -state-dir.
func (d *daemon) macDir() string {
	return filepath.Join(d.cfg.StateDir, fmt.Sprintf("c%d-u%d", d.cfg.ClusterID, d.cfg.UnitID))
}

// recordMACs records the interfaces' own MACs before the takeover, so that
// a restart after a crash puts them back. Not fatal: only a crash while
// primary needs the record.
func (d *daemon) recordMACs(context.Context) error {
	if err := vmac.Record(d.macDir(), d.takeovers...); err != nil {
		d.log.Error("recording the interfaces' own MACs", "dir", d.macDir(), "err", err)
	}
	return nil
}

// inject puts the committed sessions into the kernel's conntrack table:
// on a warm standby only what it had not written yet. An incomplete
// injection is logged, not fatal: the sessions it missed fail over as new
// ones would.
func (d *daemon) inject(context.Context) error {
	n, err := d.injector.Commit(time.Now(), d.table)
	d.warm.stop() // Commit ended it
	if err != nil {
		d.log.Error("conntrack injection incomplete", "injected", n, "err", err)
	} else {
		d.log.Info("sessions injected", "injected", n)
	}
	return nil
}

// forwarded is the conntrack follower's filter: the sessions the unit
// forwards, not those it terminates itself (its own addresses, loopback:
// the sync and status connections), as conntrackd's IgnoreTrafficFor.
func (d *daemon) forwarded(s *statesync.Session) bool {
	for _, a := range []netip.Addr{s.Key.Src.Addr(), s.Key.Dst.Addr()} {
		if a.IsLoopback() || slices.Contains(d.local, a.Unmap()) {
			return false
		}
	}
	return true
}

// localAddrs returns the addresses of every interface at start: the
// interfaces' own addresses (virtual ones are added later, and sessions to
// them are forwarded ones only with NAT, which this filter keeps).
func localAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// ownAddr returns the interface's first global unicast IPv4 address, else
// its first IPv6 one: the address heartbeats advertise for EIFD probes.
func ownAddr(ifi *net.Interface) netip.Addr {
	addrs, _ := link.Addrs(ifi)
	var v6 netip.Addr
	for _, a := range addrs {
		switch {
		case !a.IsGlobalUnicast():
		case a.Is4():
			return a
		case !v6.IsValid():
			v6 = a
		}
	}
	return v6
}

func prefixAddrs(ps []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, p := range ps {
		out = append(out, p.Addr())
	}
	return out
}

// bootEpoch returns this start's epoch from the counter in path (its
// directory created if missing).
func bootEpoch(path string) (uint64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("epoch file: %w", err)
	}
	return member.BootEpoch(path, time.Now())
}

// lifetimes is the step that gives the virtual addresses their kernel
// lifetime (-vip-lifetime) once they are up and refreshes it every third
// of it while they are held, so that a daemon killed while primary stops
// answering for them by itself. A refresh that fails is logged; the next
// one tries again.
func (d *daemon) lifetimes() member.Step {
	var stop chan struct{}
	var done chan struct{}
	refresh := func() error {
		var errs []error
		for _, t := range d.takeovers {
			ifname := cmp.Or(t.Macvlan, t.Interface)
			errs = append(errs, vmac.SetLifetime(ifname, d.cfg.VIPLifetime, t.Prefixes...))
		}
		return errors.Join(errs...)
	}
	return member.Func("address lifetimes",
		func(context.Context) error {
			if err := refresh(); err != nil {
				return err
			}
			stop, done = make(chan struct{}), make(chan struct{})
			go func(stop, done chan struct{}) {
				defer close(done)
				tick := time.NewTicker(d.cfg.VIPLifetime / 3)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if err := refresh(); err != nil {
							d.log.Error("refreshing the virtual addresses' lifetime", "err", err)
						}
					}
				}
			}(stop, done)
			return nil
		},
		func(context.Context) error {
			if stop != nil {
				close(stop)
				<-done
				stop = nil
			}
			return nil
		})
}

// warmStandby runs conntrack.Injector.Follow while the unit is a standby.
type warmStandby struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// start follows table into the kernel with follow (an Injector's Follow
// or FollowChanges), once the previous one ended.
func (w *warmStandby) start(follow func(context.Context, *statesync.Table) error, table *statesync.Table, log *slog.Logger) {
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w.cancel, w.done = cancel, done
	go func() {
		defer close(done)
		if err := follow(ctx, table); err != nil && ctx.Err() == nil {
			log.Error("conntrack: warm standby stopped; the takeover writes the whole table", "err", err)
		}
	}()
}

// stop ends a running Follow and waits for it.
func (w *warmStandby) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
		<-w.done
		w.cancel, w.done = nil, nil
	}
}
