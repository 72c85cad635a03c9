package member

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/internal/auth"
)

// BridgeConfig configures a Bridge step.
type BridgeConfig struct {
	// Bridge names the Linux bridge, for example "br0".
	Bridge string
	// Ports are its two ports, one on each segment; both units list the
	// ports of the same segment first.
	Ports [2]string
	// Guard identifies the unit in its loop probes and sets their timing
	// (see LoopGuardConfig); its UnitID is required.
	Guard *LoopGuardConfig
	// Announcer, when not nil, sends the learning frames at the takeover
	// (a garp.Driver: Move.Learn on each port).
	Announcer garp.Announcer
	// Keys, when not nil, authenticate the probes (HMAC-SHA256 with a
	// subkey of their own, the key ID and a 16-byte tag after the probe);
	// probes without a valid tag are dropped and counted. Nil sends and
	// takes them unauthenticated: then anyone on the segments can forge
	// a forwarding unit's probe and hold a standby back (a probe can
	// never make a bridge forward).
	Keys *hakit.Keyring
	// Logger receives the step's decisions; nil discards them.
	Logger *slog.Logger
}

// BridgeStats are a Bridge step's counters and state.
type BridgeStats struct {
	LoopGuardStats
	// Forwarding says whether the bridge forwards now.
	Forwarding bool
	// Held, when not empty, says why a primary's bridge does not forward.
	Held string
	// Learn counts, for each port, the MACs the next takeover announces
	// there.
	Learn [2]int
	// BadProbes counts frames of the probes' EtherType that did not parse
	// or failed authentication.
	BadProbes uint64
}

// bridgeOS is what a Bridge step needs from the system (bridge_linux.go).
type bridgeOS interface {
	// macs returns the ports' own MACs.
	macs() [2]net.HardwareAddr
	// setForwarding lets both ports forward (and learn), or isolates them
	// from each other, stops their learning and flushes what they learnt.
	setForwarding(on bool) error
	// send sends a frame out of a port.
	send(side int, frame []byte) error
	// read reads a probe frame queued on a port without waiting; 0 when
	// none is.
	read(side int, buf []byte) (int, error)
	// fdb returns the MACs the bridge has learnt on each port.
	fdb() ([2][][6]byte, error)
	io.Closer
}

// BridgeStep is the transparent-mode step named "bridge": the unit's
// bridge forwards between its two segments only while the step is up and
// its LoopGuard allows it, and blocks otherwise (the ports isolated from
// each other). Open one with Bridge; it listens for the other units'
// probes from then on (a standby learns from them which MACs a takeover
// must announce) and keeps the bridge blocked until Up.
//
// Up asks to forward: it waits for the guard's decision (Listen, two
// probe intervals by default, and at most Listen+Quiet+Interval), then
// returns; if another bridge forwards
// (a split brain), the bridge stays blocked and forwards as soon as the
// other stops, without another takeover. Once forwarding, it makes the
// switches learn, through its ports, every MAC known on the other side
// (garp's learning frames): the MACs the primary's probes listed and
// those its own bridge has learnt. Down blocks the bridge before it
// returns, so that in a planned handover the old primary stops before the
// new one starts.
type BridgeStep struct {
	cfg   BridgeConfig
	os    bridgeOS
	guard *LoopGuard
	log   *slog.Logger
	own   [2]net.HardwareAddr
	dst   net.HardwareAddr // ProbeMAC

	mu        sync.Mutex
	fwd       bool
	announced [2]bool
	table     [2][][6]byte // the own bridge's MACs per port, refreshed while forwarding
	tableAt   time.Time
	page      [2]int
	forwarded chan struct{} // closed when forwarding starts after an Up
	bad       uint64
	closed    bool
	buf       []byte
	probeIn   LoopProbe
	mac       *auth.MAC // with Keys

	done chan struct{}
	wg   sync.WaitGroup
}

// Bridge opens the ports of c.Bridge, blocks the bridge and starts
// listening for probes. Close ends it and leaves the bridge blocked.
func Bridge(c *BridgeConfig) (*BridgeStep, error) {
	if c == nil || c.Bridge == "" || c.Ports[0] == "" || c.Ports[1] == "" || c.Ports[0] == c.Ports[1] {
		return nil, fmt.Errorf("member: bridge: a bridge and two different ports are required: %w", hakit.ErrConfig)
	}
	g, err := NewLoopGuard(c.Guard)
	if err != nil {
		return nil, err
	}
	os, err := openBridge(c.Bridge, c.Ports, ProbeMAC(g.cfg.ClusterID, g.cfg.UnitID))
	if err != nil {
		return nil, err
	}
	return newBridgeStep(c, g, os)
}

