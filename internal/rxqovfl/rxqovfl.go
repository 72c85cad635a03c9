// Package rxqovfl counts the datagrams the kernel dropped on a UDP
// socket's full receive queue, which Linux reports with each datagram read
// (the SO_RXQ_OVFL socket option: the socket's running total).
package rxqovfl

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Counter reads datagrams from a UDP socket with the kernel's drop count.
// The zero Counter reads without counting; Enable turns counting on.
type Counter struct {
	on   bool
	mu   sync.Mutex
	oob  []byte // under mu
	last uint32 // under mu
	sum  atomic.Uint64
}

// Enable asks the kernel to report c's drops (on Linux; elsewhere it does
// nothing and Supported stays false). Call it once, before reading.
func (o *Counter) Enable(c *net.UDPConn) {
	if c != nil && enable(c) {
		o.on = true
		o.oob = make([]byte, oobLen)
	}
}

// Supported reports whether the kernel reports the drops.
func (o *Counter) Supported() bool { return o.on }

// Read reads a datagram from c into b, and the kernel's drop count with
// it. Reads are serialised.
func (o *Counter) Read(c *net.UDPConn, b []byte) (int, netip.AddrPort, error) {
	if !o.on {
		return c.ReadFromUDPAddrPort(b)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	n, oobn, _, from, err := c.ReadMsgUDPAddrPort(b, o.oob)
	if v, ok := parse(o.oob[:oobn]); ok && v != o.last {
		o.sum.Add(uint64(v - o.last)) // the kernel's count is 32 bits and wraps
		o.last = v
	}
	return n, from, err
}

// Total returns the drops counted so far. The kernel tells them with the
// first datagram it queues after them, so they show once that one is read.
func (o *Counter) Total() uint64 { return o.sum.Load() }
