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
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/hbelect"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/link"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/conntrack"
	"github.com/hakit/hakit/vmac"
)

// daemon is one running unit. Its loop (run) is the only goroutine that
// feeds the election and changes the system; the heartbeat node, the
// election driver, the sync driver and the announcer run their own.
type daemon struct {
	cfg *config
	log *slog.Logger

	node    *heartbeat.Driver
	neigh   heartbeat.NeighbourSource
	elect   *election.Driver
	speaker *garp.Driver
	status  *http.Server

	takeovers []vmac.Takeover
	moves     []garp.Move
	monitored []string // interfaces whose link counts in the election

	// Fed by other goroutines, drained by the loop.
	qmu        sync.Mutex
	reports    []heartbeat.Report
	heard      []heartbeat.Heard // peers' candidates, newest round each time
	reannounce bool
	sendNow    bool // the candidate or role changed: tell the peers at once
	wake       chan struct{}

	// Loop state.
	tracker  *hbelect.Tracker
	payload  []byte
	held     *vmac.Handle        // the takeover, while primary
	injector *conntrack.Injector // with -conntrack, dialled at start
	local    []netip.Addr        // this unit's own addresses
	active   bool
	follower context.CancelFunc
	followed chan error

	// Set at start, never replaced: the one session table and its sync
	// Driver (sending as primary, receiving as standby).
	table *statesync.Table
	sync  *statesync.Driver

	// mu guards what the status server reads and the loop changes.
	mu       sync.Mutex
	events   []string // recent role changes, newest last
	failures uint64   // takeovers that failed and were retried

	followerRestarts atomic.Uint64 // conntrack followers dialled again
}

// start checks the interfaces, clears what a crashed run may have left,
// and starts every part. On error everything started is closed again and
// nothing is left changed.
func start(cfg *config, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: log, wake: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	var ifis []*net.Interface
	for _, name := range append(append([]string{}, cfg.Ifaces...), cfg.vipIfaces()...) {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("%w: interface %s: %w", errConfig, name, err)
		}
		if !contains(d.monitored, name) {
			d.monitored = append(d.monitored, name)
			ifis = append(ifis, ifi)
		}
	}
	if cfg.SyncIface != "" {
		if _, err := net.InterfaceByName(cfg.SyncIface); err != nil {
			return nil, fmt.Errorf("%w: -sync-iface %s: %w", errConfig, cfg.SyncIface, err)
		}
	}
	if err := d.plan(ifis); err != nil {
		return nil, err
	}

	// A unit starts as a standby: clear what a run that crashed while
	// primary left behind (the virtual MAC, addresses, macvlan children),
	// before the probers read the interfaces' own addresses.
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
		return nil, err
	}
	for _, t := range d.takeovers {
		if t.Macvlan != "" {
			if err := vmac.RemoveMacvlan(t.Macvlan); err != nil {
				return nil, fmt.Errorf("remove stale macvlan %s: %w", t.Macvlan, err)
			}
		} else if err := vmac.RemoveVIPs(t.Interface, prefixAddrs(t.Prefixes)...); err != nil {
			return nil, fmt.Errorf("remove stale virtual addresses on %s: %w", t.Interface, err)
		}
	}

	d.speaker, err = garp.NewDriver(&garp.Config{Router: true, Logger: log.With("part", "garp")})
	if err != nil {
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
	d.table = statesync.NewTable(0)
	if cfg.Conntrack {
		// Dialled now, so that a takeover does not wait for it.
		if d.injector, err = conntrack.DialInjector(&conntrack.Config{Logger: log.With("part", "conntrack")}); err != nil {
			return nil, err
		}
		if d.local, err = localAddrs(); err != nil {
			return nil, err
		}
	}
	if cfg.sync() {
		if err := d.startSync(); err != nil {
			return nil, err
		}
	}

	ecfg := cfg.electionConfig()
	ecfg.Logger = log.With("part", "election")
	if d.tracker, err = hbelect.New(&hbelect.Config{Interfaces: cfg.Ifaces, Demotes: d.carriesTraffic}); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if d.elect, err = election.NewDriver(ecfg, d.onOutput); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}

	hcfg := cfg.heartbeatConfig()
	hcfg.Logger = log.With("part", "heartbeat")
	hcfg.OnReport = d.onReport
	hcfg.OnHeard = d.onHeard
	d.neigh = heartbeat.KernelNeighbours()
	// A MAC change or carrier loss flushes the kernel's cache; neighbours
	// seen in the last minutes still answer EIFD's probes, and so do the
	// hosts of the replicated sessions.
	hcfg.Neighbours = heartbeat.RememberNeighbours(joinNeighbours{d.neigh, sessionNeighbours{d}}, 5*time.Minute, nil)
	var hifs []heartbeat.Interface
	for _, name := range cfg.Ifaces {
		ifi := ifis[indexOf(d.monitored, name)]
		hi := heartbeat.Interface{Name: name, Addr: ownAddr(ifi)}
		if hi.Conn, err = heartbeat.ListenEthernet(ifi, heartbeat.DefaultEtherType); err != nil {
			closeHB(hifs)
			return nil, fmt.Errorf("heartbeat on %s: %w", name, err)
		}
		if hi.Addr.IsValid() {
			if hi.Prober, err = heartbeat.NewProber(ifi); err != nil {
				hi.Conn.Close()
				closeHB(hifs)
				return nil, fmt.Errorf("prober on %s: %w", name, err)
			}
		}
		hifs = append(hifs, hi)
	}
	if d.node, err = heartbeat.NewDriver(hcfg, hifs...); err != nil {
		closeHB(hifs)
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	d.localStatus()
	d.updatePayload()
	d.elect.Start()
	if err := d.node.Start(); err != nil {
		return nil, err
	}
	if ln != nil {
		d.status = &http.Server{Handler: http.HandlerFunc(d.serveStatus), ReadHeaderTimeout: 5 * time.Second}
		go d.status.Serve(ln)
	}
	log.Info("started", "cluster", cfg.ClusterID, "unit", cfg.UnitID, "priority", cfg.Priority,
		"ifaces", cfg.Ifaces, "vips", len(cfg.VIPs), "vmac", cfg.VMAC, "sync", cfg.sync(), "conntrack", cfg.Conntrack)
	return d, nil
}

