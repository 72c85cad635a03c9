package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/deliver"
	"github.com/hakit/hakit/statesync"
)

// ActiveActiveConfig is what an active-active unit adds to its Config.
type ActiveActiveConfig struct {
	// Buckets is the number of buckets the sessions are split into (1 to
	// 1024); zero means statesync.DefaultBuckets. Every unit must use the
	// same, and so must the kernel's filter.
	Buckets int
	// OnShare, if not nil, is called with every new Share (the first one
	// at Start, with no unit until this unit has heard its peers or waited
	// for them), in order, with no lock held: typically it writes the
	// kernel's owner map (package statesync/clusterip). It may call any
	// method of the ActiveActive.
	OnShare func(Share)
}

// ActiveActive runs one unit of an active-active cluster: every unit
// carries traffic, each owns the sessions of its buckets, and each
// replicates the sessions it owns to every other unit and holds the whole
// table. Its heartbeats (the Config's Interfaces, Heartbeat, Keys) tell it
// which units are alive; the buckets are dealt out evenly over the units
// the sync peers name (statesync.DealBuckets; a Schedule over the live
// units, statesync.Schedule.Buckets, with an unnamed peer), alike on every
// unit, so that when a unit fails, its buckets, and only its, move to the
// others, and when it comes back it takes them back.
// Session sync (Config.Sync, required) runs both halves towards every
// peer all the time (statesync.DriverConfig.ActiveActive): there is no
// commit at takeover, since every unit's table already holds every
// session.
//
// The Config's Steps come up at Start, in order, and go down at Close, in
// reverse: every unit holds the cluster's addresses all the time. Its
// Roles, Witness, Checks and Monitored are not used (rejected when set).
type ActiveActive struct {
	cfg     Config
	aa      ActiveActiveConfig
	clk     hakit.Clock
	log     *slog.Logger
	hb      *heartbeat.Driver
	sync    *statesync.Driver
	table   *statesync.Table
	shares  *deliver.Queue[Share]
	current atomic.Pointer[Share]

	mu      sync.Mutex
	r       *roster
	up      []Step // the steps that are up, in order
	changes uint64 // shares delivered after the first
	started bool
	closed  bool
	stop    func() bool
}

// NewActiveActive returns an active-active unit for cfg and aa; Start
// starts it. It owns the interfaces' Conns and Probers and the sync
// transport from now on: Close closes them, and so does NewActiveActive
// when it fails.
func NewActiveActive(cfg *Config, aa *ActiveActiveConfig) (_ *ActiveActive, err error) {
	c := cfg.withDefaults()
	defer func() {
		if err != nil {
			closeAll(&c)
		}
	}()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("member: active-active: "+format+": %w", append(args, hakit.ErrConfig)...)
	}
	var a ActiveActiveConfig
	if aa != nil {
		a = *aa
	}
	if a.Buckets == 0 {
		a.Buckets = statesync.DefaultBuckets
	}
	switch {
	case a.Buckets < 1 || a.Buckets > 1024:
		return nil, bad("%d buckets, want 1 to 1024", a.Buckets)
	case c.Sync == nil:
		return nil, bad("session sync is required: every unit holds the whole table")
	case c.Roles != nil || c.Witness != nil:
		return nil, bad("a role source or a witness: every unit carries traffic, there is no role to decide")
	case len(c.Checks) > 0 || len(c.Monitored) > 0:
		return nil, bad("checks and monitored interfaces are not supported in active-active mode yet")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Clock == nil {
		c.Clock = hakit.RealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	d := &ActiveActive{cfg: c, aa: a, clk: c.Clock, log: c.Logger}
	d.table = c.Sync.Table
	if d.table == nil {
		d.table = statesync.NewTable(0)
	}
	// Every unit of the cluster, when the sync peers name theirs: the
	// buckets are dealt out evenly over them (statesync.DealBuckets).
	all := []uint16{c.UnitID}
	for _, p := range c.Sync.Peers {
		if p.Unit == 0 {
			all = nil
			break
		}
		all = append(all, p.Unit)
	}
	if len(all) == 1 {
		all = nil // an unnamed point-to-point peer
	}
	d.r = newRoster(d.clk.Now(), c.UnitID, all, a.Buckets, c.ElectionConfig().InitialWait)
	d.current.Store(&Share{Owners: make([]uint16, a.Buckets)})
	if a.OnShare != nil {
		d.shares = deliver.New(d.clk, a.OnShare)
	}
	if d.sync, err = statesync.NewDriver(&statesync.DriverConfig{
		Transport: c.Sync.Transport, Table: d.table, Keys: c.Keys, Send: true, Receive: true, ActiveActive: true,
		Cluster: c.ClusterID, Unit: c.UnitID, Peers: c.Sync.Peers,
		Sender:   &statesync.SenderConfig{MTU: c.Sync.MTU, Epoch: c.Epoch, Filter: func(s *statesync.Session) bool { return d.Owns(s.Key) }},
		Receiver: &statesync.ReceiverConfig{Epoch: c.Epoch},
		Clock:    c.Clock, TickInterval: c.Sync.TickInterval, Logger: d.log.With("part", "statesync"),
	}); err != nil {
		return nil, err
	}
	hc := c.heartbeatConfig()
	hc.Role = hakit.Primary // every unit carries traffic
	hc.Clock, hc.Logger = c.Clock, d.log.With("part", "heartbeat")
	hc.OnReport = d.onReport
	var ifs []heartbeat.Interface
	for _, ifc := range c.Interfaces {
		ifs = append(ifs, heartbeat.Interface{Name: ifc.Name, Addr: ifc.Addr, Conn: ifc.Conn, Prober: ifc.Prober})
	}
	if d.hb, err = heartbeat.NewDriver(hc, ifs...); err != nil {
		d.sync.Close()
		return nil, err
	}
	return d, nil
}

// Start brings the steps up, in order, then starts the heartbeats. If a
// step fails, those before it go down in reverse and Start returns the
// error; the unit is then closed.
func (d *ActiveActive) Start() error {
	d.mu.Lock()
	if d.closed || d.started {
		d.mu.Unlock()
		return fmt.Errorf("member: active-active: start: %w", ErrClosed)
	}
	d.started = true
	d.mu.Unlock()
	if d.cfg.Keys == nil {
		d.log.Warn("member: heartbeats and session sync are NOT authenticated: set a key")
	}
	d.tick() // the first share: nobody, until the peers are heard
	for _, s := range d.cfg.Steps {
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.StepTimeout)
		err := s.Up(ctx)
		cancel()
		if err != nil {
			d.log.Error("member: step failed", "step", s.Name(), "err", err)
			d.Close()
			return fmt.Errorf("member: step %s: %w", s.Name(), err)
		}
		d.mu.Lock()
		d.up = append(d.up, s)
		d.mu.Unlock()
	}
	d.log.Info("member: started active-active", "cluster", d.cfg.ClusterID, "unit", d.cfg.UnitID, "buckets", d.aa.Buckets)
	// The wait for the peers starts with the heartbeats, not before the
	// steps.
	d.mu.Lock()
	d.r.wait = d.clk.Now().Add(d.cfg.ElectionConfig().InitialWait)
	if d.stop != nil {
		d.stop()
		d.stop = nil
	}
	d.mu.Unlock()
	if err := d.hb.Start(); err != nil {
		return err
	}
	d.tick()
	return nil
}

