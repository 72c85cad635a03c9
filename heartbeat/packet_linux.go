//go:build linux

package heartbeat

import (
	"fmt"
	"net"

	"github.com/hakit/hakit/internal/link"

	"github.com/hakit/hakit"
)

// ListenEthernet opens an AF_PACKET raw socket on ifi that carries heartbeat
// frames with the given EtherType (DefaultEtherType, Clavister's 0xC14B) and
// returns it as a Conn built by NewEthernetConn.
//
// A classic BPF filter attached before the socket is bound makes the kernel
// hand over only frames of that EtherType that arrived on the interface:
// frames of every other EtherType, and copies of frames sent from this host
// (by this unit or another socket), never reach user space. The socket is
// opened in the network namespace of the calling thread. It needs
// CAP_NET_RAW.
//
// The socket puts the interface in promiscuous mode for as long as it is
// open (a PACKET_MR_PROMISC membership, which the kernel counts per socket
// and drops when the socket closes). Heartbeats are addressed to MACs
// derived from the cluster ID and the receiver's role (see DestinationMAC),
// not to the interface's own address, so a NIC that filters unicast
// addresses in hardware would otherwise discard them. The filter above keeps
// the extra frames out of this process.
func ListenEthernet(ifi *net.Interface, etherType uint16) (Conn, error) {
	if ifi == nil {
		return nil, fmt.Errorf("heartbeat: listen ethernet: nil interface: %w", hakit.ErrConfig)
	}
	pc, err := link.ListenEtherType(ifi, etherType)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: listen ethernet on %s: %w", ifi.Name, err)
	}
	if err := pc.SetPromiscuous(true); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("heartbeat: listen ethernet on %s: %w", ifi.Name, err)
	}
	return NewEthernetConn(pc, etherType), nil
}
