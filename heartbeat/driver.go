package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit/internal/deliver"
	"github.com/hakit/hakit/internal/ratelog"

	"github.com/hakit/hakit"
)

// maxKeptReports bounds the reports a Driver keeps for Reports.
const maxKeptReports = 4096

// Driver drives a Machine: it sends heartbeats and probes on its interfaces'
// Conns and Probers, feeds what they read to the Machine, and delivers the
// Machine's reports. It runs one goroutine per Conn and per Prober (blocked
// in ReadFrame and ReadReply) unless it is push-style (PushConn,
// PushProber: its handler feeds the Machine), and one timer on the
// configured Clock; the callbacks run in callbacks of that Clock. On a
// simulated clock with push-style transports it thus runs entirely in the
// goroutine that advances the clock, deterministically. Its methods are
// safe for concurrent use.
//
// Callbacks (Config.OnReport and Config.OnHeard) are called in the order
// the Machine produced what they deliver, one at a time, in callbacks of the
// Driver's Clock (on the real clock, a goroutine of their own), with no lock
// of the Driver held: a callback may call any method of the
// Driver, Close included. A slow callback delays the ones after it, never
// the heartbeats.
type Driver struct {
	cfg    Config
	clk    hakit.Clock
	log    *slog.Logger
	ifaces []Interface

	// mu guards the Machine and everything below it.
	mu      sync.Mutex
	m       *Machine
	reports []Report
	stop    func() bool
	started bool
	closed  bool
	calls   *deliver.Queue[delivery] // the callbacks, once started
	sendErr atomic.Uint64
	drops   *ratelog.Limiter // spaces out the warnings about dropped frames
	readErr atomic.Uint64
	// failedAt[i] is when a send on interface i last failed (UnixNano),
	// fed to the Machine (SendFailed) before each Tick; fedFail[i] the
	// newest fed.
	failedAt []atomic.Int64
	fedFail  []int64
	// kernelSeen[i] is interface i's kernel drop count last fed to the
	// Machine (Overrun).
	kernelSeen []uint64
	done       chan struct{} // closed by Close: ends the readers' waits

	// wmu serialises the writes in the order the Machine produced them; it
	// is taken before mu is released, and never held while a callback runs.
	wmu sync.Mutex

	wg sync.WaitGroup
}

// NewDriver returns a Driver for the given critical interfaces, each with a
// Conn (required) and a Prober (optional: nil sends no probes there, and
// EIFD asks for none: echo requests and other units' frames are its only
// evidence). An interface whose Conn is a *UDPConn is Routed. A nil cfg
// means DefaultConfig() (which lacks the unit ID); a zero Epoch is set from
// the clock. The Driver owns the Conns and Probers: Close closes them.
func NewDriver(cfg *Config, ifaces ...Interface) (*Driver, error) {
	c := cfg.withDefaults()
	if c.Clock == nil {
		c.Clock = hakit.RealClock()
	}
	if c.Epoch == 0 {
		c.Epoch = uint64(c.Clock.Now().UnixNano())
	}
	for _, ifc := range ifaces {
		if ifc.Conn == nil {
			return nil, fmt.Errorf("heartbeat: interface %q has no Conn: %w", ifc.Name, hakit.ErrConfig)
		}
	}
	m, err := NewMachine(&c, ifaces...)
	if err != nil {
		return nil, err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for i, ifc := range ifaces {
		// The Machine asks for no ARP where nothing sends it, and on
		// UDP there is no layer 2 at all.
		if _, udp := ifc.Conn.(*UDPConn); udp || ifc.Routed {
			m.ports[i].routed = true
			m.ports[i].noARP = true
		}
		if ifc.Prober == nil {
			m.ports[i].noARP = true
		}
	}
	return &Driver{cfg: c, clk: c.Clock, log: log, ifaces: ifaces, m: m,
		failedAt: make([]atomic.Int64, len(ifaces)), fedFail: make([]int64, len(ifaces)),
		kernelSeen: make([]uint64, len(ifaces)), done: make(chan struct{}), drops: ratelog.New(dropLogEvery, 64)}, nil
}

// Start sends the first heartbeats and starts the goroutines and the timer.
// It returns an error if the Driver is closed or already started.
func (d *Driver) Start() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return fmt.Errorf("heartbeat: start: %w", ErrClosed)
	}
	if d.started {
		d.mu.Unlock()
		return fmt.Errorf("heartbeat: already started: %w", hakit.ErrConfig)
	}
	d.started = true
	d.calls = deliver.New(d.clk, d.deliver)
	for i, ifc := range d.ifaces {
		if pc, ok := ifc.Conn.(PushConn); ok && canPush(ifc.Conn) {
			pc.SetHandler(func(b []byte) { d.frame(i, b) })
		} else {
			d.wg.Add(1)
			go d.readFrames(i)
		}
		if ifc.Prober == nil {
			continue
		}
		if pp, ok := ifc.Prober.(PushProber); ok && canPush(ifc.Prober) {
			pp.SetHandler(func(from netip.Addr) { d.reply(i, from) })
		} else {
			d.wg.Add(1)
			go d.readReplies(i)
		}
	}
	d.log.Info("heartbeat: started", "cluster", d.cfg.ClusterID, "unit", d.cfg.UnitID,
		"interval", d.cfg.Interval, "misses", d.cfg.Misses, "mode", d.cfg.Mode, "interfaces", len(d.ifaces))
	d.tickLocked(d.clk.Now())
	return nil
}

