package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/conntrack"
	"github.com/hakit/hakit/vmac"
)

// daemon is one running unit: a member.Driver (heartbeats, election,
// session sync, the ordered takeover) with the OS around it: the
// interfaces, the kernel's neighbours and conntrack table, the status
// server.
type daemon struct {
	cfg *config
	log *slog.Logger

	unit      *member.Driver
	table     *statesync.Table
	speaker   *garp.Driver
	neigh     heartbeat.NeighbourSource
	injector  *conntrack.Injector // with -conntrack
	keeper    *conntrack.Keeper   // with -conntrack: follows the kernel's table while primary
	status    *http.Server
	obs       observers // metrics, -notify, /events
	takeovers []vmac.Takeover
	moves     []garp.Move
	monitored []string     // interfaces whose link counts in the election
	local     []netip.Addr // this unit's own addresses
	links     transports   // for the drop counters (drops.go)
	vrrp      *member.VRRP // with -protocol vrrp

	checkClosers []io.Closer // the checks' probers (see checks.go)
	warm         warmStandby // with -conntrack-warm: the replica kept in the kernel

	bridges []*member.BridgeStep // with -bridge (bridge.go)

	mu     sync.Mutex
	events []string // recent role changes, newest last

	guard *macGuard // guard.go
}

// start checks the interfaces, clears what a crashed run may have left,
// and starts every part. On error everything started is closed again and
// nothing is left changed.
func start(cfg *config, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: log, table: statesync.NewTable(0)}
	d.table.SetLimit(cfg.MaxSessions)
	var hifs []member.Interface
	var sync *member.Sync
	defer func() {
		if err != nil {
			if d.unit == nil { // New closes what it was given
				closeParts(hifs, sync)
			}
			d.close()
		}
	}()
	ifis, err := d.interfaces()
	if err != nil {
		return nil, err
	}
	if err := d.clearCrash(); err != nil {
		return nil, err
	}
	if d.speaker, err = garp.NewDriver(&garp.Config{Router: true, Logger: log.With("part", "garp")}); err != nil {
		return nil, err
	}
	var ln net.Listener
	if cfg.Status != "" {
		if ln, err = net.Listen("tcp", cfg.Status); err != nil {
			return nil, fmt.Errorf("status server: %w", err)
		}
		defer func() {
			if d.status == nil {
				ln.Close()
			}
		}()
	}
	steps := []member.Step{
		member.Func("record own MACs", d.recordMACs, nil),
		member.Addresses(d.takeovers...),
		member.Announce(d.speaker, d.moves...),
	}
	if cfg.VIPLifetime != 0 {
		steps = slices.Insert(steps, 2, d.lifetimes())
	}
	if steps, err = d.withGuard(steps); err != nil {
		return nil, err
	}
	if cfg.Conntrack {
		// Dialled now, so that a takeover does not wait for it.
		if d.injector, err = conntrack.DialInjector(&conntrack.Config{Logger: log.With("part", "conntrack"), Guard: d.sessionGuard()}); err != nil {
			return nil, err
		}
		if d.local, err = localAddrs(); err != nil {
			return nil, err
		}
		// The sessions go into the kernel before the addresses come up; its
		// table is followed (and replicated) once the traffic is here.
		// A warm standby writes the replica into the kernel as it
		// changes (from the start, and again after a demotion), so that
		// the takeover writes only the last moments.
		var follow func(context.Context) error
		if cfg.ConntrackWarm {
			// After a demotion the kernel holds the table already.
			follow = func(context.Context) error { d.warm.start(d.injector.FollowChanges, d.table, d.log); return nil }
		}
		steps = slices.Insert(steps, 0, member.Func("conntrack injection", d.inject, follow))
		steps = append(steps, member.Func("conntrack follower",
			func(context.Context) error { return d.keeper.Start() },
			func(context.Context) error { return d.keeper.Stop() }))
	}
	if steps, err = d.bridgeSteps(steps); err != nil {
		return nil, err
	}
	if cfg.sync() {
		if sync, err = d.syncConfig(); err != nil {
			return nil, err
		}
	}
	d.neigh = heartbeat.KernelNeighbours()
	// Heartbeats on every critical interface; a local fault demotes the
	// unit only on one that carries traffic (virtual addresses).
	for _, name := range cfg.heartbeatIfaces() {
		hifs = append(hifs, member.Interface{Name: name, Addr: ownAddr(ifis[name]), ClusterOnly: !contains(cfg.vipIfaces(), name)})
		hi := &hifs[len(hifs)-1]
		if hi.Conn, err = heartbeat.ListenEthernet(ifis[name], heartbeat.DefaultEtherType); err != nil {
			return nil, fmt.Errorf("heartbeat on %s: %w", name, err)
		}
		d.links.heartbeat = append(d.links.heartbeat, *hi)
		if hi.Addr.IsValid() {
			if hi.Prober, err = heartbeat.NewProber(ifis[name]); err != nil {
				return nil, fmt.Errorf("prober on %s: %w", name, err)
			}
		}
	}
	mc := cfg.memberConfig()
	if mc.Roles, err = d.roleSource(ifis); err != nil {
		return nil, err
	}
	if mc.Epoch, err = bootEpoch(cfg.EpochFile); err != nil {
		return nil, err
	}
	mc.Interfaces, mc.Monitored, mc.Sync, mc.Steps = hifs, d.monitored, sync, steps
	mc.Logger, mc.OnEvent = log, d.onEvent
	if mc.Checks, d.checkClosers, err = memberChecks(cfg.Checks); err != nil {
		return nil, err
	}
	if err := d.startObservers(); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	// A MAC change or carrier loss flushes the kernel's cache; neighbours
	// seen in the last minutes still answer EIFD's probes, and so do the
	// hosts of the replicated sessions.
	mc.Heartbeat.Neighbours = heartbeat.RememberNeighbours(joinNeighbours{d.neigh, sessionNeighbours{d}}, 5*time.Minute, nil)
	if d.unit, err = member.New(mc); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if cfg.Conntrack {
		d.keeper = conntrack.NewKeeper(d.table, &conntrack.Config{Sink: d.unit, Filter: d.forwarded, Logger: log.With("part", "conntrack")})
	}
	if cfg.Conntrack && cfg.ConntrackWarm {
		d.warm.start(d.injector.Follow, d.table, log)
	}
	if err := d.unit.Start(); err != nil {
		return nil, err
	}
	if ln != nil {
		d.status = d.statusServer()
		go d.status.Serve(ln)
	}
	log.Info("started", "cluster", cfg.ClusterID, "unit", cfg.UnitID, "priority", cfg.Priority,
		"ifaces", cfg.Ifaces, "vips", len(cfg.VIPs), "vmac", cfg.VMAC, "sync", cfg.sync(), "conntrack", cfg.Conntrack)
	d.warnInsecure()
	return d, nil
}

