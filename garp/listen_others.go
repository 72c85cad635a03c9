//go:build !linux

package garp

import (
	"fmt"
	"net"
	"runtime"
)

// Listen is not supported on this platform: AF_PACKET is Linux's. Give the
// Speaker a Config.Open that returns a whole-Ethernet-frame conn instead.
func Listen(ifi *net.Interface) (net.PacketConn, error) {
	return nil, fmt.Errorf("garp: listen on %s: not supported on %s", ifi.Name, runtime.GOOS)
}
