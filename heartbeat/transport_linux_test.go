package heartbeat

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hakit/hakit/internal/link"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/testbed"
)

// These tests need root: they build network namespaces joined by veth pairs
// to a Linux bridge (internal/testbed skips them otherwise, and fails them
// when CI=true).

// lan is a bridge with hosts cabled to it; host i (from 0) has the
// addresses 198.18.0.(i+1)/24 and 2001:db8::(i+1)/64 on eth0.
type lan struct {
	bed   *testbed.Bed
	br    *testbed.Bridge
	hosts map[string]*testbed.Host
	links map[string]*testbed.Link
	v4    map[string]netip.Addr
	v6    map[string]netip.Addr
}

func newLAN(t *testing.T, names ...string) *lan {
	t.Helper()
	l := &lan{
		bed:   testbed.New(t),
		hosts: map[string]*testbed.Host{}, links: map[string]*testbed.Link{},
		v4: map[string]netip.Addr{}, v6: map[string]netip.Addr{},
	}
	l.br = l.bed.Bridge("lan")
	for i, n := range names {
		h := l.bed.Host(n)
		l.hosts[n] = h
		l.links[n] = l.bed.Link(h, l.br, "eth0")
		l.v4[n] = netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", i+1))
		l.v6[n] = netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", i+1))
		h.AddAddr("eth0", netip.PrefixFrom(l.v4[n], 24))
		h.AddAddr("eth0", netip.PrefixFrom(l.v6[n], 64))
	}
	return l
}

// in runs fn inside host n's namespace and fails the test on error.
func (l *lan) in(t *testing.T, n string, fn func() error) {
	t.Helper()
	require.NoError(t, l.hosts[n].Do(fn))
}

// readAll reads from read until it fails, sending what it reads on the
// returned channel; the cleanup closes c and waits for the reader.
func readAll[T any](t *testing.T, c interface{ Close() error }, read func() (T, error)) <-chan T {
	t.Helper()
	ch := make(chan T, 64)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			v, err := read()
			if err != nil {
				return
			}
			ch <- v
		}
	})
	t.Cleanup(func() {
		_ = c.Close()
		wg.Wait()
	})
	return ch
}

func conns(t *testing.T, c Conn) <-chan []byte {
	t.Helper()
	return readAll(t, c, func() ([]byte, error) {
		b := make([]byte, 1500)
		n, err := c.ReadFrame(b)
		return b[:n], err
	})
}

func replies(t *testing.T, p Prober) <-chan netip.Addr {
	t.Helper()
	return readAll(t, p, p.ReadReply)
}

// within is how long a test waits for something that should arrive at
// once on veth links; it bounds a wait, it does not measure anything.
const within = 5 * time.Second

// quiet is how long a test listens to conclude that nothing arrives.
const quiet = 300 * time.Millisecond

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("nothing received within %v", within)
		panic("unreachable")
	}
}

func nothing[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("received %v, want nothing", v)
	case <-time.After(quiet):
	}
}

func TestListenEthernet(t *testing.T) {
	l := newLAN(t, "a", "b")
	ifa, ifb := l.hosts["a"].Interface("eth0"), l.hosts["b"].Interface("eth0")
	var ca, ca2, cb Conn
	var other *packet.Conn
	l.in(t, "a", func() (err error) {
		if ca, err = ListenEthernet(ifa, DefaultEtherType); err != nil {
			return err
		}
		ca2, err = ListenEthernet(ifa, DefaultEtherType)
		return err
	})
	l.in(t, "b", func() (err error) {
		if cb, err = ListenEthernet(ifb, DefaultEtherType); err != nil {
			return err
		}
		other, err = packet.Listen(ifb, packet.Raw, 0x88B5, nil)
		return err
	})
	t.Cleanup(func() { _ = other.Close() })
	atA, atA2, atB := conns(t, ca), conns(t, ca2), conns(t, cb)

	// A frame of another EtherType to a's MAC, then a heartbeat: a reads
	// the heartbeat only.
	junk := append(append(append(slices.Clone(ifa.HardwareAddr), ifb.HardwareAddr...), 0x88, 0xB5), bytes.Repeat([]byte{0xEE}, 50)...)
	_, err := other.WriteTo(junk, &packet.Addr{HardwareAddr: ifa.HardwareAddr})
	require.NoError(t, err)
	hb := bytes.Repeat([]byte("heartbeat"), 8)
	require.NoError(t, cb.WriteFrame(hb, ifb.HardwareAddr, ifa.HardwareAddr))
	require.Equal(t, hb, receive(t, atA))
	require.Equal(t, hb, receive(t, atA2))

	// To a MAC that is neither a's nor b's (the derived unit MACs): a hears
	// it; b, its sender, hears nothing of its own.
	dst := SourceMAC(7, 1, hakit.Primary)
	require.NoError(t, cb.WriteFrame(hb, SourceMAC(7, 2, hakit.Secondary), dst))
	require.Equal(t, hb, receive(t, atA))
	require.Equal(t, hb, receive(t, atA2))
	nothing(t, atB)

	// A frame a sends is not read back by a's other socket.
	require.NoError(t, ca.WriteFrame(hb, ifa.HardwareAddr, ifb.HardwareAddr))
	require.Equal(t, hb, receive(t, atB))
	nothing(t, atA2)
}

