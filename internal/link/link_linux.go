//go:build linux

package link

import (
	"net"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// EtherTypeFilter assembles a classic BPF socket filter that accepts a frame
// whose EtherType is etherType and that was not sent by this host: frames of
// every other EtherType, and copies of frames this host transmitted, never
// reach user space.
func EtherTypeFilter(etherType uint16) ([]bpf.RawInstruction, error) {
	return bpf.Assemble([]bpf.Instruction{
		// EtherType: bytes 12 and 13 of the Ethernet header.
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(etherType), SkipTrue: 3},
		// skb->pkt_type: drop what this host transmitted.
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
}

// ListenEtherType opens an AF_PACKET raw socket on ifi for frames of
// etherType received on the interface, with EtherTypeFilter attached before
// the socket is bound. It needs CAP_NET_RAW and opens the socket in the
// network namespace of the calling thread.
func ListenEtherType(ifi *net.Interface, etherType uint16) (*packet.Conn, error) {
	filter, err := EtherTypeFilter(etherType)
	if err != nil {
		return nil, err
	}
	return packet.Listen(ifi, packet.Raw, int(etherType), &packet.Config{Filter: filter})
}

// ListenBridgePort is ListenEtherType for a port of a Linux bridge: the
// socket is bound to every EtherType (ETH_P_ALL) and the filter keeps
// etherType's, because the bridge takes each frame a port receives before
// the sockets bound to one EtherType see it; only ETH_P_ALL sockets see
// the frames, whatever the bridge then does with them (forward, drop on a
// blocked or isolated port, deliver locally).
func ListenBridgePort(ifi *net.Interface, etherType uint16) (*packet.Conn, error) {
	filter, err := EtherTypeFilter(etherType)
	if err != nil {
		return nil, err
	}
	return packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: filter})
}

// ByName returns the interface called name as c's network namespace knows
// it, and whether there is one.
func ByName(c *rtnetlink.Conn, name string) (rtnetlink.LinkMessage, bool, error) {
	links, err := c.Link.List()
	if err != nil {
		return rtnetlink.LinkMessage{}, false, err
	}
	for _, l := range links {
		if l.Attributes != nil && l.Attributes.Name == name {
			return l, true, nil
		}
	}
	return rtnetlink.LinkMessage{}, false, nil
}
