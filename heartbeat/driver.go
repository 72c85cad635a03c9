package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hakit/hakit"
)

// maxKeptReports bounds the reports a Driver keeps for Reports.
const maxKeptReports = 4096

// Driver drives a Machine: it sends heartbeats and probes on its interfaces'
// Conns and Probers, feeds what they read to the Machine, and delivers the
// Machine's reports. It runs one goroutine per Conn and per Prober (blocked
// in ReadFrame and ReadReply) and one timer on the configured Clock. Its
// methods are safe for concurrent use.
type Driver struct {
	cfg    Config
	clk    hakit.Clock
	log    *slog.Logger
	ifaces []Interface

	mu      sync.Mutex
	m       *Machine
	reports []Report
	stop    func() bool
	started bool
	closed  bool
	sendErr atomic.Uint64 // not under mu: flushLocked holds emit, and tickLocked takes emit under mu

	// emit serialises sending and OnReport calls in the order the Machine
	// produced them; it is taken before mu is released.
	emit sync.Mutex
	wg   sync.WaitGroup
}

// NewDriver returns a Driver for the given critical interfaces, each with a
// Conn (required) and a Prober (optional: nil sends no probes there). A nil
// cfg means DefaultConfig(); a zero Epoch is set from the clock. The Driver
// owns the Conns and Probers: Close closes them.
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
	return &Driver{cfg: c, clk: c.Clock, log: log, ifaces: ifaces, m: m}, nil
}

// Start sends the first heartbeats and starts the goroutines and the timer.
// It returns an error if the Driver is closed or already started.
func (n *Driver) Start() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return fmt.Errorf("heartbeat: start: %w", ErrClosed)
	}
	if n.started {
		n.mu.Unlock()
		return fmt.Errorf("heartbeat: already started: %w", hakit.ErrConfig)
	}
	n.started = true
	for i := range n.ifaces {
		n.wg.Add(1)
		go n.readFrames(i)
		if n.ifaces[i].Prober != nil {
			n.wg.Add(1)
			go n.readReplies(i)
		}
	}
	n.log.Info("heartbeat: started", "cluster", n.cfg.ClusterID, "unit", n.cfg.UnitID,
		"interval", n.cfg.Interval, "misses", n.cfg.Misses, "mode", n.cfg.Mode, "interfaces", len(n.ifaces))
	n.tickLocked()
	return nil
}

// fire is the timer callback.
func (n *Driver) fire() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.tickLocked()
}

// tickLocked runs a Tick, rearms the timer and emits the output; it is
// called with mu held and releases it.
func (n *Driver) tickLocked() {
	now := n.clk.Now()
	out := n.m.Tick(now)
	d := n.m.Next().Sub(now)
	n.stop = n.clk.AfterFunc(max(d, 0), n.fire)
	n.flushLocked(out)
}

// flushLocked records out's reports, then sends and delivers out in order;
// it is called with mu held and releases it.
func (n *Driver) flushLocked(out Output) {
	n.reports = append(n.reports, out.Reports...)
	if len(n.reports) > maxKeptReports {
		n.reports = append(n.reports[:0], n.reports[len(n.reports)-maxKeptReports:]...)
	}
	if len(out.Frames) == 0 && len(out.Probes) == 0 && len(out.Reports) == 0 {
		n.mu.Unlock()
		return
	}
	n.emit.Lock()
	n.mu.Unlock()
	defer n.emit.Unlock()
	var failed uint64
	for _, f := range out.Frames {
		if err := n.ifaces[f.Index].Conn.WriteFrame(f.Data, f.Src, f.Dst); err != nil {
			failed++
			n.log.Debug("heartbeat: send failed", "interface", f.Interface, "err", err)
		}
	}
	for _, p := range out.Probes {
		pr := n.ifaces[p.Index].Prober
		if pr == nil {
			continue
		}
		if err := pr.Probe(p.Target); err != nil {
			failed++
			n.log.Debug("heartbeat: probe failed", "interface", p.Interface, "target", p.Target, "err", err)
		}
	}
	if failed > 0 {
		n.sendErr.Add(failed)
	}
	for _, r := range out.Reports {
		level := slog.LevelInfo
		if r.State.Verdict() {
			level = slog.LevelWarn
		}
		n.log.Log(context.Background(), level, "heartbeat: "+r.State.String(),
			"peer", r.Peer, "interface", r.Interface, "reason", r.Reason)
		if n.cfg.OnReport != nil {
			n.cfg.OnReport(r)
		}
	}
}

func (n *Driver) readFrames(i int) {
	defer n.wg.Done()
	ifc := n.ifaces[i]
	buf := make([]byte, 2048)
	for {
		k, err := ifc.Conn.ReadFrame(buf)
		if err != nil {
			n.readFailed(ifc.Name, "frames", err)
			return
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		out, err := n.m.Receive(n.clk.Now(), ifc.Name, buf[:k])
		if err != nil {
			n.log.Debug("heartbeat: frame dropped", "interface", ifc.Name, "err", err)
		}
		n.flushLocked(out)
	}
}

func (n *Driver) readReplies(i int) {
	defer n.wg.Done()
	ifc := n.ifaces[i]
	for {
		from, err := ifc.Prober.ReadReply()
		if err != nil {
			n.readFailed(ifc.Name, "probe replies", err)
			return
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		n.flushLocked(n.m.ProbeReply(n.clk.Now(), ifc.Name, from))
	}
}

func (n *Driver) readFailed(ifname, what string, err error) {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if !closed && !errors.Is(err, io.EOF) {
		n.log.Error("heartbeat: reading "+what+" stopped", "interface", ifname, "err", err)
	}
}

// Close stops the timer, closes every Conn and Prober, and waits for the
// goroutines to end. It is idempotent.
func (n *Driver) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	if n.stop != nil {
		n.stop()
	}
	n.mu.Unlock()
	var errs []error
	for _, ifc := range n.ifaces {
		errs = append(errs, ifc.Conn.Close())
		if ifc.Prober != nil {
			errs = append(errs, ifc.Prober.Close())
		}
	}
	n.wg.Wait()
	return errors.Join(errs...)
}

// SendNow sends a heartbeat on every interface at once (see
// Machine.SendNow); call it after SetRole or SetPayload when the peers
// should hear the change now. It returns an error if the Driver is closed or
// not started.
func (n *Driver) SendNow() error {
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return fmt.Errorf("heartbeat: send now: %w", ErrClosed)
	case !n.started:
		n.mu.Unlock()
		return fmt.Errorf("heartbeat: send now before Start: %w", hakit.ErrConfig)
	}
	out := n.m.SendNow(n.clk.Now())
	n.flushLocked(out)
	return nil
}

// SetRole sets the role advertised from the next heartbeat on.
func (n *Driver) SetRole(r hakit.Role) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m.SetRole(r)
}

// SetPayload sets the opaque payload of the next heartbeats (copied).
func (n *Driver) SetPayload(p []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m.SetPayload(p)
}

// Reports returns the reports so far (the newest 4096), oldest first.
func (n *Driver) Reports() []Report {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Report(nil), n.reports...)
}

// Counters returns the running totals.
func (n *Driver) Counters() Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.m.Counters()
	c.SendErrors = n.sendErr.Load()
	return c
}

// Peers returns what the Driver knows of each peer.
func (n *Driver) Peers() []PeerStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m.Peers()
}

// Epoch returns the epoch this Driver advertises.
func (n *Driver) Epoch() uint64 { return n.cfg.Epoch }
