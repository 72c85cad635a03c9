package vrrp

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/ipv4"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/testbed"
)

// listenIn opens an IPConn on eth0 inside h, closed at the end of the test.
func listenIn(t *testing.T, h *testbed.Host, cfg *ListenConfig) *IPConn {
	t.Helper()
	var c *IPConn
	require.NoError(t, h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = Listen(ifi, cfg)
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// readOne reads one packet from c, failing after a second.
func readOne(t *testing.T, c *IPConn) Packet {
	t.Helper()
	got := make(chan Packet, 1)
	errc := make(chan error, 1)
	go func() {
		b := make([]byte, 2048)
		p, err := c.ReadFrom(b)
		if err != nil {
			errc <- err
			return
		}
		got <- p
	}()
	select {
	case p := <-got:
		return p
	case err := <-errc:
		t.Fatalf("read: %v", err)
	case <-time.After(time.Second):
		t.Fatal("no packet within a second")
	}
	return Packet{}
}

func TestListen(t *testing.T) {
	bed := testbed.New(t)
	lan := bed.Bridge("lan")
	a, b := bed.Host("a"), bed.Host("b")
	bed.Link(a, lan, "eth0")
	bed.Link(b, lan, "eth0")
	a.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/24"))
	b.AddAddr("eth0", netip.MustParsePrefix("198.18.0.3/24"))
	a.AddAddr("eth0", netip.MustParsePrefix("2001:db8::2/64"))
	b.AddAddr("eth0", netip.MustParsePrefix("2001:db8::3/64"))

	adv := Advertisement{Version: 3, Type: 1, VRID: 7, Priority: 100, MaxAdvertInterval: 100}

	t.Run("ipv4", func(t *testing.T) {
		ca, cb := listenIn(t, a, nil), listenIn(t, b, nil)
		require.Equal(t, netip.MustParseAddr("198.18.0.2"), ca.Source())
		adv := adv
		adv.Addrs = []netip.Addr{vip4}
		for _, dst := range []netip.Addr{GroupIPv4, cb.Source()} {
			require.NoError(t, adv.Seal(ChecksumPseudoHeader, ca.Source(), dst))
			msg, err := adv.MarshalBinary()
			require.NoError(t, err)
			require.NoError(t, ca.WriteTo(msg, ca.Source(), dst))
			p := readOne(t, cb)
			require.Equal(t, Packet{Src: ca.Source(), Dst: dst, TTL: 255, Data: msg}, p, "to %v", dst)
		}
	})

	t.Run("ipv6", func(t *testing.T) {
		ca, cb := listenIn(t, a, &ListenConfig{IPv6: true}), listenIn(t, b, &ListenConfig{IPv6: true})
		require.True(t, ca.Source().IsLinkLocalUnicast())
		adv := adv
		adv.Addrs = []netip.Addr{vipLL, vip6}
		require.NoError(t, adv.Seal(ChecksumPseudoHeader, ca.Source(), GroupIPv6))
		msg, err := adv.MarshalBinary()
		require.NoError(t, err)
		require.NoError(t, ca.WriteTo(msg, ca.Source(), GroupIPv6))
		p := readOne(t, cb)
		require.Equal(t, ca.Source(), p.Src.WithZone(""))
		require.Equal(t, GroupIPv6, p.Dst)
		require.Equal(t, uint8(255), p.TTL)
		require.Equal(t, msg, p.Data)

		// Unicast to a global address, from a global source.
		g := netip.MustParseAddr("2001:db8::2")
		to := netip.MustParseAddr("2001:db8::3")
		require.NoError(t, adv.Seal(ChecksumPseudoHeader, g, to))
		msg, _ = adv.MarshalBinary()
		require.NoError(t, ca.WriteTo(msg, g, to))
		p = readOne(t, cb)
		require.Equal(t, Packet{Src: g, Dst: to, TTL: 255, Data: msg}, p)
	})

	t.Run("ttl is read", func(t *testing.T) {
		// A packet with TTL 1 (a router's TTL, or one forwarded from off
		// the link) is read with its TTL, and the Machine drops it.
		cb := listenIn(t, b, nil)
		var raw *ipv4.PacketConn
		require.NoError(t, a.Do(func() error {
			pc, err := (&net.ListenConfig{}).ListenPacket(context.Background(), "ip4:112", "198.18.0.2")
			raw = ipv4.NewPacketConn(pc)
			return err
		}))
		t.Cleanup(func() { raw.Close() })
		require.NoError(t, raw.SetMulticastTTL(1))
		adv := adv
		adv.Addrs = []netip.Addr{vip4}
		src := netip.MustParseAddr("198.18.0.2")
		require.NoError(t, adv.Seal(ChecksumPseudoHeader, src, GroupIPv4))
		msg, _ := adv.MarshalBinary()
		_, err := raw.WriteTo(msg, nil, &net.IPAddr{IP: GroupIPv4.AsSlice()})
		require.NoError(t, err)
		p := readOne(t, cb)
		require.Equal(t, uint8(1), p.TTL)
		c := &Config{VRID: 7, Addrs: []netip.Addr{vip4}, Primary: cb.Source()}
		m := newMachine(t, c)
		m.Start(time.Now())
		_, err = m.Receive(time.Now(), p)
		require.ErrorIs(t, err, ErrTTL)
		require.Equal(t, uint64(1), m.Counters().DroppedTTL)
	})

	t.Run("errors", func(t *testing.T) {
		_, err := Listen(nil, nil)
		require.ErrorIs(t, err, hakit.ErrConfig)
		require.Error(t, a.Do(func() error {
			ifi, err := net.InterfaceByName("lo")
			if err != nil {
				return err
			}
			_, err = Listen(ifi, &ListenConfig{IPv6: true}) // lo has no link-local address
			return err
		}))
	})
}