// run waits until ctx is done, then hands the role over if this unit is
// primary and a peer is heard (SIGTERM: the planned handover).
func (d *daemon) run(ctx context.Context) {
	<-ctx.Done()
	if d.unit.Role() != hakit.Primary {
		d.log.Info("stopping")
		return
	}
	if d.vrrp != nil {
		d.log.Info("stopping: resigning as VRRP Master (priority 0)")
		return
	}
	d.log.Info("stopping: handing the role over")
	hctx, cancel := context.WithTimeout(context.Background(), 2*time.Second+10*d.cfg.Interval)
	defer cancel()
	switch err := d.unit.Handover(hctx); {
	case err == nil:
		d.log.Info("stopping: handover complete")
	case errors.Is(err, member.ErrNoPeer):
		d.log.Info("stopping: no peer to hand over to")
	default:
		d.log.Warn("stopping: handover not complete in time")
	}
}

// onEvent keeps the recent role changes for the status.
func (d *daemon) onEvent(e member.Event) {
	d.observe(e)
	if e.Kind != member.EventRoleChange {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, fmt.Sprintf("%s %v: %s", e.Time.UTC().Format(time.RFC3339Nano), e.To, e.Reason))
	if len(d.events) > 32 {
		d.events = d.events[1:]
	}
}

// close releases everything: the unit's steps go down in reverse, nothing
// is left on the system.
func (d *daemon) close() {
	if d.unit != nil {
		d.unit.Close()
	}
	d.closeBridges()
	d.mu.Lock()
	closeAll(d.checkClosers)
	d.checkClosers = nil
	d.mu.Unlock()
	d.closeObservers()
	d.guard.close()
	if d.speaker != nil {
		d.speaker.Stop()
	}
	if c, ok := d.neigh.(io.Closer); ok {
		c.Close()
	}
	d.warm.stop()
	if d.injector != nil {
		d.injector.Close()
	}
	if d.status != nil {
		d.status.Close()
	}
}

func closeParts(ifs []member.Interface, s *member.Sync) {
	for _, i := range ifs {
		if i.Conn != nil {
			i.Conn.Close()
		}
		if i.Prober != nil {
			i.Prober.Close()
		}
	}
	if s != nil && s.Transport != nil {
		s.Transport.Close()
	}
}
