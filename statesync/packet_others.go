//go:build !linux

package statesync

import (
	"errors"
	"fmt"
	"net"
	"runtime"
)

// ListenEthernet opens an AF_PACKET socket for sync frames. It is only
// implemented on Linux; elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func ListenEthernet(ifi *net.Interface, etherType uint16, peer net.HardwareAddr) (*EthernetTransport, error) {
	return nil, fmt.Errorf("statesync: listen ethernet on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
