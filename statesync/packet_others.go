//go:build !linux

package statesync

import (
	"net"

	"github.com/hakit/hakit/internal/platform"
)

// ListenEthernet opens an AF_PACKET socket for sync frames. It is only
// implemented on Linux; elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func ListenEthernet(ifi *net.Interface, etherType uint16, peers ...net.HardwareAddr) (*EthernetTransport, error) {
	return nil, platform.Unsupported("statesync", "listen ethernet")
}