// onReport takes a heartbeat report.
func (d *ActiveActive) onReport(r heartbeat.Report) {
	d.mu.Lock()
	d.r.report(r)
	d.mu.Unlock()
	d.tick()
}

// tick recomputes the share, and arms the timer for the end of the
// initial wait.
func (d *ActiveActive) tick() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	now := d.clk.Now()
	s, changed := d.r.tick(now)
	if !d.r.joined && d.stop == nil {
		d.stop = d.clk.AfterFunc(d.r.wait.Sub(now), func() {
			d.mu.Lock()
			d.stop = nil
			d.mu.Unlock()
			d.tick()
		})
	}
	if changed {
		if d.current.Load().At != (time.Time{}) {
			d.changes++
		}
		d.current.Store(&s)
		d.log.Info("member: share changed", "units", fmt.Sprint(s.Units), "reason", s.Reason)
		if d.shares != nil {
			d.shares.Push(s)
		}
	}
	d.mu.Unlock()
}

// Changes returns how many times the share changed after the first one.
func (d *ActiveActive) Changes() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changes
}

// Share returns the current share.
func (d *ActiveActive) Share() Share { return *d.current.Load() }

// Owns reports whether this unit owns the session with key k now.
func (d *ActiveActive) Owns(k statesync.Key) bool {
	s := d.current.Load()
	return s.Owner(k) == d.cfg.UnitID
}

// Table returns the session table: this unit's sessions and every peer's.
func (d *ActiveActive) Table() *statesync.Table { return d.table }

// Upsert stores s in the table and replicates it to every peer; it
// returns the session as stored. Call it for the sessions this unit owns
// (Owns): a kernel follower's filter.
func (d *ActiveActive) Upsert(s statesync.Session) statesync.Session { return d.sync.Upsert(s) }

// Delete removes the session with key k and replicates the deletion.
func (d *ActiveActive) Delete(k statesync.Key) (statesync.Session, bool) { return d.sync.Delete(k) }

// Sync returns the session replication's peers' state.
func (d *ActiveActive) Sync() []statesync.PeerStatus { return d.sync.Peers() }

// Close stops the heartbeats (the peers take this unit's buckets when
// they notice), brings the steps down in reverse and closes the
// transports.
func (d *ActiveActive) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	if d.stop != nil {
		d.stop()
	}
	up := d.up
	d.up = nil
	d.mu.Unlock()
	err := d.hb.Close()
	for i := len(up) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.StepTimeout)
		if e := up[i].Down(ctx); e != nil {
			d.log.Error("member: step down failed", "step", up[i].Name(), "err", e)
			err = errors.Join(err, e)
		}
		cancel()
	}
	err = errors.Join(err, d.sync.Close())
	if d.shares != nil {
		d.shares.Close()
	}
	return err
}