// fire is the timer callback. When the Tick starts EIFD somewhere, the
// neighbour lists of those interfaces are read from Config.Neighbours first,
// with no lock held, and fed to the Machine; the Tick then runs at the
// instant of the last check, with the lock held since, so no interface
// starts EIFD with a list older than that.
func (d *Driver) fire() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	var fed []string
	now := d.clk.Now()
	for d.cfg.Neighbours != nil {
		var names []string
		for _, name := range d.m.NeedNeighbours(now) {
			if !slices.Contains(fed, name) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			break
		}
		d.mu.Unlock()
		lists := make([][]netip.Addr, len(names))
		for i, name := range names {
			var err error
			if lists[i], err = d.cfg.Neighbours.Neighbours(name); err != nil {
				d.log.Warn("heartbeat: neighbour list", "interface", name, "err", err)
			}
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return
		}
		for i, name := range names {
			_ = d.m.SetNeighbours(name, lists[i]) // a name the Machine gave
		}
		fed = append(fed, names...)
		now = d.clk.Now()
	}
	d.feedFailuresLocked()
	d.feedOverrunsLocked(now)
	d.tickLocked(now)
}

// feedOverrunsLocked tells the Machine of the interfaces whose kernel
// dropped frames unread since the last call (a flood, or readers starved
// of CPU): the peer's heartbeats may be among them. It is called with mu
// held.
func (d *Driver) feedOverrunsLocked(now time.Time) {
	for i, ifc := range d.ifaces {
		if n, ok := KernelDrops(ifc.Conn); ok && n > d.kernelSeen[i] {
			d.kernelSeen[i] = n
			d.m.Overrun(now, ifc.Name)
		}
	}
}

// feedFailuresLocked tells the Machine of the sends that failed since the
// last call; it is called with mu held.
func (d *Driver) feedFailuresLocked() {
	for i := range d.failedAt {
		if at := d.failedAt[i].Load(); at > d.fedFail[i] {
			d.fedFail[i] = at
			d.m.SendFailed(time.Unix(0, at), d.ifaces[i].Name)
		}
	}
}

// tickLocked runs a Tick, rearms the timer and emits the output; it is
// called with mu held and releases it.
func (d *Driver) tickLocked(now time.Time) {
	out := d.m.Tick(now)
	next := d.m.Next().Sub(now)
	d.stop = d.clk.AfterFunc(max(next, 0), d.fire)
	d.flushLocked(out)
}

// flushLocked records out's reports and queues them for delivery, then
// sends out's frames and probes in order; it is called with mu held and
// releases it.
func (d *Driver) flushLocked(out Output) {
	d.reports = append(d.reports, out.Reports...)
	if len(d.reports) > maxKeptReports {
		d.reports = append(d.reports[:0], d.reports[len(d.reports)-maxKeptReports:]...)
	}
	for _, r := range out.Reports {
		d.calls.Push(delivery{report: r})
	}
	for _, c := range out.Collisions {
		d.calls.Push(delivery{collision: c, isCollision: true})
	}
	if d.cfg.OnHeard != nil {
		for _, h := range out.Heard {
			h.Payload = slices.Clone(h.Payload) // the Machine's storage is reused
			d.calls.Push(delivery{heard: h, isHeard: true})
		}
	}
	if len(out.Frames) == 0 && len(out.Probes) == 0 {
		d.mu.Unlock()
		return
	}
	d.wmu.Lock()
	d.mu.Unlock()
	defer d.wmu.Unlock()
	var failed uint64
	for _, f := range out.Frames {
		if err := d.ifaces[f.Index].Conn.WriteFrame(f.Data, f.Src, f.Dst); err != nil {
			failed++
			d.failedAt[f.Index].Store(d.clk.Now().UnixNano())
			d.log.Debug("heartbeat: send failed", "interface", f.Interface, "err", err)
		}
	}
	for _, p := range out.Probes {
		pr := d.ifaces[p.Index].Prober
		if pr == nil {
			continue
		}
		if err := pr.Probe(p.Target); err != nil {
			failed++
			d.log.Debug("heartbeat: probe failed", "interface", p.Interface, "target", p.Target, "err", err)
		}
	}
	if failed > 0 {
		d.sendErr.Add(failed)
	}
}

