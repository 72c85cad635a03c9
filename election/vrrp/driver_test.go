package vrrp

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hakit/hakit"
	"github.com/stretchr/testify/require"
)

// link is an in-memory link for Conns: a message written to the group
// reaches every other open Conn, one written to an address the Conn of
// that address.
type link struct {
	mu    sync.Mutex
	conns []*linkConn
	ttl   uint8
}

type linkConn struct {
	l      *link
	addr   netip.Addr
	in     chan Packet
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex
	writes []Packet
	fail   error // returned by ReadFrom once, then cleared
}

func (l *link) conn(addr string) *linkConn {
	c := &linkConn{l: l, addr: netip.MustParseAddr(addr), in: make(chan Packet, 64), closed: make(chan struct{})}
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	return c
}

func (c *linkConn) ReadFrom(b []byte) (Packet, error) {
	c.mu.Lock()
	if err := c.fail; err != nil {
		c.fail = nil
		c.mu.Unlock()
		return Packet{}, err
	}
	c.mu.Unlock()
	select {
	case p := <-c.in:
		n := copy(b, p.Data)
		p.Data = b[:n]
		return p, nil
	case <-c.closed:
		return Packet{}, &net.OpError{Op: "read", Net: "ip:112", Err: net.ErrClosed}
	}
}

func (c *linkConn) WriteTo(b []byte, src, dst netip.Addr) error {
	select {
	case <-c.closed:
		return &net.OpError{Op: "write", Net: "ip:112", Err: net.ErrClosed}
	default:
	}
	ttl := c.l.ttl
	if ttl == 0 {
		ttl = 255
	}
	p := Packet{Src: src, Dst: dst, TTL: ttl, Data: bytes.Clone(b)}
	c.mu.Lock()
	c.writes = append(c.writes, p)
	c.mu.Unlock()
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	for _, o := range c.l.conns {
		if o == c || !(dst.IsMulticast() || dst == o.addr) {
			continue
		}
		select {
		case <-o.closed:
		case o.in <- p:
		default: // a full queue drops, as a socket buffer does
		}
	}
	return nil
}

func (c *linkConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *linkConn) sent() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.writes...)
}

// recorder collects a Driver's transitions.
type recorder struct {
	mu sync.Mutex
	ts []Transition
}

func (r *recorder) hook(t Transition) {
	r.mu.Lock()
	r.ts = append(r.ts, t)
	r.mu.Unlock()
}

func (r *recorder) states() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []State
	for _, t := range r.ts {
		s = append(s, t.To)
	}
	return s
}

func (r *recorder) last() Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ts[len(r.ts)-1]
}

func driverCfg(prio uint8, primary string) *Config {
	return &Config{VRID: 51, Priority: prio, Addrs: []netip.Addr{vip4}, Primary: netip.MustParseAddr(primary),
		AdvertInterval: 100 * time.Millisecond}
}

func newDriver(t *testing.T, c Conn, cfg *Config, r *recorder) *Driver {
	t.Helper()
	d, err := NewDriver(c, cfg, &DriverConfig{OnTransition: r.hook})
	require.NoError(t, err)
	return d
}

// newPair returns two Drivers on one link, a of priority 200 at
// 198.18.0.2 and b of priority 100 at 198.18.0.3, not started.
func newPair(t *testing.T) (ca, cb *linkConn, ra, rb *recorder, a, b *Driver) {
	l := &link{}
	ca, cb = l.conn("198.18.0.2"), l.conn("198.18.0.3")
	ra, rb = &recorder{}, &recorder{}
	a = newDriver(t, ca, driverCfg(200, "198.18.0.2"), ra)
	b = newDriver(t, cb, driverCfg(100, "198.18.0.3"), rb)
	return ca, cb, ra, rb, a, b
}

func TestDriverPair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, _, ra, rb, a, b := newPair(t)
		start := time.Now()
		require.NoError(t, a.Start())
		require.NoError(t, b.Start())
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, Master, a.State())
		require.Equal(t, Backup, b.State())
		require.Equal(t, []State{Backup, Master}, ra.states())
		require.Equal(t, []State{Backup}, rb.states())
		require.Equal(t, start.Add(MasterDownInterval(200, 100*time.Millisecond)), ra.last().Time)
		require.Equal(t, []netip.Addr{vip4}, ra.last().Addrs)

		// a's adverts: to the group, sealed with the pseudo-header.
		sent := ca.sent()
		require.NotEmpty(t, sent)
		for _, p := range sent {
			require.Equal(t, GroupIPv4, p.Dst)
			var adv Advertisement
			require.NoError(t, adv.UnmarshalBinary(p.Data))
			form, err := adv.Verify(p.Src, p.Dst)
			require.NoError(t, err)
			require.Equal(t, ChecksumPseudoHeader, form)
		}
		s := b.Status()
		require.Equal(t, netip.MustParseAddr("198.18.0.2"), s.Master)
		require.Equal(t, uint64(len(sent)), s.Counters.Received)
		require.Equal(t, uint64(len(sent)), a.Status().Counters.Sent)

		// a stops cleanly: b takes over after its Skew_Time.
		stop := time.Now()
		require.NoError(t, a.Shutdown())
		<-a.Done()
		require.Equal(t, Initialize, ra.last().To)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, Master, b.State())
		require.Equal(t, stop.Add(SkewTime(100, 100*time.Millisecond)), rb.last().Time)
		require.Contains(t, rb.last().Reason, "priority 0")
		require.NoError(t, b.Close())
		<-b.Done()
	})
}

