package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// Errors of the Driver.
var (
	// ErrClosed is returned by the methods of a closed Driver.
	ErrClosed = errors.New("member: closed")
	// ErrNoPeer is returned by Handover when no peer is heard: there is
	// nobody to hand the role to.
	ErrNoPeer = errors.New("member: no peer to hand over to")
)

// Driver runs one cluster member: the heartbeat driver on its interfaces,
// the session replication, and a Machine that decides; it runs the
// takeover steps the Machine hands out, one at a time, in order.
//
// All its work happens in callbacks of its Clock (the periodic tick, one
// callback per step, and one right after each input) and in the transports'
// handlers, so that on a simulated clock with push-style transports a
// whole cluster runs deterministically in one goroutine. On the real clock
// each step runs in a callback of its own, so a slow step never holds up
// the heartbeats. Its methods are safe for concurrent use, and OnEvent
// may call any of them.
type Driver struct {
	cfg   Config
	clk   hakit.Clock
	log   *slog.Logger
	hb    beats // the heartbeats, or the RoleSource
	table *statesync.Table
	sync  *statesync.Driver // with Config.Sync: one for every sync peer
	wit   *contender        // nil without a witness

	mu         sync.Mutex
	m          *Machine
	started    bool
	beating    atomic.Bool // the heartbeats started: SendNow is of use
	closed     bool
	dirty      bool // an input since the last Tick
	busy       bool // a goroutine is ticking the Machine
	next       *Op  // the step handed out, to run
	opBusy     bool // runOps is scheduled or running
	delivering bool // a goroutine is calling OnEvent
	events     []Event
	changed    chan struct{} // closed after every Tick, for Handover
	stopTimer  func() bool
	timerAt    time.Time
	opRunning  bool
	opDone     *sync.Cond
	opCtx      context.Context
	opCancel   context.CancelFunc
	hbRole     hakit.Role
	commit     statesync.CommitResult // the last commit, for Status
	runners    []*checkRunner         // the health checks'
}

