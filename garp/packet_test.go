package garp

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/link"
)

var (
	testMAC  = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	testVIP4 = netip.MustParseAddr("198.18.0.10")
	testVIP6 = netip.MustParseAddr("2001:db8::10")
)

func TestMarshalGolden(t *testing.T) {
	tests := []struct {
		name string
		a    Announcement
		hex  string
	}{
		{
			name: "request",
			a:    Announcement{Kind: GARPRequest, MAC: testMAC, Addr: testVIP4},
			hex: "ffffffffffff" + "02005e100001" + "0806" +
				"0001" + "0800" + "06" + "04" + "0001" +
				"02005e100001" + "c612000a" + "000000000000" + "c612000a" +
				"000000000000000000000000000000000000",
		},
		{
			name: "reply",
			a:    Announcement{Kind: GARPReply, MAC: testMAC, Addr: testVIP4},
			hex: "ffffffffffff" + "02005e100001" + "0806" +
				"0001" + "0800" + "06" + "04" + "0002" +
				"02005e100001" + "c612000a" + "02005e100001" + "c612000a" +
				"000000000000000000000000000000000000",
		},
		{
			name: "learn",
			a:    Announcement{Kind: Learn, MAC: testMAC},
			hex: "ffffffffffff" + "02005e100001" + "0806" +
				"0001" + "0800" + "06" + "04" + "0001" +
				"02005e100001" + "00000000" + "000000000000" + "00000000" +
				"000000000000000000000000000000000000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Marshal(tt.a)
			require.NoError(t, err)
			require.Equal(t, tt.hex, hex.EncodeToString(b))
			require.Len(t, b, ARPFrameLen)
		})
	}
}

func TestMarshalNA(t *testing.T) {
	for _, router := range []bool{false, true} {
		a := Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP6, Router: router}
		b, err := Marshal(a)
		require.NoError(t, err)
		require.Len(t, b, NAFrameLen)

		// Ethernet: to all-nodes from the shared MAC.
		var f ethernet.Frame
		require.NoError(t, f.UnmarshalBinary(b))
		require.Equal(t, allNodesMAC, f.Destination)
		require.Equal(t, testMAC, f.Source)
		require.Equal(t, ethernet.EtherTypeIPv6, f.EtherType)

		// IPv6 header, by hand.
		ip6 := f.Payload
		require.Equal(t, byte(0x60), ip6[0])
		require.Equal(t, []byte{0, 32}, ip6[4:6], "payload length")
		require.Equal(t, byte(58), ip6[6], "next header")
		require.Equal(t, byte(255), ip6[7], "hop limit")
		require.Equal(t, testVIP6.AsSlice(), ip6[8:24])
		require.Equal(t, allNodes.AsSlice(), ip6[24:40])
		require.Zero(t, link.ICMPv6Checksum(testVIP6, allNodes, ip6[40:]), "ICMPv6 checksum")

		// NA, with mdlayher/ndp.
		m, err := ndp.ParseMessage(ip6[40:])
		require.NoError(t, err)
		require.Equal(t, &ndp.NeighborAdvertisement{
			Router:        router,
			Override:      true,
			TargetAddress: testVIP6,
			Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: testMAC}},
		}, m)
	}
}

func TestMarshalARPParsesWithMdlayher(t *testing.T) {
	for _, k := range []Kind{GARPRequest, GARPReply} {
		b, err := Marshal(Announcement{Kind: k, MAC: testMAC, Addr: testVIP4})
		require.NoError(t, err)
		var f ethernet.Frame
		require.NoError(t, f.UnmarshalBinary(b))
		require.Equal(t, ethernet.Broadcast, f.Destination)
		require.Equal(t, testMAC, f.Source)
		var p arp.Packet
		require.NoError(t, p.UnmarshalBinary(f.Payload))
		require.Equal(t, testMAC, p.SenderHardwareAddr)
		require.Equal(t, testVIP4, p.SenderIP)
		require.Equal(t, testVIP4, p.TargetIP)
		if k == GARPReply {
			require.Equal(t, arp.OperationReply, p.Operation)
			require.Equal(t, testMAC, p.TargetHardwareAddr)
		} else {
			require.Equal(t, arp.OperationRequest, p.Operation)
			require.Equal(t, zeroMAC, p.TargetHardwareAddr)
		}
	}
}

