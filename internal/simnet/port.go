package simnet

import (
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hakit/hakit"

	"github.com/mdlayher/packet"
)

// Port is one endpoint of a Segment: a NIC and its cable to the switch. As a
// net.PacketConn it carries whole Ethernet frames (destination MAC, source
// MAC, EtherType, payload; no FCS), like an AF_PACKET SOCK_RAW socket.
//
// Frames for the port are either queued for ReadFrom or, once SetHandler is
// called, passed to the handler on the clock's callback goroutine.
type Port struct {
	seg   *Segment
	name  string
	inbox chan []byte
	done  chan struct{}
	rd    *deadline
	wd    *deadline

	// Guarded by seg.mu.
	macs         []mac // the first is the primary address
	promisc      bool
	handler      func(frame []byte, src net.HardwareAddr)
	loss         float64
	latency      time.Duration
	reorderP     float64
	reorderExtra time.Duration
	cut          bool
	part         int
	closed       bool
	stats        Stats
}

var _ net.PacketConn = (*Port)(nil)

// Name returns the name the port was attached with.
func (p *Port) Name() string { return p.name }

// ReadFrom copies the next frame queued for the port into b and returns its
// length and its source as a *packet.Addr. A frame longer than b is
// truncated. ReadFrom blocks until a frame arrives, the read deadline passes
// (an error satisfying os.ErrDeadlineExceeded) or the port is closed
// (net.ErrClosed). While a handler is set, frames go to the handler and
// ReadFrom only waits. On a clock.Sim, frames and deadlines arrive only as
// the clock is advanced, so never call ReadFrom on the goroutine advancing
// it: use SetHandler there.
func (p *Port) ReadFrom(b []byte) (int, net.Addr, error) {
	rd := p.rd.wait()
	select {
	case <-p.done:
		return 0, nil, p.opError("read", net.ErrClosed)
	case <-rd:
		return 0, nil, p.opError("read", os.ErrDeadlineExceeded)
	default:
	}
	select {
	case f := <-p.inbox:
		n := copy(b, f)
		return n, &packet.Addr{HardwareAddr: slices.Clone(f[6:12])}, nil
	case <-p.done:
		return 0, nil, p.opError("read", net.ErrClosed)
	case <-rd:
		return 0, nil, p.opError("read", os.ErrDeadlineExceeded)
	}
}

// WriteTo sends frame b into the segment; addr is ignored, since the switch
// forwards on the frame's destination MAC. b is copied. A frame shorter than
// HeaderLen or longer than the MTU allows is rejected with an error. A frame
// lost on the wire (loss, a cut cable, a partition) is not an error: it is
// counted in Stats, as a real NIC would.
func (p *Port) WriteTo(b []byte, addr net.Addr) (int, error) {
	switch {
	case len(b) < HeaderLen:
		return 0, p.opError("write", fmt.Errorf("simnet: %d-byte frame: %w", len(b), ErrShortFrame))
	case len(b) > p.seg.maxFrame:
		return 0, p.opError("write", fmt.Errorf("simnet: %d-byte frame, at most %d: %w", len(b), p.seg.maxFrame, ErrLongFrame))
	}
	select {
	case <-p.wd.wait():
		return 0, p.opError("write", os.ErrDeadlineExceeded)
	default:
	}
	s := p.seg
	s.mu.Lock()
	if p.closed {
		s.mu.Unlock()
		return 0, p.opError("write", net.ErrClosed)
	}
	s.send(p, b)
	s.mu.Unlock()
	return len(b), nil
}

// Close detaches the port from the segment: blocked and later reads and
// writes fail with net.ErrClosed, queued frames are discarded and the switch
// forgets the addresses learned on the port.
func (p *Port) Close() error {
	s := p.seg
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.closed {
		return &net.OpError{Op: "close", Net: "packet", Err: net.ErrClosed}
	}
	p.closed = true
	close(p.done)
	s.ports = slices.DeleteFunc(s.ports, func(q *Port) bool { return q == p })
	s.forget(p)
	s.gone.Dropped.add(p.stats.Dropped)
	return nil
}

// LocalAddr returns the port's primary hardware address as a *packet.Addr.
func (p *Port) LocalAddr() net.Addr { return &packet.Addr{HardwareAddr: p.HardwareAddr()} }

// SetDeadline sets the read and write deadlines. The segment's clock decides
// when they pass.
func (p *Port) SetDeadline(t time.Time) error {
	p.rd.set(p.seg.clk, t)
	p.wd.set(p.seg.clk, t)
	return nil
}

// SetReadDeadline sets the time after which ReadFrom fails with an error
// satisfying os.ErrDeadlineExceeded; zero means no deadline.
func (p *Port) SetReadDeadline(t time.Time) error {
	p.rd.set(p.seg.clk, t)
	return nil
}

// SetWriteDeadline sets the time after which WriteTo fails. Writes never
// block, so only a deadline already passed has an effect.
func (p *Port) SetWriteDeadline(t time.Time) error {
	p.wd.set(p.seg.clk, t)
	return nil
}

// HardwareAddr returns a copy of the port's primary MAC address, or nil if
// it has none.
func (p *Port) HardwareAddr() net.HardwareAddr {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	if len(p.macs) == 0 {
		return nil
	}
	return slices.Clone(net.HardwareAddr(p.macs[0][:]))
}

