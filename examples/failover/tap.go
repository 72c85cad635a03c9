package main

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/mdlayher/packet"

	"github.com/hakit/hakit/internal/simnet"
)

// tap shares one simulated port among the parts of a unit, as a NIC is
// shared by the kernel's protocol handlers: each part gets a conn that
// sends on the port and receives the port's frames of its EtherType, in a
// handler (push style: no reader goroutine, deterministic on the simulated
// clock). Frames of other EtherTypes go to the tap's own handler.
type tap struct {
	port *simnet.Port
	mu   sync.Mutex
	subs []*tapConn
	rest func(frame []byte, src net.HardwareAddr) // every frame, before the subscribers
}

func newTap(p *simnet.Port, rest func(frame []byte, src net.HardwareAddr)) *tap {
	t := &tap{port: p, rest: rest}
	p.SetHandler(t.receive)
	return t
}

func (t *tap) receive(frame []byte, src net.HardwareAddr) {
	if len(frame) < simnet.HeaderLen {
		return
	}
	if t.rest != nil {
		t.rest(frame, src)
	}
	et := binary.BigEndian.Uint16(frame[12:14])
	t.mu.Lock()
	var hs []func([]byte, net.HardwareAddr)
	for _, c := range t.subs {
		if c.etherType == et && c.handler != nil {
			hs = append(hs, c.handler)
		}
	}
	t.mu.Unlock()
	for _, h := range hs {
		h(frame, src)
	}
}

// conn returns a conn for frames of etherType. Closing it unsubscribes it
// and leaves the port alone.
func (t *tap) conn(etherType uint16) *tapConn {
	c := &tapConn{t: t, etherType: etherType}
	t.mu.Lock()
	t.subs = append(t.subs, c)
	t.mu.Unlock()
	return c
}

// tapConn is one part's view of a tapped port: a net.PacketConn that only
// delivers through SetHandler.
type tapConn struct {
	t         *tap
	etherType uint16
	handler   func(frame []byte, src net.HardwareAddr)
}

var errPushOnly = errors.New("tap: frames are delivered to the handler")

func (c *tapConn) SetHandler(h func(frame []byte, src net.HardwareAddr)) {
	c.t.mu.Lock()
	c.handler = h
	c.t.mu.Unlock()
}

func (c *tapConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, errPushOnly }

func (c *tapConn) WriteTo(b []byte, addr net.Addr) (int, error) { return c.t.port.WriteTo(b, addr) }

func (c *tapConn) Close() error {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	for i, s := range c.t.subs {
		if s == c {
			c.t.subs = append(c.t.subs[:i], c.t.subs[i+1:]...)
			break
		}
	}
	return nil
}

func (c *tapConn) LocalAddr() net.Addr {
	return &packet.Addr{HardwareAddr: c.t.port.HardwareAddr()}
}

func (c *tapConn) SetDeadline(time.Time) error      { return nil }
func (c *tapConn) SetReadDeadline(time.Time) error  { return nil }
func (c *tapConn) SetWriteDeadline(time.Time) error { return nil }