func TestMarshalInvalid(t *testing.T) {
	tests := []struct {
		name string
		a    Announcement
	}{
		{"zero kind", Announcement{MAC: testMAC, Addr: testVIP4}},
		{"unknown kind", Announcement{Kind: 99, MAC: testMAC, Addr: testVIP4}},
		{"short MAC", Announcement{Kind: GARPRequest, MAC: testMAC[:5], Addr: testVIP4}},
		{"nil MAC", Announcement{Kind: GARPRequest, Addr: testVIP4}},
		{"multicast MAC", Announcement{Kind: GARPRequest, MAC: allNodesMAC, Addr: testVIP4}},
		{"broadcast MAC", Announcement{Kind: GARPRequest, MAC: broadcastMAC, Addr: testVIP4}},
		{"zero MAC", Announcement{Kind: GARPRequest, MAC: zeroMAC, Addr: testVIP4}},
		{"EUI-64 MAC", Announcement{Kind: GARPRequest, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 0, 0, 1}, Addr: testVIP4}},
		{"no address", Announcement{Kind: GARPRequest, MAC: testMAC}},
		{"IPv6 in ARP", Announcement{Kind: GARPReply, MAC: testMAC, Addr: testVIP6}},
		{"IPv4 in NA", Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP4}},
		{"4in6 in NA", Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: netip.MustParseAddr("::ffff:198.18.0.1")}},
		{"zoned NA", Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: netip.MustParseAddr("fe80::1%eth0")}},
		{"unspecified", Announcement{Kind: GARPRequest, MAC: testMAC, Addr: netip.IPv4Unspecified()}},
		{"limited broadcast", Announcement{Kind: GARPRequest, MAC: testMAC, Addr: netip.MustParseAddr("255.255.255.255")}},
		{"multicast v4", Announcement{Kind: GARPRequest, MAC: testMAC, Addr: netip.MustParseAddr("224.0.0.18")}},
		{"multicast v6", Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: allNodes}},
		{"loopback", Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: netip.IPv6Loopback()}},
		{"learn with address", Announcement{Kind: Learn, MAC: testMAC, Addr: testVIP4}},
		{"router flag on ARP", Announcement{Kind: GARPRequest, MAC: testMAC, Addr: testVIP4, Router: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Marshal(tt.a)
			require.ErrorIs(t, err, ErrInvalid)
			var b Builder
			out, err := b.Append(nil, tt.a)
			require.ErrorIs(t, err, ErrInvalid)
			require.Empty(t, out)
		})
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, a := range []Announcement{
		{Kind: GARPRequest, MAC: testMAC, Addr: testVIP4},
		{Kind: GARPReply, MAC: testMAC, Addr: testVIP4},
		{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP6},
		{Kind: UnsolicitedNA, MAC: testMAC, Addr: netip.MustParseAddr("fe80::1"), Router: true},
		{Kind: Learn, MAC: testMAC},
	} {
		t.Run(a.Kind.String(), func(t *testing.T) {
			b, err := Marshal(a)
			require.NoError(t, err)
			got, err := Parse(b)
			require.NoError(t, err)
			require.Equal(t, a, got)
		})
	}
}

func TestParseRejects(t *testing.T) {
	good, err := Marshal(Announcement{Kind: GARPRequest, MAC: testMAC, Addr: testVIP4})
	require.NoError(t, err)
	na, err := Marshal(Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP6})
	require.NoError(t, err)
	edit := func(b []byte, f func(b []byte)) []byte {
		b = bytes.Clone(b)
		f(b)
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short ethernet", good[:10]},
		{"short arp", good[:20]},
		{"ipv4 ethertype", edit(good, func(b []byte) { b[12], b[13] = 0x08, 0x00 })},
		{"unicast destination", edit(good, func(b []byte) { copy(b, testMAC) })},
		{"source differs from sender", edit(good, func(b []byte) { b[11] = 9 })},
		{"ARP request to another address", edit(good, func(b []byte) { b[41] = 99 })},
		{"ARP reply with other target MAC", edit(good, func(b []byte) { b[21] = 2 })},
		{"ARP request with target MAC", edit(good, func(b []byte) { b[32] = 1 })},
		{"ARP for another protocol", edit(good, func(b []byte) { b[16] = 0x86 })},
		{"NA bad checksum", edit(na, func(b []byte) { b[NAFrameLen-1] ^= 1 })},
		{"NA hop limit 64", edit(na, func(b []byte) { b[21] = 64 })},
		{"NA to a unicast address", edit(na, func(b []byte) { b[14+24] = 0x20 })},
		{"NA short", na[:14+40+10]},
		{"NA truncated header", na[:14+20]},
		{"NA solicited", edit(na, func(b []byte) {
			b[14+40+4] |= 0x40
			b[14+40+2], b[14+40+3] = 0, 0
			c := link.ICMPv6Checksum(testVIP6, allNodes, b[14+40:])
			b[14+40+2], b[14+40+3] = byte(c>>8), byte(c)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.b)
			require.Error(t, err)
		})
	}
}

func TestBuilderCopies(t *testing.T) {
	var b Builder
	a := Announcement{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP6}
	want, err := Marshal(a)
	require.NoError(t, err)
	buf := make([]byte, 0, 256)
	for range 3 {
		out, err := b.Append(buf[:0], a)
		require.NoError(t, err)
		require.Equal(t, want, out)
		out[0] = 0 // the caller owns what it got
	}
	out, err := b.Append([]byte{1, 2}, a)
	require.NoError(t, err)
	require.Equal(t, append([]byte{1, 2}, want...), out)
}

func TestBuilderZeroAllocs(t *testing.T) {
	var b Builder
	buf := make([]byte, 0, 256)
	as := []Announcement{
		{Kind: GARPRequest, MAC: testMAC, Addr: testVIP4},
		{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP6},
	}
	for _, a := range as {
		_, err := b.Append(buf, a)
		require.NoError(t, err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range as {
			buf, _ = b.Append(buf[:0], a)
		}
	})
	require.Zero(t, allocs)
}