// TestEtherTypeFilter checks the socket filter itself, on a socket that
// would otherwise see every frame of the interface.
func TestEtherTypeFilter(t *testing.T) {
	l := newLAN(t, "a", "b")
	ifa, ifb := l.hosts["a"].Interface("eth0"), l.hosts["b"].Interface("eth0")
	var all, other *packet.Conn
	l.in(t, "a", func() error {
		filter, err := link.EtherTypeFilter(DefaultEtherType)
		if err != nil {
			return err
		}
		all, err = packet.Listen(ifa, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: filter})
		return err
	})
	l.in(t, "b", func() (err error) {
		other, err = packet.Listen(ifb, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	t.Cleanup(func() { _ = other.Close() })
	got := readAll(t, all, func() ([]byte, error) {
		b := make([]byte, 1500)
		n, _, err := all.ReadFrom(b)
		return b[:n], err
	})
	frame := func(etherType uint16) []byte {
		f := append(slices.Clone(ifa.HardwareAddr), ifb.HardwareAddr...)
		f = append(f, byte(etherType>>8), byte(etherType))
		return append(f, make([]byte, 46)...)
	}
	for _, et := range []uint16{0x0800, 0x0806, 0x86DD, 0x88B5, DefaultEtherType + 1} {
		_, err := other.WriteTo(frame(et), &packet.Addr{HardwareAddr: ifa.HardwareAddr})
		require.NoError(t, err)
	}
	_, err := other.WriteTo(frame(DefaultEtherType), &packet.Addr{HardwareAddr: ifa.HardwareAddr})
	require.NoError(t, err)
	require.Equal(t, frame(DefaultEtherType), receive(t, got))
	// a pings b: its own IPv4 and ARP frames go out, none comes through.
	_, _ = l.hosts["a"].Run("ping", "-c", "1", "-W", "1", l.v4["b"].String())
	_, err = all.WriteTo(frame(DefaultEtherType), &packet.Addr{HardwareAddr: ifb.HardwareAddr})
	require.NoError(t, err)
	nothing(t, got)
}

func TestListenUDP(t *testing.T) {
	for _, family := range []string{"ipv4", "ipv6"} {
		t.Run(family, func(t *testing.T) {
			l := newLAN(t, "a", "b", "c")
			addr := l.v4
			if family == "ipv6" {
				addr = l.v6
			}
			const port = 7001
			ap := func(n string) netip.AddrPort { return netip.AddrPortFrom(addr[n], port) }
			var ca, cb Conn
			l.in(t, "a", func() (err error) { ca, err = ListenUDP(ap("a"), ap("b")); return err })
			l.in(t, "b", func() (err error) { cb, err = ListenUDP(netip.AddrPortFrom(netip.Addr{}, port), ap("a")); return err })
			atA, atB := conns(t, ca), conns(t, cb)

			// c is no peer of a: its datagram is dropped and counted.
			l.in(t, "c", func() error {
				uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap("a")))
				if err != nil {
					return err
				}
				defer uc.Close()
				_, err = uc.Write([]byte("forged"))
				return err
			})
			require.NoError(t, cb.WriteFrame([]byte("from b"), nil, nil))
			require.Equal(t, []byte("from b"), receive(t, atA))
			require.Equal(t, UDPStats{Foreign: 1}, ca.(*UDPConn).Stats())

			require.NoError(t, ca.WriteFrame([]byte("from a"), nil, nil))
			require.Equal(t, []byte("from a"), receive(t, atB))

			// A datagram longer than the reader's buffer is dropped, not cut.
			var ca2, cb2 Conn
			l.in(t, "a", func() (err error) {
				ca2, err = ListenUDP(netip.AddrPortFrom(addr["a"], port+1), netip.AddrPortFrom(addr["b"], port+1))
				return err
			})
			l.in(t, "b", func() (err error) {
				cb2, err = ListenUDP(netip.AddrPortFrom(addr["b"], port+1), netip.AddrPortFrom(addr["a"], port+1))
				return err
			})
			small := readAll(t, cb2, func() ([]byte, error) {
				b := make([]byte, 4)
				n, err := cb2.ReadFrame(b)
				return b[:n], err
			})
			t.Cleanup(func() { _ = ca2.Close() })
			require.NoError(t, ca2.WriteFrame([]byte("too long"), nil, nil))
			require.NoError(t, ca2.WriteFrame([]byte("fits"), nil, nil))
			require.Equal(t, []byte("fits"), receive(t, small))
			require.Equal(t, UDPStats{Truncated: 1}, cb2.(*UDPConn).Stats())
		})
	}
}

