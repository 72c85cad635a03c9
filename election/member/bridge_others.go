//go:build !linux

package member

import (
	"net"

	"github.com/hakit/hakit/internal/platform"
)

// openBridge is not supported on this platform (Linux bridges): it
// returns an error wrapping errors.ErrUnsupported.
func openBridge(string, [2]string, net.HardwareAddr) (bridgeOS, error) {
	return nil, platform.Unsupported("member", "bridge")
}
