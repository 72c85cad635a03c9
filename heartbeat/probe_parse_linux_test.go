package heartbeat

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/hakit/hakit/internal/link"

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
	ip := link.AppendIPv6(nil, src, dst, icmp)
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