func TestProber(t *testing.T) {
	l := newLAN(t, "a", "n")
	ifa := l.hosts["a"].Interface("eth0")
	var p Prober
	l.in(t, "a", func() (err error) { p, err = NewProber(ifa); return err })
	got := replies(t, p)

	for _, target := range []netip.Addr{l.v4["n"], l.v6["n"]} {
		require.NoError(t, p.Probe(target))
		require.Equal(t, target, receive(t, got), "reply to the probe of %s", target)
	}

	// A link-local neighbour: n's fe80:: address, from its MAC (EUI-64).
	ll := linkLocal(t, l.hosts["n"])
	require.NoError(t, p.Probe(ll))
	require.Equal(t, ll, receive(t, got))

	// No neighbour there: no reply.
	require.NoError(t, p.Probe(netip.MustParseAddr("198.18.0.99")))
	require.NoError(t, p.Probe(netip.MustParseAddr("2001:db8::99")))
	nothing(t, got)

	// Bad targets are refused before anything is sent.
	for _, bad := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("ff02::1"), netip.MustParseAddr("224.0.0.1")} {
		require.ErrorIs(t, p.Probe(bad), hakit.ErrConfig, "%v", bad)
	}

	// A virtual MAC moved onto a's interface: probes carry it, so the
	// replies still come back.
	l.links["a"].SetMAC(net.HardwareAddr{0x10, 0x00, 0x00, 0xC1, 0x4A, 0x01})
	require.NoError(t, p.Probe(l.v4["n"]))
	require.Equal(t, l.v4["n"], receive(t, got))
	require.NoError(t, p.Probe(l.v6["n"]))
	require.Equal(t, l.v6["n"], receive(t, got))

	// The neighbour's cable pulled at the switch: no reply any more.
	l.links["n"].Down()
	require.NoError(t, p.Probe(l.v4["n"]))
	require.NoError(t, p.Probe(l.v6["n"]))
	nothing(t, got)

	// Back up: replies again, once the port forwards.
	l.links["n"].Up()
	eventually(t, func() bool {
		require.NoError(t, p.Probe(l.v4["n"]))
		select {
		case a := <-got:
			require.Equal(t, l.v4["n"], a)
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
}

// eventually calls try until it reports success, for at most within.
func eventually(t *testing.T, try func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); {
		if try() {
			return
		}
	}
	t.Fatalf("not done within %v", within)
}

// TestProberOwnCable pulls the prober's own cable: probes go nowhere.
func TestProberOwnCable(t *testing.T) {
	l := newLAN(t, "a", "n")
	ifa := l.hosts["a"].Interface("eth0")
	var p Prober
	l.in(t, "a", func() (err error) { p, err = NewProber(ifa); return err })
	got := replies(t, p)
	l.links["a"].Down()
	for _, target := range []netip.Addr{l.v4["n"], l.v6["n"]} {
		_ = p.Probe(target) // may fail with no carrier: either way no reply
	}
	nothing(t, got)
}

func linkLocal(t *testing.T, h *testbed.Host) netip.Addr {
	t.Helper()
	var ll netip.Addr
	require.NoError(t, h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.IsLinkLocalUnicast() {
					ll = ip
				}
			}
		}
		return nil
	}))
	require.True(t, ll.IsValid(), "no link-local address on %s", h.Name())
	return ll
}

func TestKernelNeighbours(t *testing.T) {
	l := newLAN(t, "a", "n")
	var ns NeighbourSource
	l.in(t, "a", func() error { ns = KernelNeighbours(); return nil })
	t.Cleanup(func() { _ = ns.(interface{ Close() error }).Close() })

	got, err := ns.Neighbours("eth0")
	require.NoError(t, err)
	require.Empty(t, got, "nothing resolved yet")

	for _, args := range [][]string{
		{"-c", "1", "-W", "2", l.v4["n"].String()},
		{"-6", "-c", "1", "-W", "2", l.v6["n"].String()},
	} {
		out, err := l.hosts["a"].Run("ping", args...)
		require.NoError(t, err, out)
	}
	// An address nobody has: its entry is INCOMPLETE or FAILED, not listed.
	_, _ = l.hosts["a"].Run("ping", "-c", "1", "-W", "1", "198.18.0.99")

	// Asked from this goroutine, outside a's namespace: the socket is a's.
	got, err = ns.Neighbours("eth0")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{l.v4["n"], l.v6["n"]}, withoutLinkLocal(got))

	_, err = ns.Neighbours("nosuch0")
	require.ErrorIs(t, err, hakit.ErrConfig)

	// What the kernel says, read with ip(8), agrees.
	var states []string
	for _, n := range l.hosts["a"].Neighbours("eth0") {
		states = append(states, n.IP.String()+" "+n.State)
	}
	t.Logf("ip neigh: %s", strings.Join(states, ", "))
}

func withoutLinkLocal(as []netip.Addr) []netip.Addr {
	return slices.DeleteFunc(slices.Clone(as), netip.Addr.IsLinkLocalUnicast)
}

// netInterface is net.InterfaceByName, for use inside Host.Do.
func netInterface(name string) (*net.Interface, error) { return net.InterfaceByName(name) }
