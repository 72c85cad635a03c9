package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/clusterip"
	"github.com/hakit/hakit/statesync/conntrack"
	"github.com/hakit/hakit/vmac"
)

// Cluster modes (-cluster-mode).
const (
	modeActivePassive = "active-passive"
	modeActiveActive  = "active-active"
)

// aaFlags are the active-active mode's flags.
type aaFlags struct {
	mode    *string
	buckets *int
}

func activeActiveFlags(fs *flag.FlagSet) aaFlags {
	return aaFlags{
		mode:    fs.String("cluster-mode", modeActivePassive, "active-passive (the primary carries the traffic) or active-active (every unit carries its share, on a shared multicast MAC; needs -sync-peer or -sync-iface, -conntrack and IPv4 -vip addresses)"),
		buckets: fs.Int("buckets", statesync.DefaultBuckets, "with -cluster-mode active-active, the buckets the sessions are split into (1-1024, the same on every unit)"),
	}
}

// parse checks the mode's flags against the rest of c.
func (f aaFlags) parse(c *config) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, a...))
	}
	switch *f.mode {
	case modeActivePassive:
		return nil
	case modeActiveActive:
	default:
		return bad("-cluster-mode %q: want active-passive or active-active", *f.mode)
	}
	c.ActiveActive, c.Buckets = true, *f.buckets
	switch {
	case c.Buckets < 1 || c.Buckets > 1024:
		return bad("-buckets %d: out of range 1-1024", c.Buckets)
	case !c.sync() || !c.Conntrack:
		return bad("-cluster-mode active-active needs -conntrack and -sync-peer or -sync-iface: every unit holds the whole table")
	case len(c.VIPs) == 0:
		return bad("-cluster-mode active-active needs the cluster's addresses (-vip)")
	case c.VRRP != nil:
		return bad("-cluster-mode active-active and -protocol vrrp are exclusive")
	case len(c.Checks) > 0:
		return bad("-cluster-mode active-active: health checks are not supported in this mode yet")
	}
	for _, v := range c.VIPs {
		if !v.Prefix.Addr().Is4() {
			return bad("-vip %s: active-active mode is IPv4 only", v.Prefix)
		}
	}
	return nil
}

// aaNode is a unit of an active-active cluster: a member.ActiveActive with
// the kernel's share filter (package statesync/clusterip), its conntrack
// table followed for the sessions this unit owns and written with its
// peers', and the cluster addresses on every unit.
type aaNode struct {
	d        *daemon // the interfaces, the sync transport and the filters it shares with active-passive
	unit     *member.ActiveActive
	filter   *clusterip.Filter
	injector *conntrack.Injector
	keeper   *conntrack.Keeper
	stopWarm context.CancelFunc
	warmDone chan struct{}
	status   *http.Server

	mu    sync.Mutex
	share member.Share
}

// runActiveActive is run for -cluster-mode active-active.
func runActiveActive(ctx context.Context, cfg *config, log *slog.Logger, stderr io.Writer) int {
	n, err := startActiveActive(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "hanode: %v\n", err)
		if errors.Is(err, errConfig) {
			return 2
		}
		return 1
	}
	<-ctx.Done()
	log.Info("stopping: the peers take this unit's buckets")
	n.close()
	log.Info("stopped: everything released")
	return 0
}

