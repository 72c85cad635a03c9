package link

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/stretchr/testify/require"
)

var (
	probeMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	probeV4  = netip.MustParseAddr("198.18.0.1")
	neighV4  = netip.MustParseAddr("198.18.0.2")
	probeV6  = netip.MustParseAddr("fe80::1")
	neighV6  = netip.MustParseAddr("2001:db8::2")
)

func TestARPRequest(t *testing.T) {
	b, err := ARPRequest(probeMAC, probeV4, neighV4)
	require.NoError(t, err)
	var f ethernet.Frame
	require.NoError(t, f.UnmarshalBinary(b))
	require.Equal(t, ethernet.Broadcast, f.Destination)
	require.Equal(t, probeMAC, f.Source)
	require.Equal(t, ethernet.EtherTypeARP, f.EtherType)
	var p arp.Packet
	require.NoError(t, p.UnmarshalBinary(f.Payload))
	require.Equal(t, arp.OperationRequest, p.Operation)
	require.Equal(t, probeMAC, p.SenderHardwareAddr)
	require.Equal(t, probeV4, p.SenderIP)
	require.Equal(t, neighV4, p.TargetIP)
}

func TestNeighbourSolicitation(t *testing.T) {
	for _, src := range []netip.Addr{probeV6, netip.IPv6Unspecified()} {
		t.Run(src.String(), func(t *testing.T) {
			b, err := NeighbourSolicitation(probeMAC, src, neighV6)
			require.NoError(t, err)
			var f ethernet.Frame
			require.NoError(t, f.UnmarshalBinary(b))
			require.Equal(t, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 0x02}, f.Destination)
			require.Equal(t, ethernet.EtherTypeIPv6, f.EtherType)
			ip := f.Payload
			require.Equal(t, byte(0x60), ip[0])
			require.Equal(t, byte(58), ip[6], "next header")
			require.Equal(t, byte(255), ip[7], "hop limit")
			require.Equal(t, src, netip.AddrFrom16([16]byte(ip[8:24])))
			dst := netip.AddrFrom16([16]byte(ip[24:40]))
			require.Equal(t, netip.MustParseAddr("ff02::1:ff00:2"), dst)
			icmp := ip[IPv6HeaderLen:]
			require.Len(t, icmp, int(binary.BigEndian.Uint16(ip[4:6])))
			require.Zero(t, ICMPv6Checksum(src, dst, icmp), "checksum verifies")
			m, err := ndp.ParseMessage(icmp)
			require.NoError(t, err)
			ns, ok := m.(*ndp.NeighborSolicitation)
			require.True(t, ok)
			require.Equal(t, neighV6, ns.TargetAddress)
			if src.IsUnspecified() {
				require.Empty(t, ns.Options, "no source link-layer option from ::")
			} else {
				require.Equal(t, []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: probeMAC}}, ns.Options)
			}
		})
	}
}

func TestProbeFramesRejectBadTargets(t *testing.T) {
	_, err := ARPRequest(probeMAC, probeV4, neighV6)
	require.Error(t, err)
	_, err = NeighbourSolicitation(probeMAC, probeV6, neighV4)
	require.Error(t, err)
}