func newBridgeStep(c *BridgeConfig, g *LoopGuard, os bridgeOS) (*BridgeStep, error) {
	b := &BridgeStep{cfg: *c, os: os, guard: g, own: os.macs(), done: make(chan struct{}),
		dst: ProbeMAC(g.cfg.ClusterID, g.cfg.UnitID), log: c.Logger, buf: make([]byte, 1600)}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.log = b.log.With("part", "bridge", "bridge", c.Bridge)
	if c.Keys != nil {
		b.mac = auth.New(c.Keys, probeAuthInfo)
	}
	if err := os.setForwarding(false); err != nil {
		os.Close()
		return nil, fmt.Errorf("member: bridge %s: blocking: %w", c.Bridge, err)
	}
	b.wg.Add(1)
	go b.ticker()
	return b, nil
}

// Name returns "bridge".
func (b *BridgeStep) Name() string { return "bridge" }

// Up asks to forward and waits for the guard's first decision.
func (b *BridgeStep) Up(ctx context.Context) error {
	b.mu.Lock()
	ch := make(chan struct{})
	b.forwarded = ch
	b.guard.SetWant(time.Now(), true)
	b.tick(time.Now())
	b.mu.Unlock()
	c := b.guard.cfg
	// Long enough for a peer's last probe to have come (or its silence
	// to count: Quiet), short enough not to hold the takeover up.
	t := time.NewTimer(c.Listen + c.Quiet + c.Interval)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		st := b.Stats()
		b.log.Warn("primary, but the bridge does not forward: another bridge does", "reason", st.Held)
	case <-ctx.Done():
	}
	return nil
}

// Down blocks the bridge and withdraws the learning frames.
func (b *BridgeStep) Down(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.guard.SetWant(time.Now(), false)
	if err := b.tick(time.Now()); err != nil {
		return err
	}
	if b.fwd { // blocking failed
		return fmt.Errorf("member: bridge %s: still forwarding", b.cfg.Bridge)
	}
	return nil
}

// Reannounce sends the learning frames again, if forwarding.
func (b *BridgeStep) Reannounce(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.fwd {
		return nil
	}
	return b.announce(ctx, time.Now())
}

// Stats returns the step's counters and state.
func (b *BridgeStep) Stats() BridgeStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	s := BridgeStats{LoopGuardStats: b.guard.Stats(), Forwarding: b.fwd, BadProbes: b.bad}
	if b.guard.want && !b.fwd {
		_, s.Held = b.guard.decide(now)
	}
	for side := range 2 {
		s.Learn[side] = len(b.learnList(now, side))
	}
	return s
}

// Close stops the probes and the listening; the bridge is left blocked.
func (b *BridgeStep) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.guard.SetWant(time.Now(), false)
	err := b.tick(time.Now())
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
	return errors.Join(err, b.os.Close())
}

// ticker runs the guard every half probe interval: it reads the probes
// queued on both ports, then decides. One goroutine reads and decides, so
// that no decision is taken while probes wait unread (a reader goroutine
// starved on a loaded machine would let the guard forward on stale
// evidence).
func (b *BridgeStep) ticker() {
	defer b.wg.Done()
	t := time.NewTicker(b.guard.cfg.Interval / 2)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.mu.Lock()
			if !b.closed {
				b.tick(time.Now())
			}
			b.mu.Unlock()
		}
	}
}

// drain feeds the guard every probe queued on the ports; b.mu is held.
func (b *BridgeStep) drain() {
	for side := range 2 {
		for range 256 { // at most: a flood must not hold the lock forever
			n, err := b.os.read(side, b.buf)
			if err != nil {
				b.log.Debug("reading probes", "port", b.cfg.Ports[side], "err", err)
			}
			if n == 0 || err != nil {
				break
			}
			payload, ok := b.open(b.buf[:n])
			if !ok || b.probeIn.UnmarshalBinary(payload) != nil {
				b.bad++
				continue
			}
			b.guard.Heard(time.Now(), side, &b.probeIn)
		}
	}
}

// tick reads the queued probes, runs the guard and carries out its
// decision; b.mu is held.
func (b *BridgeStep) tick(now time.Time) error {
	b.drain()
	d := b.guard.Tick(now)
	var err error
	if d.Changed && !d.Forward {
		// Block first; the learning frames stop after.
		if err = b.os.setForwarding(false); err != nil {
			b.log.Error("blocking the bridge", "err", err)
		} else {
			b.fwd = false
		}
		b.withdraw()
		b.log.Info("bridge blocked", "reason", d.Reason)
	}
	if d.Changed && d.Forward {
		if err = b.os.setForwarding(true); err != nil {
			b.log.Error("letting the bridge forward", "err", err)
			b.os.setForwarding(false)
		} else {
			b.fwd = true
			b.log.Info("bridge forwarding", "learn", []int{len(b.learnList(now, 0)), len(b.learnList(now, 1))})
			b.announce(context.Background(), now)
			if b.forwarded != nil { // Up returns: forwarding, and announced
				close(b.forwarded)
				b.forwarded = nil
			}
		}
	} else if d.Reason != "" && d.Held {
		b.log.Warn("primary, bridge held blocked", "reason", d.Reason)
	}
	if d.Probe != nil {
		b.probe(now, *d.Probe)
	}
	return err
}