func startActiveActive(cfg *config, log *slog.Logger) (_ *aaNode, err error) {
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_tcp_loose"); err == nil && strings.TrimSpace(string(b)) != "0" {
		// A unit that sees the middle of a connection it does not track
		// would take it for a new one, the wrong way round.
		return nil, fmt.Errorf("%w: active-active needs net.netfilter.nf_conntrack_tcp_loose=0", errConfig)
	}
	d := &daemon{cfg: cfg, log: log, table: statesync.NewTable(0)}
	d.table.SetLimit(cfg.MaxSessions)
	n := &aaNode{d: d}
	var hifs []member.Interface
	var sync *member.Sync
	defer func() {
		if err != nil {
			if n.unit == nil {
				closeParts(hifs, sync)
			}
			n.close()
		}
	}()
	ifis, err := d.interfaces()
	if err != nil {
		return nil, err
	}
	var ifcs []clusterip.Interface
	for i, t := range d.takeovers {
		t.MAC, t.Macvlan = nil, "" // the interfaces keep their own MACs
		d.takeovers[i] = t
		ifc := clusterip.Interface{Name: t.Interface, MAC: clusterip.MAC(cfg.ClusterID, uint8(i))}
		for _, p := range t.Prefixes {
			ifc.Addrs = append(ifc.Addrs, p.Addr())
		}
		ifcs = append(ifcs, ifc)
		if err := vmac.RemoveVIPs(t.Interface, prefixAddrs(t.Prefixes)...); err != nil {
			return nil, fmt.Errorf("remove stale cluster addresses on %s: %w", t.Interface, err)
		}
	}
	if n.filter, err = clusterip.New(&clusterip.Config{Cluster: cfg.ClusterID, Unit: cfg.UnitID, Interfaces: ifcs, Buckets: cfg.Buckets,
		Logger: log.With("part", "clusterip")}); err != nil {
		return nil, err
	}
	if n.injector, err = conntrack.DialInjector(&conntrack.Config{Logger: log.With("part", "conntrack"), Guard: d.sessionGuard()}); err != nil {
		return nil, err
	}
	if d.local, err = localAddrs(); err != nil {
		return nil, err
	}
	if sync, err = d.syncConfig(); err != nil {
		return nil, err
	}
	for _, name := range cfg.heartbeatIfaces() {
		hifs = append(hifs, member.Interface{Name: name, Addr: ownAddr(ifis[name])})
		hi := &hifs[len(hifs)-1]
		if hi.Conn, err = heartbeat.ListenEthernet(ifis[name], heartbeat.DefaultEtherType); err != nil {
			return nil, fmt.Errorf("heartbeat on %s: %w", name, err)
		}
		if hi.Addr.IsValid() {
			if hi.Prober, err = heartbeat.NewProber(ifis[name]); err != nil {
				return nil, fmt.Errorf("prober on %s: %w", name, err)
			}
		}
	}
	mc := cfg.memberConfig()
	if mc.Epoch, err = bootEpoch(cfg.EpochFile); err != nil {
		return nil, err
	}
	mc.Interfaces, mc.Sync, mc.Logger = hifs, sync, log
	mc.Heartbeat.Neighbours = heartbeat.RememberNeighbours(heartbeat.KernelNeighbours(), 5*time.Minute, nil)
	// The cluster addresses are up on every unit from the start: the
	// filter drops everything until the share gives this unit buckets.
	mc.Steps = []member.Step{member.Addresses(d.takeovers...)}
	if n.unit, err = member.NewActiveActive(mc, &member.ActiveActiveConfig{Buckets: cfg.Buckets, OnShare: n.onShare}); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	n.keeper = conntrack.NewKeeper(d.table, &conntrack.Config{Sink: n.unit, Logger: log.With("part", "conntrack"),
		Filter: func(s *statesync.Session) bool { return d.forwarded(s) && n.unit.Owns(s.Key) }})
	if err := n.startWarm(); err != nil {
		return nil, err
	}
	if err := n.unit.Start(); err != nil {
		return nil, err
	}
	if err := n.keeper.Start(); err != nil {
		return nil, err
	}
	if cfg.Status != "" {
		ln, err := net.Listen("tcp", cfg.Status)
		if err != nil {
			return nil, fmt.Errorf("status server: %w", err)
		}
		n.status = &http.Server{Handler: http.HandlerFunc(n.serveStatus), ReadHeaderTimeout: 5 * time.Second}
		go n.status.Serve(ln)
	}
	log.Info("started", "mode", modeActiveActive, "cluster", cfg.ClusterID, "unit", cfg.UnitID, "buckets", cfg.Buckets,
		"ifaces", cfg.Ifaces, "vips", len(cfg.VIPs))
	d.warnInsecure()
	return n, nil
}

