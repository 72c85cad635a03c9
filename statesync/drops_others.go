//go:build !linux

package statesync

import (
	"net"

	"github.com/mdlayher/packet"
)

// enable does nothing: the kernel's drop count is read on Linux only.
func (o *overflow) enable(*net.UDPConn) {}

func parseOverflow([]byte) (uint32, bool) { return 0, false }

func countKernelDrops(pc *packet.Conn) net.PacketConn { return pc }
