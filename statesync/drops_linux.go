//go:build linux

package statesync

import (
	"encoding/binary"
	"net"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// enable asks the kernel to report the socket's drops with each datagram.
func (o *overflow) enable(c *net.UDPConn) {
	if c == nil {
		return
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil || serr != nil {
		return
	}
	o.on = true
	o.oob = make([]byte, unix.CmsgSpace(4))
}

// parseOverflow returns the running drop count in a datagram's control
// messages, if they hold one (the kernel adds it once there was a drop).
func parseOverflow(oob []byte) (uint32, bool) {
	const hdr = int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && l >= hdr+4 {
			return binary.NativeEndian.Uint32(oob[hdr:]), true
		}
		oob = oob[min(unix.CmsgSpace(l-hdr), len(oob)):]
	}
	return 0, false
}

// countKernelDrops wraps an AF_PACKET socket so that EthernetTransport.Drops
// reads its kernel drop counter (PACKET_STATISTICS).
func countKernelDrops(pc *packet.Conn) *kernelCounted {
	return &kernelCounted{PacketConn: pc, stats: func() (uint64, error) {
		st, err := pc.Stats()
		if err != nil {
			return 0, err
		}
		return uint64(st.Drops), nil
	}}
}
