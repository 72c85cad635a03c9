package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// probeSize is the length of a probe: a sequence number and the send time.
// An answer is the probe followed by one byte, the ID of the unit that
// answered.
const probeSize = 16

// answer is one echo the client received.
type answer struct {
	at   time.Time // when the client read it
	unit byte      // the responder's ID
}

// prober sends a UDP probe to the virtual address every period and records
// every answer. Its socket is opened in the client's namespace; the
// goroutines may run anywhere.
type prober struct {
	conn   *net.UDPConn
	target netip.AddrPort
	period time.Duration

	mu      sync.Mutex
	answers []answer
	sent    uint64
	sendErr uint64

	stop chan struct{}
	done sync.WaitGroup
}

// newProber starts probing target every period from conn (a socket opened
// in the client's namespace). Close stops it.
func newProber(conn *net.UDPConn, target netip.AddrPort, period time.Duration) *prober {
	p := &prober{conn: conn, target: target, period: period, stop: make(chan struct{})}
	p.done.Add(2)
	go p.send()
	go p.receive()
	return p
}

func (p *prober) send() {
	defer p.done.Done()
	t := time.NewTicker(p.period)
	defer t.Stop()
	var buf [probeSize]byte
	for seq := uint64(0); ; seq++ {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			binary.BigEndian.PutUint64(buf[0:], seq)
			binary.BigEndian.PutUint64(buf[8:], uint64(now.UnixNano()))
			_, err := p.conn.WriteToUDPAddrPort(buf[:], p.target)
			p.mu.Lock()
			p.sent++
			if err != nil {
				p.sendErr++
			}
			p.mu.Unlock()
		}
	}
}

func (p *prober) receive() {
	defer p.done.Done()
	buf := make([]byte, 64)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n != probeSize+1 || from.Addr().Unmap() != p.target.Addr() {
			continue
		}
		a := answer{at: time.Now(), unit: buf[probeSize]}
		p.mu.Lock()
		p.answers = append(p.answers, a)
		p.mu.Unlock()
	}
}

// mark returns a position in the record of answers, for since.
func (p *prober) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.answers)
}

// since returns a copy of the answers recorded from position i on.
func (p *prober) since(i int) []answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.answers[min(i, len(p.answers)):])
}

// reset forgets the answers recorded so far (positions start again at 0).
func (p *prober) reset() {
	p.mu.Lock()
	p.answers = p.answers[:0]
	p.mu.Unlock()
}

// steady reports whether unit alone answered during the last d before
// now, with no stretch without an answer longer than hole.
func (p *prober) steady(unit byte, d, hole time.Duration, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := now.Add(-d)
	var in []time.Time
	for i := len(p.answers) - 1; i >= 0 && !p.answers[i].at.Before(from); i-- {
		if p.answers[i].unit != unit {
			return false
		}
		in = append(in, p.answers[i].at)
	}
	if len(in) == 0 {
		return false
	}
	slices.Reverse(in)
	gap, _ := longestGap(in, from, now)
	return gap <= hole
}

// close stops probing and closes the socket.
func (p *prober) close() {
	close(p.stop)
	p.conn.Close()
	p.done.Wait()
}

// longestGap returns the longest stretch of time in [from, to] without an
// answer, and when it started: the largest of the distance from from to
// the first answer, between consecutive answers, and from the last answer
// to to. at must be sorted; answers outside [from, to] are ignored. With
// no answer in [from, to] the whole span is the gap.
func longestGap(at []time.Time, from, to time.Time) (gap time.Duration, start time.Time) {
	prev := from
	for _, t := range at {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			break
		}
		if d := t.Sub(prev); d > gap {
			gap, start = d, prev
		}
		prev = t
	}
	if d := to.Sub(prev); d > gap {
		gap, start = d, prev
	}
	return gap, start
}

// failoverGap measures one failover from the answers: the stretch without
// an answer that the event at t0 caused. It starts at the last answer
// before t0 (or at t0 when there is none in before) and is the longest
// stretch without an answer from there to end.
func failoverGap(before, after []answer, t0, end time.Time) time.Duration {
	start := t0
	for i := len(before) - 1; i >= 0; i-- {
		if !before[i].at.After(t0) {
			start = before[i].at
			break
		}
	}
	at := make([]time.Time, 0, len(after))
	for _, a := range after {
		if a.at.After(start) {
			at = append(at, a.at)
		}
	}
	gap, _ := longestGap(at, start, end)
	return gap
}

// responder answers the probes sent to its socket: it echoes each one
// with its unit ID appended.
type responder struct {
	conn *net.UDPConn
	id   byte
	done chan struct{}
}

// newResponder starts answering on conn (opened in the unit's namespace).
func newResponder(conn *net.UDPConn, id byte) *responder {
	r := &responder{conn: conn, id: id, done: make(chan struct{})}
	go r.run()
	return r
}

func (r *responder) run() {
	defer close(r.done)
	buf := make([]byte, 64)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n != probeSize {
			continue
		}
		buf[probeSize] = r.id
		_, _ = r.conn.WriteToUDPAddrPort(buf[:probeSize+1], from)
	}
}

func (r *responder) close() {
	r.conn.Close()
	<-r.done
}

// listenUDP opens a UDP socket bound to ap; call it inside a namespace
// (testbed Host.Do). Binding to an address the host does not hold needs
// net.ipv4.ip_nonlocal_bind=1.
func listenUDP(ap netip.AddrPort) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("failbench: listen %s: %w", ap, err)
	}
	_ = c.SetReadBuffer(1 << 20)
	return c, nil
}