// onShare writes a new share into the kernel, and adopts the sessions of
// the buckets this unit gained: they are its own from now on, replicated
// by it (and a peer coming back does not take them away with its bulk
// sync).
func (n *aaNode) onShare(s member.Share) {
	if err := n.filter.Set(s.Owners); err != nil {
		n.d.log.Error("the kernel's owner map was not written", "err", err)
	}
	n.mu.Lock()
	n.share = s
	n.mu.Unlock()
	n.d.log.Info("share", "units", fmt.Sprint(s.Units), "reason", s.Reason)
	self := n.d.cfg.UnitID
	adopted := 0
	n.d.table.Range(func(sess statesync.Session) bool {
		if s.Owner(sess.Key) == self && n.d.forwarded(&sess) {
			n.unit.Upsert(sess)
			adopted++
		}
		return true
	})
	if adopted > 0 {
		n.d.log.Debug("sessions of this unit's buckets replicated", "sessions", adopted)
	}
}

// startWarm writes the peers' sessions into the kernel as they arrive (a
// warm standby for their buckets): when one fails, this kernel already
// tracks the sessions it takes over. This unit's own sessions come from
// its kernel and are not written back.
func (n *aaNode) startWarm() error {
	feed, err := n.d.table.Feed()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stopWarm, n.warmDone = cancel, make(chan struct{})
	go func() {
		defer close(n.warmDone)
		defer feed.Close()
		var buf []statesync.Change
		var batch []statesync.Session
		for {
			select {
			case <-ctx.Done():
				return
			case <-feed.Ready():
			}
			for {
				buf = feed.Next(buf[:0], 512)
				if len(buf) == 0 {
					break
				}
				batch = batch[:0]
				for _, c := range buf {
					switch {
					case c.Deleted:
						if err := n.injector.Delete(c.Session); err != nil {
							n.d.log.Debug("conntrack: delete", "err", err)
						}
					case !n.unit.Owns(c.Session.Key) && n.d.forwarded(&c.Session):
						batch = append(batch, c.Session)
					}
				}
				if len(batch) > 0 {
					if _, err := n.injector.Inject(time.Now(), batch...); err != nil {
						n.d.log.Warn("conntrack: peers' sessions not all written", "err", err)
					}
				}
			}
		}
	}()
	return nil
}

// aaStatus is the status an active-active unit serves.
type aaStatus struct {
	Mode     string                  `json:"mode"`
	Unit     uint16                  `json:"unit"`
	Units    []uint16                `json:"units"`   // the units that carry traffic
	Mine     int                     `json:"mine"`    // this unit's buckets
	Reason   string                  `json:"reason"`  // of the last change of the share
	Changes  uint64                  `json:"changes"` // of the share, after the first
	Sessions int                     `json:"sessions"`
	Sync     []aaSyncPeer            `json:"sync"`
	Filter   clusterip.Stats         `json:"filter"`
	Injector conntrack.InjectorStats `json:"injector"`
}

type aaSyncPeer struct {
	Unit   uint16 `json:"unit"`
	InSync bool   `json:"in_sync"`
	Acked  bool   `json:"acked"`
}

func (n *aaNode) serveStatus(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	s := n.share
	n.mu.Unlock()
	st := aaStatus{Mode: modeActiveActive, Unit: n.d.cfg.UnitID, Units: s.Units, Reason: s.Reason, Changes: n.unit.Changes(),
		Sessions: n.d.table.Len(), Filter: n.filter.Stats(), Injector: n.injector.Stats()}
	for _, o := range s.Owners {
		if o == st.Unit {
			st.Mine++
		}
	}
	for _, p := range n.unit.Sync() {
		st.Sync = append(st.Sync, aaSyncPeer{Unit: p.Unit, InSync: p.InSync, Acked: p.Acked})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

// close releases everything: the heartbeats stop, the addresses go, the
// filter's tables are removed.
func (n *aaNode) close() {
	if n.status != nil {
		n.status.Close()
	}
	if n.keeper != nil {
		n.keeper.Stop()
	}
	if n.unit != nil {
		n.unit.Close()
	}
	if n.stopWarm != nil {
		n.stopWarm()
		<-n.warmDone
	}
	if n.filter != nil {
		n.filter.Close()
	}
	if n.injector != nil {
		n.injector.Close()
	}
}