// delivery is one callback call.
type delivery struct {
	report  Report
	heard   Heard
	isHeard bool
	// A collision is logged only.
	collision   Collision
	isCollision bool
}

// deliver logs a report and calls the callback of x, on the delivery
// goroutine with no lock held.
func (d *Driver) deliver(x delivery) {
	if x.isHeard {
		d.cfg.OnHeard(x.heard)
		return
	}
	if c := x.collision; x.isCollision {
		d.log.Error("heartbeat: another cluster uses this cluster ID", "kind", c.Kind.String(),
			"interface", c.Interface, "claimed_unit", c.Unit, "frames", c.Frames, "reason", c.Reason)
		return
	}
	r := x.report
	level := slog.LevelInfo
	if r.State.Verdict() {
		level = slog.LevelWarn
	}
	d.log.Log(context.Background(), level, "heartbeat: "+r.State.String(),
		"peer", r.Peer, "interface", r.Interface, "reason", r.Reason)
	if d.cfg.OnReport != nil {
		d.cfg.OnReport(r)
	}
}

func (d *Driver) readFrames(i int) {
	defer d.wg.Done()
	ifc := d.ifaces[i]
	buf := make([]byte, 2048)
	r := reader{d: d, ifname: ifc.Name, what: "frames"}
	for {
		k, err := ifc.Conn.ReadFrame(buf)
		if err != nil {
			if !r.failed(err) {
				return
			}
			continue
		}
		r.ok()
		if !d.frame(i, buf[:k]) {
			return
		}
	}
}

// frame feeds one frame read on interface i to the Machine; it reports
// false once the Driver is closed.
func (d *Driver) frame(i int, b []byte) bool {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return false
	}
	d.feedFailuresLocked()
	name := d.ifaces[i].Name
	now := d.clk.Now()
	out, err := d.m.Receive(now, name, b)
	if err != nil {
		d.logDrop(now, name, err)
	}
	d.flushLocked(out)
	return true
}

// dropLogEvery spaces out the warnings about frames dropped for one
// reason on one interface: a peer with the wrong key, sending ten a
// second, gives a line every ten seconds, not a hundred.
const dropLogEvery = 10 * time.Second

// dropKinds are the reasons a dropped frame is warned about: each means a
// misconfiguration or an attack that needs a human. Frames of other
// clusters are normal on a shared segment and logged at debug level.
var dropKinds = []error{ErrAuth, ErrReplay, ErrStale, ErrMalformed, ErrVersion, ErrTooLarge}

// logDrop logs a dropped frame: at warning level for the kinds that need
// a human, the first of its kind on the interface and then one every
// dropLogEvery with the number held back; every one at debug level.
func (d *Driver) logDrop(now time.Time, ifname string, err error) {
	var kind error
	for _, k := range dropKinds {
		if errors.Is(err, k) {
			kind = k
			break
		}
	}
	if kind != nil {
		type key struct {
			ifname string
			kind   error
		}
		if ok, held := d.drops.Allow(now, key{ifname, kind}); ok {
			d.log.Warn("heartbeat: frame dropped", "interface", ifname, "err", err, "more_since_last_line", held)
			return
		}
	}
	d.log.Debug("heartbeat: frame dropped", "interface", ifname, "err", err)
}

func (d *Driver) readReplies(i int) {
	defer d.wg.Done()
	ifc := d.ifaces[i]
	r := reader{d: d, ifname: ifc.Name, what: "probe replies"}
	for {
		from, err := ifc.Prober.ReadReply()
		if err != nil {
			if !r.failed(err) {
				return
			}
			continue
		}
		r.ok()
		if !d.reply(i, from) {
			return
		}
	}
}

// reply feeds one probe reply on interface i to the Machine; it reports
// false once the Driver is closed.
func (d *Driver) reply(i int, from netip.Addr) bool {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return false
	}
	d.flushLocked(d.m.ProbeReply(d.clk.Now(), d.ifaces[i].Name, from))
	return true
}