// macDir is where interface mode records the interfaces' own MACs (see
// vmac.Record): one directory per cluster and unit, as units of several
// clusters (or, on a test bed, several namespaces) may share -state-dir.
func (d *daemon) macDir() string {
	return filepath.Join(d.cfg.StateDir, fmt.Sprintf("c%d-u%d", d.cfg.ClusterID, d.cfg.UnitID))
}

// plan derives the takeover (virtual MAC and addresses) and the
// announcements of every virtual-address interface.
func (d *daemon) plan(ifis []*net.Interface) error {
	for i, name := range d.cfg.vipIfaces() {
		t := vmac.Takeover{Interface: name}
		var addrs []netip.Addr
		for _, v := range d.cfg.VIPs {
			if v.Iface == name {
				t.Prefixes = append(t.Prefixes, v.Prefix)
				addrs = append(addrs, v.Prefix.Addr())
			}
		}
		mv := garp.Move{Interface: name, Addrs: addrs, MAC: ifis[indexOf(d.monitored, name)].HardwareAddr}
		if d.cfg.VMAC != vmacOff {
			mac, err := vmac.LocalMAC(d.cfg.ClusterID, i)
			if err != nil {
				return fmt.Errorf("%w: virtual MAC: %w", errConfig, err)
			}
			t.MAC, mv.MAC = mac, mac
		}
		if d.cfg.VMAC == vmacMacvlan {
			t.Macvlan = fmt.Sprintf("hk%dv%d", d.cfg.ClusterID, i)
			mv.Interface = t.Macvlan
		}
		if len(mv.MAC) != 6 {
			return fmt.Errorf("%w: interface %s has no Ethernet address", errConfig, name)
		}
		d.takeovers = append(d.takeovers, t)
		d.moves = append(d.moves, mv)
	}
	return nil
}

