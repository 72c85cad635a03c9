package heartbeat

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
	probeMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	neighMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	probeV4   = netip.MustParseAddr("198.18.0.1")
	neighV4   = netip.MustParseAddr("198.18.0.2")
	probeV6   = netip.MustParseAddr("fe80::1")
	neighV6   = netip.MustParseAddr("2001:db8::2")
	allNodes6 = netip.IPv6LinkLocalAllNodes()
)

// arpFrame returns an Ethernet frame carrying an ARP packet.
func arpFrame(t testing.TB, op arp.Operation, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	t.Helper()
	p, err := arp.NewPacket(op, sha, spa, tha, tpa)
	require.NoError(t, err)
	pb, err := p.MarshalBinary()
	require.NoError(t, err)
	f := ethernet.Frame{Destination: tha, Source: sha, EtherType: ethernet.EtherTypeARP, Payload: pb}
	b, err := f.MarshalBinary()
	require.NoError(t, err)
	return b
}

// naFrame returns an Ethernet frame carrying a neighbour advertisement for
// target from src to dst, passed through edit before the checksum-valid
// IPv6 packet is framed.
func naFrame(t testing.TB, na *ndp.NeighborAdvertisement, src, dst netip.Addr, edit func(ip []byte)) []byte {
	t.Helper()
	icmp, err := ndp.MarshalMessageChecksum(na, src, dst)
	require.NoError(t, err)
	ip := appendIPv6(nil, src, dst, icmp)
	if edit != nil {
		edit(ip)
	}
	f := ethernet.Frame{Destination: probeMAC, Source: neighMAC, EtherType: ethernet.EtherTypeIPv6, Payload: ip}
	b, err := f.MarshalBinary()
	require.NoError(t, err)
	return b
}

func solicited(target netip.Addr) *ndp.NeighborAdvertisement {
	return &ndp.NeighborAdvertisement{
		Solicited: true, Override: true, TargetAddress: target,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: neighMAC}},
	}
}

func TestParseReply(t *testing.T) {
	unsolicited := solicited(neighV6)
	unsolicited.Solicited = false
	tests := []struct {
		name   string
		frame  []byte
		v4, v6 netip.Addr
		want   netip.Addr // invalid: not a reply
	}{
		{name: "arp reply", frame: arpFrame(t, arp.OperationReply, neighMAC, neighV4, probeMAC, probeV4), want: neighV4},
		{name: "arp reply to 0.0.0.0 probe", v4: netip.IPv4Unspecified(),
			frame: arpFrame(t, arp.OperationReply, neighMAC, neighV4, probeMAC, netip.IPv4Unspecified()), want: neighV4},
		{name: "arp reply to another address", frame: arpFrame(t, arp.OperationReply, neighMAC, neighV4, probeMAC, netip.MustParseAddr("198.18.0.9"))},
		{name: "arp request", frame: arpFrame(t, arp.OperationRequest, neighMAC, neighV4, ethernet.Broadcast, probeV4)},
		{name: "arp reply from 0.0.0.0", frame: arpFrame(t, arp.OperationReply, neighMAC, netip.IPv4Unspecified(), probeMAC, probeV4)},
		{name: "arp truncated", frame: arpFrame(t, arp.OperationReply, neighMAC, neighV4, probeMAC, probeV4)[:14+20]},
		{name: "na solicited", frame: naFrame(t, solicited(neighV6), neighV6, probeV6, nil), want: neighV6},
		{name: "na link-local target", frame: naFrame(t, solicited(netip.MustParseAddr("fe80::2")), netip.MustParseAddr("fe80::2"), probeV6, nil),
			want: netip.MustParseAddr("fe80::2")},
		{name: "na to all nodes after probe from ::", v6: netip.IPv6Unspecified(),
			frame: naFrame(t, solicited(neighV6), neighV6, allNodes6, nil), want: neighV6},
		{name: "na to all nodes when we have an address", frame: naFrame(t, solicited(neighV6), neighV6, allNodes6, nil)},
		{name: "na unsolicited", frame: naFrame(t, unsolicited, neighV6, probeV6, nil)},
		{name: "na to another address", frame: naFrame(t, solicited(neighV6), neighV6, netip.MustParseAddr("fe80::9"), nil)},
		{name: "na hop limit 254", frame: naFrame(t, solicited(neighV6), neighV6, probeV6, func(ip []byte) { ip[7] = 254 })},
		{name: "na bad checksum", frame: naFrame(t, solicited(neighV6), neighV6, probeV6, func(ip []byte) { ip[ipv6HeaderLen+2] ^= 0xff })},
		{name: "na flipped target", frame: naFrame(t, solicited(neighV6), neighV6, probeV6, func(ip []byte) { ip[ipv6HeaderLen+8+15] ^= 1 })},
		{name: "na payload length too long", frame: naFrame(t, solicited(neighV6), neighV6, probeV6, func(ip []byte) {
			binary.BigEndian.PutUint16(ip[4:6], 999)
		})},
		{name: "na truncated", frame: naFrame(t, solicited(neighV6), neighV6, probeV6, nil)[:14+ipv6HeaderLen+10]},
		{name: "empty", frame: nil},
		{name: "short ethernet", frame: []byte{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6 := probeV4, probeV6
			if tt.v4.IsValid() {
				v4 = tt.v4
			}
			if tt.v6.IsValid() {
				v6 = tt.v6
			}
			got, ok := parseReply(tt.frame, v4, v6)
			require.Equal(t, tt.want.IsValid(), ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestARPRequest(t *testing.T) {
	b, err := arpRequest(probeMAC, probeV4, neighV4)
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
			b, err := neighbourSolicitation(probeMAC, src, neighV6)
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
			icmp := ip[ipv6HeaderLen:]
			require.Len(t, icmp, int(binary.BigEndian.Uint16(ip[4:6])))
			require.Zero(t, icmpv6Checksum(src, dst, icmp), "checksum verifies")
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
	_, err := arpRequest(probeMAC, probeV4, neighV6)
	require.Error(t, err)
	_, err = neighbourSolicitation(probeMAC, probeV6, neighV4)
	require.Error(t, err)
}

// FuzzParseReply checks that no frame makes the reply parser panic, and
// that whatever it accepts is a unicast address.
func FuzzParseReply(f *testing.F) {
	f.Add(arpFrame(f, arp.OperationReply, neighMAC, neighV4, probeMAC, probeV4))
	f.Add(naFrame(f, solicited(neighV6), neighV6, probeV6, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := parseReply(b, probeV4, probeV6)
		if ok && (!a.IsValid() || a.IsUnspecified() || a.IsMulticast()) {
			t.Fatalf("accepted %v", a)
		}
	})
}
