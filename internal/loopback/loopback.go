// Package loopback is the plumbing of the programs and tests that run a
// whole cluster in one process on loopback: free ports, a heartbeat link
// that can be cut, and waiting for a condition on the real clock.
package loopback

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakit/hakit/heartbeat"
)

// FreeUDP returns n loopback UDP addresses that were free a moment ago.
func FreeUDP(n int) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		out = append(out, c.LocalAddr().(*net.UDPAddr).AddrPort())
		c.Close()
	}
	return out, nil
}

// FreeTCP returns n loopback TCP addresses ("127.0.0.1:port") that were
// free a moment ago.
func FreeTCP(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out, nil
}

// Wait polls ok every 5 ms until it holds, or returns an error once d has
// passed.
func Wait(d time.Duration, ok func() bool) error {
	for end := time.Now().Add(d); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			return fmt.Errorf("not after %v", d)
		}
	}
	return nil
}

// Cuttable is a heartbeat.Conn that can be cut: while Cut is set, nothing
// is sent and what arrives is dropped, as on a partitioned network.
type Cuttable struct {
	heartbeat.Conn
	// Cut cuts the link while true.
	Cut atomic.Bool
}

// WriteFrame sends b, unless the link is cut.
func (c *Cuttable) WriteFrame(b []byte, src, dst net.HardwareAddr) error {
	if c.Cut.Load() {
		return nil
	}
	return c.Conn.WriteFrame(b, src, dst)
}

// ReadFrame returns the next frame that arrives while the link is not cut.
func (c *Cuttable) ReadFrame(b []byte) (int, error) {
	for {
		n, err := c.Conn.ReadFrame(b)
		if err != nil || !c.Cut.Load() {
			return n, err
		}
	}
}

// Timeline prints what happened, one line each, with the time since it
// was made: "+ 0.802s  unit1   primary (…)". It is safe for concurrent
// use.
type Timeline struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

// NewTimeline returns a Timeline that prints to w from now on.
func NewTimeline(w io.Writer) *Timeline { return &Timeline{w: w, start: time.Now()} }

// Say prints what, said by who.
func (t *Timeline) Say(who, what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "+%6.3fs  %-7s %s\n", time.Since(t.start).Seconds(), who, what)
}