// run is the daemon's loop: until ctx is done, then a graceful handover
// and the release of everything.
func (d *daemon) run(ctx context.Context) {
	period := max(d.cfg.Interval/4, time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	done := ctx.Done()
	var deadline <-chan time.Time
	for {
		select {
		case <-done:
			done = nil
			deadline = time.After(d.handoverBudget())
			if d.elect.Role() == hakit.Primary && d.peerAlive() {
				d.log.Info("stopping: handing the role over")
				d.elect.Handover()
			} else {
				d.log.Info("stopping")
				return
			}
		case <-deadline:
			d.log.Warn("stopping: handover not complete in time")
			return
		case <-d.wake:
		case <-tick.C:
		}
		d.step()
		if done == nil && d.elect.Role() != hakit.Primary && d.peerPrimary() {
			d.log.Info("stopping: handover complete")
			return
		}
	}
}

// handoverBudget is how long SIGTERM waits for a successor.
func (d *daemon) handoverBudget() time.Duration {
	return 2*time.Second + 10*d.cfg.Interval
}

// step feeds the election what happened and makes the system follow its
// role.
func (d *daemon) step() {
	d.qmu.Lock()
	reports, heard, reannounce, sendNow := d.reports, d.heard, d.reannounce, d.sendNow
	d.reports, d.heard, d.reannounce, d.sendNow = nil, nil, false, false
	d.qmu.Unlock()
	for _, r := range reports {
		d.report(r)
	}
	for _, h := range heard {
		if len(h.Payload) == 0 {
			continue // a peer that has not sent its candidate yet
		}
		if err := d.elect.ObserveBinary(h.Payload); err != nil {
			d.log.Warn("bad candidate", "peer", h.Peer, "err", err)
		}
	}
	d.localStatus()
	d.reconcile(reannounce)
	d.updatePayload()
	if sendNow {
		if err := d.node.SendNow(); err != nil {
			d.log.Warn("heartbeat: send now", "err", err)
		}
	}
}

// report hands a heartbeat report to the election, through the tracker
// (see package hbelect for the mapping).
func (d *daemon) report(r heartbeat.Report) {
	d.log.Info("heartbeat", "peer", r.Peer, "iface", r.Interface, "state", r.State, "reason", r.Reason)
	in := d.tracker.Report(r)
	for _, v := range in.Verdicts {
		if err := d.elect.Verdict(v); err != nil {
			d.log.Warn("verdict refused", "err", err)
		}
	}
	if in.Lost {
		d.elect.PeerLost(in.Peer)
	}
}

// carriesTraffic reports whether ifname carries virtual addresses: the
// interfaces whose EIFD local fault demotes the unit (a link only the
// cluster uses has the peer as its only neighbour: a cut looks the same
// from both units, and moving the role would not mend it).
func (d *daemon) carriesTraffic(ifname string) bool {
	return contains(d.cfg.vipIfaces(), ifname)
}

// localStatus tells the election how many monitored links are up and
// whether the session table is in sync.
func (d *daemon) localStatus() {
	var up uint16
	for _, name := range d.monitored {
		if ifi, err := net.InterfaceByName(name); err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0 {
			up++
		}
	}
	inSync := true
	if d.cfg.sync() {
		d.mu.Lock()
		inSync = d.sync != nil && (d.sync.Sending() || d.sync.InSync())
		d.mu.Unlock()
	}
	if d.elect != nil {
		d.elect.Local(election.Status{Monitored: up, InSync: inSync})
	}
}

// reconcile makes the system follow the role: take over when primary,
// release when not.
func (d *daemon) reconcile(reannounce bool) {
	primary := d.elect.Role() == hakit.Primary
	switch {
	case primary && !d.active:
		if err := d.takeOver(); err != nil {
			d.mu.Lock()
			d.failures++
			d.mu.Unlock()
			d.log.Error("takeover failed; retrying", "err", err)
		}
	case !primary && d.active:
		d.release()
	case !primary && d.cfg.sync() && !d.sync.Receiving() && !d.sync.Sending():
		// A takeover that committed and then failed: mirror the primary again.
		if err := d.sync.SetReceiving(true); err != nil {
			d.log.Error("session mirroring not started", "err", err)
		}
	case primary && reannounce:
		d.announce()
	}
}

// takeOver: commit the replicated sessions (into the kernel with
// conntrack), then the virtual MAC and addresses, then the announcements,
// then replicate this unit's table to the peer.
func (d *daemon) takeOver() error {
	start := time.Now()
	replicate := d.cfg.sync() && !d.sync.Sending()
	if replicate {
		res := d.sync.Commit()
		d.log.Info("sessions committed", "sessions", d.table.Len(), "in_sync", res.InSync, "lost", res.Lost)
		if d.injector != nil {
			n, err := d.injector.Commit(time.Now(), d.table)
			if err != nil {
				d.log.Error("conntrack injection incomplete", "injected", n, "err", err)
			} else {
				d.log.Info("sessions injected", "injected", n)
			}
		}
	}
	if err := vmac.Record(d.macDir(), d.takeovers...); err != nil {
		// Not fatal: only a crash while primary would need the record.
		d.log.Error("recording the interfaces' own MACs", "dir", d.macDir(), "err", err)
	}
	h, err := vmac.Apply(d.takeovers...)
	if err != nil {
		return err
	}
	d.setHeld(h)
	d.announce()
	d.log.Info("primary: addresses up", "took", time.Since(start))
	// Replication to the peer waits until the traffic has been moved: its
	// start dumps the kernel's table.
	if replicate {
		if err := d.setSending(true); err != nil {
			d.log.Error("session replication not started", "err", err)
		}
	}
	return nil
}

// announce starts (or restarts) the gratuitous ARP and NA bursts.
func (d *daemon) announce() {
	for _, m := range d.moves {
		if err := d.speaker.Announce(context.Background(), m); err != nil {
			d.log.Error("announce", "iface", m.Interface, "err", err)
		}
	}
}

// release: stop announcing at once, remove the addresses, restore the MAC,
// and mirror the new primary's table.
func (d *daemon) release() {
	d.speaker.Stop()
	d.releaseHeld()
	if d.cfg.sync() && d.sync.Sending() {
		if err := d.setSending(false); err != nil {
			d.log.Error("session mirroring not started", "err", err)
		}
	}
	d.log.Info("standby: addresses released")
}

// startSync opens the sync transport and its Driver, on the one table the
// unit keeps: receiving the primary's stream until the unit takes over.
func (d *daemon) startSync() error {
	var tr statesync.Transport
	var err error
	if d.cfg.SyncIface != "" {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(d.cfg.SyncIface); err == nil {
			tr, err = statesync.ListenEthernet(ifi, 0, d.cfg.SyncPeerMAC)
		}
	} else {
		tr, err = statesync.ListenUDP(d.cfg.SyncListen, d.cfg.SyncPeer)
	}
	if err != nil {
		return fmt.Errorf("sync transport: %w", err)
	}
	log := d.log.With("part", "statesync")
	dc := &statesync.DriverConfig{Transport: tr, Table: d.table, Keys: d.cfg.Keys, Receive: true, Logger: log,
		Sender: &statesync.SenderConfig{Logger: log}, Receiver: &statesync.ReceiverConfig{Logger: log}}
	if d.cfg.SyncIface != "" {
		dc.Sender.MTU = 1500
	}
	drv, err := statesync.NewDriver(dc)
	if err != nil {
		tr.Close()
		return err
	}
	d.sync = drv
	return nil
}

// setSending switches the sync direction: on, this unit's table goes to the
// peer (with the conntrack follower filling it); off, the unit mirrors the
// new primary's stream into the same table.
func (d *daemon) setSending(on bool) error {
	if !on {
		d.stopFollower()
		if err := d.sync.SetSending(false); err != nil {
			return err
		}
		return d.sync.SetReceiving(true)
	}
	if err := d.sync.SetSending(true); err != nil {
		return err
	}
	if !d.cfg.Conntrack {
		return nil
	}
	dial := func() (runner, error) {
		return conntrack.DialFollower(d.table, &conntrack.Config{Sink: d.sync, Filter: d.forwarded, Logger: d.log.With("part", "conntrack")})
	}
	f, err := dial()
	if err != nil {
		return fmt.Errorf("conntrack follower: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.follower, d.followed = cancel, make(chan error, 1)
	go func() { d.followed <- d.follow(ctx, f, dial) }()
	return nil
}

// runner is what follow needs of a conntrack.Follower.
type runner interface {
	Run(context.Context) error
	Close() error
}

// Pauses between conntrack followers: the first, doubled after each quick
// failure up to the last.
const (
	followPause    = 50 * time.Millisecond
	followMaxPause = 5 * time.Second
)

// follow runs f until ctx is done, and each time a follower stops (the
// kernel dropped events because the reader fell behind, ENOBUFS, or its
// socket broke) dials a new one after a pause: the new one's dump repairs
// the table, and replication never stalls silently. Each restart is logged
// and counted.
func (d *daemon) follow(ctx context.Context, f runner, dial func() (runner, error)) error {
	pause := followPause
	for {
		var err error
		if f != nil {
			began := time.Now()
			err = f.Run(ctx)
			f.Close()
			if time.Since(began) > 10*followMaxPause {
				pause = followPause // it ran well: not a crash loop
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.followerRestarts.Add(1)
		d.log.Error("conntrack follower stopped; a new one follows", "err", err, "after", pause)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, followMaxPause)
		if f, err = dial(); err != nil {
			f = nil
			d.log.Error("conntrack follower", "err", err)
		}
	}
}

func (d *daemon) stopFollower() {
	if d.follower != nil {
		d.follower()
		if err := <-d.followed; err != nil && !errors.Is(err, context.Canceled) {
			d.log.Warn("conntrack follower", "err", err)
		}
		d.follower = nil
	}
}

func (d *daemon) setHeld(h *vmac.Handle) {
	d.mu.Lock()
	d.held, d.active = h, true
	d.mu.Unlock()
}

func (d *daemon) releaseHeld() {
	d.mu.Lock()
	h := d.held
	d.held, d.active = nil, false
	d.mu.Unlock()
	if err := h.Release(); err != nil {
		d.log.Error("release", "err", err)
	}
}

// updatePayload puts the election's candidate and role in the heartbeats.
func (d *daemon) updatePayload() {
	if d.node == nil {
		return
	}
	d.payload = d.elect.AppendCandidate(d.payload[:0])
	if err := d.node.SetPayload(d.payload); err != nil {
		d.log.Error("heartbeat payload", "err", err)
	}
	if err := d.node.SetRole(d.elect.Role()); err != nil {
		d.log.Error("heartbeat role", "err", err)
	}
}

// peerAlive reports whether some peer is heard on some interface.
func (d *daemon) peerAlive() bool {
	for _, p := range d.node.Peers() {
		for _, l := range p.Links {
			if l.State == heartbeat.Alive {
				return true
			}
		}
	}
	return false
}

// peerPrimary reports whether a peer heard now advertises the primary role.
func (d *daemon) peerPrimary() bool {
	for _, p := range d.node.Peers() {
		for _, l := range p.Links {
			if p.Role == hakit.Primary && l.State == heartbeat.Alive {
				return true
			}
		}
	}
	return false
}

// onOutput is the election driver's handler: it logs and wakes the loop,
// which feeds the election.
func (d *daemon) onOutput(o election.Output) {
	if o.Changed {
		d.log.Info("role", "role", o.Role, "reason", o.Reason)
		d.mu.Lock()
		d.events = append(d.events, fmt.Sprintf("%s %v: %s", time.Now().UTC().Format(time.RFC3339Nano), o.Role, o.Reason))
		if len(d.events) > 32 {
			d.events = d.events[1:]
		}
		d.mu.Unlock()
	}
	for _, e := range o.Events {
		d.log.Debug("election event", "event", e)
	}
	d.qmu.Lock()
	d.reannounce = d.reannounce || o.ReAnnounce
	d.sendNow = d.sendNow || o.Send || o.Changed
	d.qmu.Unlock()
	d.poke()
}

// onHeard queues a peer's newest candidate for the loop.
func (d *daemon) onHeard(h heartbeat.Heard) {
	d.qmu.Lock()
	d.heard = append(d.heard, h)
	d.qmu.Unlock()
	d.poke()
}

// onReport queues a heartbeat report for the loop.
func (d *daemon) onReport(r heartbeat.Report) {
	d.qmu.Lock()
	d.reports = append(d.reports, r)
	d.qmu.Unlock()
	d.poke()
}

func (d *daemon) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close releases everything, in the reverse order of a takeover: nothing
// is left on the system.
func (d *daemon) close() {
	if d.elect != nil {
		d.elect.Close()
	}
	if d.speaker != nil {
		d.speaker.Stop()
	}
	d.releaseHeld()
	if d.node != nil {
		d.node.Close()
	}
	if c, ok := d.neigh.(io.Closer); ok {
		c.Close()
	}
	d.stopFollower()
	if d.sync != nil {
		d.sync.Close()
	}
	if d.injector != nil {
		d.injector.Close()
	}
	if d.status != nil {
		d.status.Close()
	}
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

func closeHB(ifs []heartbeat.Interface) {
	for _, i := range ifs {
		i.Conn.Close()
		if i.Prober != nil {
			i.Prober.Close()
		}
	}
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

func indexOf(s []string, x string) int {
	for i, y := range s {
		if y == x {
			return i
		}
	}
	return -1
}
