//go:build !linux

package heartbeat

import (
	"net"

	"github.com/hakit/hakit/internal/platform"
)

// ListenEthernet opens an AF_PACKET socket for heartbeat frames. It is only
// implemented on Linux; elsewhere it returns an error that wraps
// errors.ErrUnsupported.
func ListenEthernet(ifi *net.Interface, etherType uint16) (Conn, error) {
	return nil, platform.Unsupported("heartbeat", "listen ethernet")
}