// probeAuthInfo names the probes' subkey.
const probeAuthInfo = "hakit loop probe v1"

// open returns the probe in frame (after its Ethernet header), checking
// its tag when the step has keys; ok is false for a frame to drop. A frame
// padded to the Ethernet minimum carries zeros after the tag.
func (b *BridgeStep) open(frame []byte) (payload []byte, ok bool) {
	if len(frame) < 14+loopProbeHeaderLen {
		return nil, false
	}
	payload = frame[14:]
	if b.mac == nil {
		return payload, true
	}
	plen := loopProbeHeaderLen + 6*int(binary.BigEndian.Uint16(payload[12:]))
	if len(payload) < plen+1+auth.TagLen {
		return nil, false
	}
	id := payload[plen]
	if !b.mac.Verify(id, frame[:14], payload[:plen+1], payload[plen+1:plen+1+auth.TagLen]) {
		return nil, false
	}
	return payload[:plen], true
}

// refreshTable rereads the own bridge's MACs at most once a second, while
// forwarding.
func (b *BridgeStep) refreshTable(now time.Time) {
	if !b.fwd || now.Sub(b.tableAt) < time.Second {
		return
	}
	b.tableAt = now
	t, err := b.os.fdb()
	if err != nil {
		b.log.Debug("reading the forwarding table", "err", err)
		return
	}
	b.table = t
}

// probe sends p out of both ports, each with a page of the MACs known on
// the other side.
func (b *BridgeStep) probe(now time.Time, p LoopProbe) {
	b.refreshTable(now)
	for side := range 2 {
		p.Side = uint8(side)
		other := b.table[1-side]
		if !b.fwd {
			other = nil
		}
		p.Learn = nil
		if len(other) > 0 {
			start := b.page[side] % len(other)
			end := min(start+MaxProbeLearn, len(other))
			p.Learn = other[start:end]
			b.page[side] = end % len(other)
		}
		frame := make([]byte, 14, 14+loopProbeHeaderLen+6*len(p.Learn))
		copy(frame, b.dst)
		copy(frame[6:], b.own[side])
		binary.BigEndian.PutUint16(frame[12:], LoopProbeEtherType)
		frame, err := p.AppendBinary(frame)
		if err == nil && b.mac != nil {
			id := b.mac.Primary()
			frame = append(frame, id)
			frame = append(frame, b.mac.Tag(id, frame[:14], frame[14:])...)
		}
		if err == nil {
			err = b.os.send(side, frame)
		}
		if err != nil {
			b.log.Debug("sending a probe", "port", b.cfg.Ports[side], "err", err)
		}
	}
}

// learnList returns the MACs to announce on a port: those the probes
// heard there listed, and those the own bridge learnt on the other port.
func (b *BridgeStep) learnList(now time.Time, side int) []net.HardwareAddr {
	out := b.guard.Learn(now, side)
	for _, m := range b.table[1-side] {
		if !slices.ContainsFunc(out, func(x net.HardwareAddr) bool { return [6]byte(x) == m }) {
			out = append(out, net.HardwareAddr(m[:]))
		}
	}
	return slices.DeleteFunc(out, func(x net.HardwareAddr) bool {
		return slices.ContainsFunc(b.own[:], func(o net.HardwareAddr) bool { return string(o) == string(x) })
	})
}

// announce sends the learning frames on both ports; b.mu is held.
func (b *BridgeStep) announce(ctx context.Context, now time.Time) error {
	if b.cfg.Announcer == nil {
		return nil
	}
	var errs []error
	for side := range 2 {
		macs := b.learnList(now, side)
		if len(macs) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		err := b.cfg.Announcer.Announce(ctx, garp.Move{Interface: b.cfg.Ports[side], Learn: macs})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("learning frames on %s: %w", b.cfg.Ports[side], err))
			continue
		}
		b.announced[side] = true
	}
	err := errors.Join(errs...)
	if err != nil {
		b.log.Error("announcing", "err", err)
	}
	return err
}

// withdraw stops the learning frames; b.mu is held.
func (b *BridgeStep) withdraw() {
	for side := range 2 {
		if !b.announced[side] {
			continue
		}
		b.announced[side] = false
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		// A learn-only move is named by its interface alone.
		if err := b.cfg.Announcer.Withdraw(ctx, garp.Move{Interface: b.cfg.Ports[side]}); err != nil {
			b.log.Debug("withdrawing the learning frames", "port", b.cfg.Ports[side], "err", err)
		}
		cancel()
	}
}

var _ Reannouncer = (*BridgeStep)(nil)
