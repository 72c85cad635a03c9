//go:build linux

package garp

import (
	"net"

	"github.com/mdlayher/packet"
)

// Listen opens a send-only AF_PACKET SOCK_RAW socket on ifi: it writes whole
// Ethernet frames and, bound to protocol 0, receives none. It needs
// CAP_NET_RAW.
func Listen(ifi *net.Interface) (net.PacketConn, error) {
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}
