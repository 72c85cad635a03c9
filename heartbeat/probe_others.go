//go:build !linux

package heartbeat

import (
	"net"

	"github.com/hakit/hakit/internal/platform"
)

// NewProber opens a socket that sends ARP and NDP probes on ifi. It is only
// implemented on Linux; elsewhere it returns an error that wraps
// errors.ErrUnsupported.
func NewProber(ifi *net.Interface) (Prober, error) {
	return nil, platform.Unsupported("heartbeat", "prober")
}