// New returns a Driver for cfg; Start starts it. The Driver owns the
// interfaces' Conns and Probers and the sync transports from now on:
// Close closes them, and so does New when it fails.
func New(cfg *Config) (_ *Driver, err error) {
	c := cfg.withDefaults()
	var d *Driver
	defer func() {
		if err != nil {
			if d != nil && d.sync != nil {
				d.sync.Close()
			}
			closeAll(&c)
		}
	}()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Clock == nil {
		c.Clock = hakit.RealClock()
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.Logger = log
	d = &Driver{cfg: c, clk: c.Clock, log: log, changed: make(chan struct{})}
	d.opDone = sync.NewCond(&d.mu)
	if c.Witness != nil {
		d.wit = &contender{w: c.Witness, d: d}
	}
	d.opCtx, d.opCancel = context.WithCancel(context.Background())
	var sessions, replication Step
	// The sync driver reads from its transport as soon as it exists: its
	// first events wait on mu (input) until the Machine is set.
	d.mu.Lock()
	if s := c.Sync; s != nil {
		d.table = s.Table
		if d.table == nil {
			d.table = statesync.NewTable(0)
		}
		if d.sync, err = statesync.NewDriver(&statesync.DriverConfig{
			Transport: s.Transport, Table: d.table, Keys: c.Keys, Receive: true,
			Cluster: c.ClusterID, Unit: c.UnitID, Peers: s.Peers,
			Sender: &statesync.SenderConfig{MTU: s.MTU, Epoch: c.Epoch}, Receiver: &statesync.ReceiverConfig{Epoch: c.Epoch},
			Clock:        c.Clock,
			TickInterval: s.TickInterval, Logger: log.With("part", "statesync"),
			OnEvent: d.onSync, OnMerge: d.onMerge, // handback.go
		}); err != nil {
			d.mu.Unlock()
			return nil, err
		}
		sessions, replication = sessionsStep{d}, replicationStep{d}
	}
	d.m, err = NewMachine(d.clk.Now(), c.machineConfig(sessions, replication))
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if c.Roles != nil {
		d.hb = sourced{src: c.Roles, d: d}
		return d, nil
	}
	hc := c.heartbeatConfig()
	hc.Clock, hc.Logger = c.Clock, log.With("part", "heartbeat")
	hc.OnReport, hc.OnHeard = d.onReport, d.onHeard
	var ifs []heartbeat.Interface
	for _, ifc := range c.Interfaces {
		ifs = append(ifs, heartbeat.Interface{Name: ifc.Name, Addr: ifc.Addr, Conn: ifc.Conn, Prober: ifc.Prober})
	}
	if d.hb, err = heartbeat.NewDriver(hc, ifs...); err != nil {
		return nil, err
	}
	return d, nil
}

// closeAll closes the transports of a config that did not make a Driver.
func closeAll(c *Config) {
	for _, ifc := range c.Interfaces {
		if ifc.Conn != nil {
			ifc.Conn.Close()
		}
		if ifc.Prober != nil {
			ifc.Prober.Close()
		}
	}
	if c.Roles != nil {
		c.Roles.Close()
	}
	if c.Sync != nil && c.Sync.Transport != nil {
		c.Sync.Transport.Close()
	}
}

// Start starts the heartbeats and the ticking. It returns an error if the
// Driver is closed or already started.
func (d *Driver) Start() error {
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return fmt.Errorf("member: start: %w", ErrClosed)
	case d.started:
		d.mu.Unlock()
		return fmt.Errorf("member: already started: %w", hakit.ErrConfig)
	}
	d.started = true
	d.mu.Unlock()
	if d.cfg.Keys == nil {
		d.log.Warn("member: heartbeats and session sync are NOT authenticated: set a key")
	}
	d.log.Info("member: started", "cluster", d.cfg.ClusterID, "unit", d.cfg.UnitID, "priority", d.cfg.Priority,
		"steps", d.m.Plan())
	d.fire()
	d.startChecks()
	if err := d.hb.Start(); err != nil {
		return err
	}
	// The first heartbeat Start sends carries what the first tick set; a
	// SendNow asked for before it would only fail.
	d.beating.Store(true)
	return nil
}

// fire is the periodic tick: it reads the link and sync state, then
// ticks.
func (d *Driver) fire() {
	up := d.linksUp()
	inSync := d.inSync()
	var l lease
	if d.wit != nil {
		l = d.wit.status()
	}
	d.mu.Lock()
	d.stopTimer = nil
	if d.closed {
		d.mu.Unlock()
		return
	}
	now := d.clk.Now()
	d.m.Links(now, up)
	d.m.Sync(now, inSync)
	if d.wit != nil {
		d.wit.feed(d.m, now, l)
	}
	d.dirty = true
	d.mu.Unlock()
	d.kick()
}

// inSync reports whether the table is the primary's: this unit sends it
// (it is the primary), or a receiving half holds its peer's whole table.
func (d *Driver) inSync() bool {
	return d.sync != nil && (d.sync.Sending() || d.sync.InSync())
}

func (d *Driver) linksUp() uint16 {
	var up uint16
	for _, name := range d.cfg.Monitored {
		if d.cfg.LinkUp(name) {
			up++
		}
	}
	return up
}

// onReport, onHeard and onSync are the parts' callbacks.
func (d *Driver) onReport(r heartbeat.Report) {
	d.input(func(m *Machine, now time.Time) { m.Report(now, r) })
}

func (d *Driver) onHeard(h heartbeat.Heard) {
	d.input(func(m *Machine, now time.Time) { _ = m.Payload(now, h.Peer, h.Payload) }) // drops are counted and reported
}

func (d *Driver) onSync(e statesync.Event) {
	switch e.Kind {
	case statesync.EventInSync, statesync.EventOutOfSync:
		d.input(func(m *Machine, now time.Time) { m.Sync(now, d.inSync()) })
	case statesync.EventHandedBack:
		d.input(func(m *Machine, now time.Time) { m.HandedBack(now, e.Peer, nil) })
	}
}