func TestDriverSilentDeath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, _, ra, rb, a, b := newPair(t)
		require.NoError(t, a.Start())
		require.NoError(t, b.Start())
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, Master, a.State())

		// a dies: no priority 0, no transition of its own.
		sent := ca.sent()
		last := len(sent)
		require.NoError(t, a.Close())
		<-a.Done()
		require.Equal(t, Master, ra.last().To, "Close tells the hook nothing")
		require.Len(t, ca.sent(), last)
		died := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, Master, b.State())
		// b's timer was reset by a's last advertisement, at most one
		// interval before a died.
		took := rb.last().Time
		mdi := MasterDownInterval(100, 100*time.Millisecond)
		require.True(t, took.Sub(died) <= mdi && took.Sub(died) > mdi-100*time.Millisecond, "took over %v after the death", took.Sub(died))
		require.NoError(t, b.Close())
	})
}

func TestDriverUnicast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &link{}
		ca, cb := l.conn("198.18.0.2"), l.conn("198.18.0.3")
		stranger := l.conn("198.18.0.4")
		cfgA := driverCfg(200, "198.18.0.2")
		cfgA.Peers = []netip.Addr{netip.MustParseAddr("198.18.0.3"), netip.MustParseAddr("198.18.0.9")}
		cfgA.Checksum = ChecksumMessageOnly
		cfgB := driverCfg(100, "198.18.0.3")
		cfgB.Peers = []netip.Addr{netip.MustParseAddr("198.18.0.2")}
		var ra, rb recorder
		a := newDriver(t, ca, cfgA, &ra)
		b := newDriver(t, cb, cfgB, &rb)
		require.NoError(t, a.Start())
		require.NoError(t, b.Start())
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, Master, a.State())
		require.Equal(t, Backup, b.State())
		// One copy to each peer, each sealed for its destination.
		var to3, to9 int
		for _, p := range ca.sent() {
			var adv Advertisement
			require.NoError(t, adv.UnmarshalBinary(p.Data))
			form, err := adv.Verify(p.Src, p.Dst)
			require.NoError(t, err)
			require.Equal(t, ChecksumMessageOnly, form)
			switch p.Dst.String() {
			case "198.18.0.3":
				to3++
			case "198.18.0.9":
				to9++
			default:
				t.Fatalf("sent to %v", p.Dst)
			}
		}
		require.Equal(t, to3, to9)
		require.Equal(t, ChecksumMessageOnly, b.Status().Peers[0].Checksum, "b reports a's form")
		require.Empty(t, stranger.sent())

		// A stranger's adverts (not a peer) are dropped and counted.
		adv := Advertisement{Version: 3, Type: 1, VRID: 51, Priority: 250, MaxAdvertInterval: 10, Addrs: []netip.Addr{vip4}}
		stranger4 := netip.MustParseAddr("198.18.0.4")
		require.NoError(t, adv.Seal(ChecksumPseudoHeader, stranger4, netip.MustParseAddr("198.18.0.3")))
		msg, _ := adv.MarshalBinary()
		require.NoError(t, stranger.WriteTo(msg, stranger4, netip.MustParseAddr("198.18.0.3")))
		synctest.Wait()
		require.Equal(t, uint64(1), b.Status().Counters.DroppedSource)
		require.Equal(t, Backup, b.State())
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
	})
}

func TestDriverHookReentrant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &link{}
		var d *Driver
		var got []State
		var mu sync.Mutex
		hook := func(tr Transition) {
			// The hook may call back into the Driver.
			s := d.Status()
			mu.Lock()
			got = append(got, s.State)
			mu.Unlock()
			if tr.To == Master {
				require.NoError(t, d.SetPriority(150))
			}
		}
		var err error
		d, err = NewDriver(l.conn("198.18.0.2"), driverCfg(200, "198.18.0.2"), &DriverConfig{OnTransition: hook})
		require.NoError(t, err)
		require.NoError(t, d.Start())
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, uint8(150), d.Status().Priority)
		require.NoError(t, d.Shutdown())
		<-d.Done()
		mu.Lock()
		require.Equal(t, []State{Backup, Master, Initialize}, got)
		mu.Unlock()
		require.ErrorIs(t, d.Start(), ErrClosed)
		require.ErrorIs(t, d.SetPriority(100), ErrClosed)
	})
}

func TestDriverReadErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &link{}
		c := l.conn("198.18.0.2")
		c.fail = errors.New("transient")
		d := newDriver(t, c, driverCfg(100, "198.18.0.2"), &recorder{})
		require.NoError(t, d.Start())
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, uint64(1), d.Status().Counters.ReadErrors)
		require.Equal(t, Master, d.State(), "it kept running")
		require.NoError(t, d.Close())
		<-d.Done()
	})
}

func TestDriverConfigErrors(t *testing.T) {
	_, err := NewDriver(nil, driverCfg(100, "198.18.0.2"), nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
	_, err = NewDriver(&linkConn{}, &Config{}, nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
}