// HardwareAddrs returns copies of all the MAC addresses the port accepts,
// the primary first.
func (p *Port) HardwareAddrs() []net.HardwareAddr {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	out := make([]net.HardwareAddr, len(p.macs))
	for i, m := range p.macs {
		out[i] = slices.Clone(net.HardwareAddr(m[:]))
	}
	return out
}

// SetHardwareAddr replaces the port's primary MAC address, as `ip link set
// address` would. The switch learns the new address only when the port
// sends a frame from it.
func (p *Port) SetHardwareAddr(hw net.HardwareAddr) error {
	m, err := toMAC(hw)
	if err != nil {
		return err
	}
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	if i := slices.Index(p.macs, m); i > 0 {
		p.macs = slices.Delete(p.macs, i, i+1)
	}
	if len(p.macs) == 0 {
		p.macs = []mac{m}
	} else {
		p.macs[0] = m
	}
	return nil
}

// AddHardwareAddr makes the port also accept frames for hw, as a virtual
// MAC in the NIC's unicast filter does. Adding an address twice is a no-op.
func (p *Port) AddHardwareAddr(hw net.HardwareAddr) error {
	m, err := toMAC(hw)
	if err != nil {
		return err
	}
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	if !slices.Contains(p.macs, m) {
		p.macs = append(p.macs, m)
	}
	return nil
}

// RemoveHardwareAddr stops the port accepting frames for hw. Removing the
// primary address makes the next one (if any) primary; removing an address
// the port does not have is a no-op.
func (p *Port) RemoveHardwareAddr(hw net.HardwareAddr) error {
	m, err := toMAC(hw)
	if err != nil {
		return err
	}
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	p.macs = slices.DeleteFunc(p.macs, func(x mac) bool { return x == m })
	return nil
}

// SetPromiscuous makes the port accept every frame the switch sends it, not
// only those for its addresses, broadcast and multicast.
func (p *Port) SetPromiscuous(on bool) {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	p.promisc = on
}

// SetHandler makes the segment deliver the port's frames by calling h
// instead of queueing them for ReadFrom; nil restores queueing. h runs on
// the clock's callback goroutine (on a clock.Sim, the goroutine advancing
// it), never concurrently with another handler of the segment, and may
// write frames: they are delivered in a later callback, even at zero
// latency. h owns frame and may keep it; src aliases frame's source field.
// Frames already queued for ReadFrom go to h, in order, in the next
// callback: a port that switches to a handler loses nothing.
func (p *Port) SetHandler(h func(frame []byte, src net.HardwareAddr)) {
	s := p.seg
	s.mu.Lock()
	defer s.mu.Unlock()
	p.handler = h
	if h == nil {
		return
	}
	now := s.now()
	for {
		select {
		case f := <-p.inbox:
			// Counted when queued; deliver counts it again.
			p.stats.Received--
			s.stats.Delivered--
			s.seq++
			s.push(delivery{due: now, seq: s.seq, to: p, frame: f})
			s.arm()
		default:
			return
		}
	}
}

// SetLoss drops frames from and to the port each with probability prob,
// drawn from the segment's seeded source. Zero turns loss off.
func (p *Port) SetLoss(prob float64) {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	p.loss = prob
}

// SetLatency delays frames from and to the port by d each way: a frame from
// a to b arrives after a's latency plus b's.
func (p *Port) SetLatency(d time.Duration) {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	p.latency = max(d, 0)
}

// SetReorder delays frames from and to the port, each with probability
// prob, by extra on top of the latency, so that frames sent after them
// overtake them. Zero prob turns reordering off.
func (p *Port) SetReorder(prob float64, extra time.Duration) {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	p.reorderP = prob
	p.reorderExtra = max(extra, 0)
}

// Cut pulls the port's cable: nothing goes in or out, frames in flight to
// it are lost, and the switch flushes the addresses it learned on the port,
// as on a link-down. Frames already queued for ReadFrom stay queued.
func (p *Port) Cut() {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	p.cut = true
	p.seg.forget(p)
}

// Heal plugs the port's cable back in.
func (p *Port) Heal() {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	p.cut = false
}

// Stats returns the port's counters.
func (p *Port) Stats() Stats {
	p.seg.mu.Lock()
	defer p.seg.mu.Unlock()
	return p.stats
}

// accepts reports whether the NIC filter lets a frame for dst in. Called
// with seg.mu held.
func (p *Port) accepts(dst mac) bool {
	return p.promisc || dst[0]&1 == 1 || slices.Contains(p.macs, dst)
}

// opError wraps err as the net package does. Call it without seg.mu held.
func (p *Port) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "packet", Addr: p.LocalAddr(), Err: err}
}

// deadline is a channel closed when a deadline passes, on the segment's
// clock; the scheme of net.Pipe.
type deadline struct {
	mu     sync.Mutex
	stop   func() bool
	cancel chan struct{}
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(clk hakit.Clock, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop != nil && !d.stop() {
		<-d.cancel // the timer is firing: wait for it to close cancel
	}
	d.stop = nil
	expired := isClosed(d.cancel)
	if t.IsZero() {
		if expired {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := t.Sub(clk.Now()); dur > 0 {
		if expired {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.stop = clk.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !expired {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