// input applies f to the Machine and ticks it.
func (d *Driver) input(f func(m *Machine, now time.Time)) bool {
	d.mu.Lock()
	if d.closed || d.m == nil { // closed, or New failed
		d.mu.Unlock()
		return false
	}
	f(d.m, d.clk.Now())
	d.dirty = true
	d.mu.Unlock()
	d.kick()
	return true
}

// kick ticks the Machine until no input is left, hands its outputs to the
// heartbeats, schedules the step it asks for, and delivers the events.
func (d *Driver) kick() {
	d.mu.Lock()
	if d.busy {
		d.mu.Unlock()
		return
	}
	d.busy = true
	for d.dirty && !d.closed && d.started {
		d.dirty = false
		now := d.clk.Now()
		out := d.m.Tick(now)
		if d.wit != nil {
			d.wit.set(d.m.Contend()) // under mu, right after the Tick that decided it
		}
		d.events = append(d.events, out.Events...)
		if out.Run != nil {
			op := *out.Run
			d.next = &op
		}
		d.armLocked(now)
		close(d.changed)
		d.changed = make(chan struct{})
		role, payload := out.Role, slices.Clone(out.Payload)
		setRole := role != d.hbRole
		d.hbRole = role
		d.mu.Unlock()
		d.heartbeatOut(role, setRole, payload, out.Send)
		d.handBack(out.HandBack)
		d.mu.Lock()
	}
	d.busy = false
	if d.next != nil && !d.opBusy && !d.closed {
		d.opBusy = true
		d.clk.AfterFunc(0, d.runOps)
	}
	d.mu.Unlock()
	d.deliver()
}

// heartbeatOut puts the role and the candidate in the heartbeats.
func (d *Driver) heartbeatOut(role hakit.Role, setRole bool, payload []byte, send bool) {
	failed := func(what string, err error) {
		if err != nil && !errors.Is(err, heartbeat.ErrClosed) {
			d.log.Error("member: heartbeat "+what, "err", err)
		}
	}
	if setRole {
		failed("role", d.hb.SetRole(role))
	}
	failed("payload", d.hb.SetPayload(payload))
	if send && d.beating.Load() {
		failed("now", d.hb.SendNow())
	}
}

// armLocked sets the timer for the Machine's next tick.
func (d *Driver) armLocked(now time.Time) {
	next := d.m.Next()
	if d.stopTimer != nil {
		if !d.timerAt.After(next) {
			return
		}
		d.stopTimer()
	}
	d.timerAt = next
	d.stopTimer = d.clk.AfterFunc(next.Sub(now), d.fire)
}

// runOps runs the steps the Machine hands out, one after the other, in a
// clock callback of their own (on the real clock, a goroutine: a slow step
// holds up neither the heartbeats nor the ticks).
func (d *Driver) runOps() {
	d.mu.Lock()
	for d.next != nil && !d.closed {
		op := *d.next
		d.next = nil
		d.opRunning = true
		ctx := d.opCtx
		d.mu.Unlock()
		err := d.run(ctx, op)
		d.mu.Lock()
		d.opRunning = false
		d.opDone.Broadcast()
		_ = d.m.Done(d.clk.Now(), op, err) // op is the one running: handed out once
		d.dirty = true
		d.mu.Unlock()
		d.kick() // hands out the next one, if any
		d.mu.Lock()
	}
	d.opBusy = false
	d.mu.Unlock()
}

