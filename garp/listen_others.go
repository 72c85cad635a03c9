//go:build !linux

package garp

import (
	"net"

	"github.com/hakit/hakit/internal/platform"
)

// Listen is not supported on this platform (AF_PACKET is Linux's): it
// returns an error wrapping errors.ErrUnsupported. Give the Driver a
// Config.Open that returns a whole-Ethernet-frame conn instead.
func Listen(ifi *net.Interface) (net.PacketConn, error) {
	return nil, platform.Unsupported("garp", "listen")
}