// Read errors are retried: an interface that went down and up makes a
// packet socket fail (ENETDOWN) until it is back, and a reader that gave up
// would never hear the peer there again. The retries back off from
// readRetryMin to readRetryMax (well inside an interval at the default
// 100 ms, so heartbeats resume within one once the link is back).
const (
	readRetryMin = time.Millisecond
	readRetryMax = 20 * time.Millisecond
)

// reader tracks one reading goroutine's outage: its failures are counted,
// logged once when the outage starts and once when it ends.
type reader struct {
	d          *Driver
	ifname     string
	what       string
	errs       uint64
	since      time.Time
	backoff    time.Duration
	firstError error
}

// failed handles a read error: it reports false when the reader must end
// (the Driver, or the Conn or Prober, was closed), else waits before the
// retry and reports true.
func (r *reader) failed(err error) bool {
	d := r.d
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		return false
	}
	d.readErr.Add(1)
	if r.errs == 0 {
		r.since, r.firstError, r.backoff = d.clk.Now(), err, readRetryMin
		d.log.Warn("heartbeat: reading "+r.what+" failed, retrying", "interface", r.ifname, "err", err)
	}
	r.errs++
	wake := make(chan struct{})
	stop := d.clk.AfterFunc(r.backoff, func() { close(wake) })
	select {
	case <-wake:
	case <-d.done:
		stop()
		return false
	}
	r.backoff = min(2*r.backoff, readRetryMax)
	return true
}

// ok ends an outage, if there was one.
func (r *reader) ok() {
	if r.errs == 0 {
		return
	}
	r.d.log.Info("heartbeat: reading "+r.what+" again", "interface", r.ifname,
		"after", r.d.clk.Now().Sub(r.since).Round(time.Millisecond), "errors", r.errs, "first", r.firstError)
	r.errs = 0
}

// Close stops the timer, closes every Conn and Prober, and waits for the
// goroutines to end. No callback starts after Close returns; Close may be
// called from a callback, and then returns without waiting for that
// callback (nor for one running on another goroutine at the same time). It
// is idempotent.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	if d.stop != nil {
		d.stop()
	}
	started := d.started
	d.mu.Unlock()
	if started {
		d.calls.Close()
	}
	var errs []error
	for _, ifc := range d.ifaces {
		if pc, ok := ifc.Conn.(PushConn); ok && started && canPush(ifc.Conn) {
			pc.SetHandler(nil)
		}
		if pp, ok := ifc.Prober.(PushProber); ok && started && canPush(ifc.Prober) {
			pp.SetHandler(nil)
		}
		errs = append(errs, ifc.Conn.Close())
		if ifc.Prober != nil {
			errs = append(errs, ifc.Prober.Close())
		}
	}
	d.wg.Wait()
	return errors.Join(errs...)
}

// SendNow sends a heartbeat on every interface at once (see
// Machine.SendNow); call it after SetRole or SetPayload when the peers
// should hear the change now. It returns an error if the Driver is closed or
// not started.
func (d *Driver) SendNow() error {
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return fmt.Errorf("heartbeat: send now: %w", ErrClosed)
	case !d.started:
		d.mu.Unlock()
		return fmt.Errorf("heartbeat: send now before Start: %w", hakit.ErrConfig)
	}
	out := d.m.SendNow(d.clk.Now())
	d.flushLocked(out)
	return nil
}

// SetRole sets the role advertised from the next heartbeat on.
func (d *Driver) SetRole(r hakit.Role) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.SetRole(r)
}

// SetPayload sets the opaque payload of the next heartbeats (copied).
func (d *Driver) SetPayload(p []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.SetPayload(p)
}

// Reports returns the reports so far (the newest 4096), oldest first.
func (d *Driver) Reports() []Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Report(nil), d.reports...)
}

// Counters returns the running totals.
func (d *Driver) Counters() Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.m.Counters()
	c.SendErrors = d.sendErr.Load()
	c.ReadErrors = d.readErr.Load()
	return c
}

// Collisions returns the signs seen that another cluster uses this
// cluster's ID (see Machine.Collisions).
func (d *Driver) Collisions() []Collision {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.Collisions()
}

// Peers returns what the Driver knows of each peer.
func (d *Driver) Peers() []PeerStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.Peers()
}

// Epoch returns the epoch this Driver advertises.
func (d *Driver) Epoch() uint64 { return d.cfg.Epoch }