func (d *Driver) run(ctx context.Context, op Op) error {
	if op.Action != Up {
		ctx = context.WithoutCancel(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StepTimeout)
	defer cancel()
	return op.Run(ctx)
}

// deliver calls OnEvent with the queued events, in order, with no lock
// held. Only one goroutine delivers at a time; the others leave their
// events to it.
func (d *Driver) deliver() {
	d.mu.Lock()
	if d.delivering || d.cfg.OnEvent == nil {
		if d.cfg.OnEvent == nil {
			d.events = d.events[:0]
		}
		d.mu.Unlock()
		return
	}
	d.delivering = true
	for len(d.events) > 0 {
		e := d.events[0]
		d.events = d.events[1:]
		d.mu.Unlock()
		d.cfg.OnEvent(e)
		d.mu.Lock()
	}
	d.delivering = false
	d.mu.Unlock()
}

// Close stops the unit without a handover: the heartbeats stop (the peers
// take over once they notice), every step that is up goes down in
// reverse, and the transports are closed. It is idempotent.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.stopChecksLocked()
	d.m.Stop(d.clk.Now())
	if d.stopTimer != nil {
		d.stopTimer()
		d.stopTimer = nil
	}
	d.opCancel()
	for d.opRunning {
		d.opDone.Wait()
	}
	d.mu.Unlock()
	err := d.hb.Close()
	d.mu.Lock()
	for {
		op, ok := d.m.Running()
		if !ok {
			out := d.m.Tick(d.clk.Now())
			d.events = append(d.events, out.Events...)
			if out.Run == nil {
				break
			}
			op = *out.Run
		}
		d.mu.Unlock()
		rerr := d.run(d.opCtx, op)
		d.mu.Lock()
		_ = d.m.Done(d.clk.Now(), op, rerr)
	}
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
	if d.wit != nil {
		d.wit.close() // after the steps: the successor's token is the newer
	}
	errs := []error{err}
	if d.sync != nil {
		errs = append(errs, d.sync.Close())
	}
	d.deliver()
	return errors.Join(errs...)
}

// Handover hands the role to a peer (planned maintenance) and waits until
// a peer is primary and this unit's steps are down, or ctx ends. A unit
// that is not primary stays out of the election until Resume. It returns
// ErrNoPeer at once if this unit is primary and hears no peer.
func (d *Driver) Handover(ctx context.Context) error {
	d.mu.Lock()
	closed := d.closed
	lone := d.m.Role() == hakit.Primary && !d.anyReachableLocked()
	d.mu.Unlock()
	switch {
	case d.cfg.Roles != nil:
		return fmt.Errorf("member: handover: %w", ErrRoleSource)
	case closed:
		return fmt.Errorf("member: handover: %w", ErrClosed)
	case lone:
		return ErrNoPeer
	}
	d.Yield()
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return fmt.Errorf("member: handover: %w", ErrClosed)
		}
		_, running := d.m.Running()
		done := d.m.Role() != hakit.Primary && d.m.up == 0 && !running && d.peerPrimaryLocked()
		ch := d.changed
		d.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (d *Driver) anyReachableLocked() bool {
	for _, c := range d.m.Peers(d.clk.Now()) {
		if d.m.Reachable(c.Unit) {
			return true
		}
	}
	return false
}

func (d *Driver) peerPrimaryLocked() bool {
	for _, c := range d.m.Peers(d.clk.Now()) {
		if c.Role == hakit.Primary && d.m.Reachable(c.Unit) {
			return true
		}
	}
	return false
}

// Witness feeds the answer of an outside witness (see Machine.Witness):
// call it whenever the answer may have changed. With Config.Witness the
// lease decides instead, and this answer is overridden.
func (d *Driver) Witness(ok bool) {
	d.input(func(m *Machine, now time.Time) { m.Witness(now, ok) })
}

// Yield starts a planned handover and returns at once: the role moves to
// the best other unit once that unit is ready (Handover waits for it).
// The unit stays out of the election until Resume.
func (d *Driver) Yield() {
	d.input(func(m *Machine, now time.Time) { m.Handover(now) })
}

// Resume ends a planned handover; with reclaim, this unit asks for the
// role back.
func (d *Driver) Resume(reclaim bool) {
	d.input(func(m *Machine, now time.Time) { m.Resume(now, reclaim) })
}

// Role returns the unit's current role; after Close, the last one (the
// steps are down all the same).
func (d *Driver) Role() hakit.Role {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.Role()
}

// Status returns the unit's state: its role and why, its peers with their
// links, the session sync, the steps held, the last takeover's phases and
// every part's counters.
func (d *Driver) Status() Status {
	peers := d.hb.Peers()
	hc := d.hb.Counters()
	var ss *SyncStatus
	if d.table != nil {
		sd := d.sync
		ss = &SyncStatus{Sessions: d.table.Len(), Sending: sd.Sending(), Receiving: sd.Receiving(), InSync: sd.InSync(),
			Sender: sd.SenderStats(), Receiver: sd.ReceiverStats(), Driver: sd.Stats(), Peers: sd.Peers()}
		ss.Sent, ss.SendTotal, ss.SendBulk = sd.Progress()
		ss.Got, ss.GotTotal, ss.GotBulk = sd.ReceiveProgress()
	}
	d.mu.Lock()
	s := d.m.Status(d.clk.Now())
	if ss != nil {
		ss.LastCommit = d.commit
	}
	d.mu.Unlock()
	s.Heartbeat, s.Sync = hc, ss
	if hb, ok := d.hb.(interface{ Collisions() []heartbeat.Collision }); ok {
		if cs := hb.Collisions(); len(cs) > 0 {
			s.Collisions = cs
		}
	}
	// Every peer either part knows: the election forgets a lost one, the
	// heartbeats still show its links.
	for _, p := range peers {
		i := slices.IndexFunc(s.Peers, func(x PeerStatus) bool { return x.Unit == p.Unit })
		if i < 0 {
			s.Peers = append(s.Peers, PeerStatus{Unit: p.Unit})
			i = len(s.Peers) - 1
		}
		s.Peers[i].Links = p.Links
	}
	slices.SortFunc(s.Peers, func(a, b PeerStatus) int { return int(a.Unit) - int(b.Unit) })
	return s
}

// Table returns the session table: the primary's own, a secondary's
// mirror of the primary's; nil without session sync.
func (d *Driver) Table() *statesync.Table { return d.table }

// Upsert stores s in the session table and, on the primary, replicates it
// to every peer; it returns the session as stored. On a secondary the
// primary's next bulk sync overwrites it. Without session sync it does
// nothing and returns s.
func (d *Driver) Upsert(s statesync.Session) statesync.Session {
	if d.sync == nil {
		return s
	}
	return d.sync.Upsert(s)
}

// Delete removes the session with key k from the table and, on the
// primary, replicates the deletion to every peer.
func (d *Driver) Delete(k statesync.Key) (statesync.Session, bool) {
	if d.sync == nil {
		return statesync.Session{}, false
	}
	return d.sync.Delete(k)
}

// sessionsStep is the built-in first step: Up commits what every
// receiving half holds and stops receiving; Down mirrors again.
type sessionsStep struct{ d *Driver }

func (s sessionsStep) Name() string { return "sessions" }

func (s sessionsStep) Up(context.Context) error {
	res := s.d.sync.Commit()
	s.d.mu.Lock()
	s.d.commit = res
	s.d.mu.Unlock()
	s.d.log.Info("member: sessions committed", "sessions", s.d.table.Len(), "in_sync", res.InSync, "lost", res.Lost)
	return nil
}

func (s sessionsStep) Down(context.Context) error {
	s.d.mu.Lock()
	closed := s.d.closed
	s.d.mu.Unlock()
	if closed {
		return nil // stopping: nothing to mirror
	}
	return s.d.sync.SetReceiving(true)
}

// replicationStep is the built-in last step: Up starts a stream to every
// peer (each begins with a bulk sync of the table); Down stops them.
type replicationStep struct{ d *Driver }

func (s replicationStep) Name() string { return "replication" }

func (s replicationStep) Up(context.Context) error {
	return s.d.sync.SetSending(true)
}

func (s replicationStep) Down(context.Context) error {
	return s.d.sync.SetSending(false)
}
