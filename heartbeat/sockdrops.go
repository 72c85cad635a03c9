package heartbeat

import (
	"net"
	"sync"

	"github.com/mdlayher/packet"
)

// KernelDrops returns how many frames the kernel dropped on c's socket
// before they were read (its receive queue was full: a flood, or a reader
// starved of CPU), since c was opened: real heartbeats may be among them.
// ok is false when c cannot tell (a simulated conn, or not on Linux). On
// a UDP conn the kernel tells its drops with the first datagram it queues
// after them, so they show once that one is read.
func KernelDrops(c Conn) (drops uint64, ok bool) {
	if u, isUDP := c.(*UDPConn); isUDP {
		return u.kernel.Total(), u.kernel.Supported()
	}
	e, isEth := c.(*ethernetConn)
	if !isEth {
		return 0, false
	}
	k, isCounted := e.pc.(*kernelCounted)
	if !isCounted {
		return 0, false
	}
	return k.drops()
}

// kernelCounted is an AF_PACKET socket whose kernel drop counter (which
// the kernel resets at each read) is summed.
type kernelCounted struct {
	*packet.Conn
	mu    sync.Mutex
	total uint64
}

var _ net.PacketConn = (*kernelCounted)(nil)

func countKernelDrops(pc *packet.Conn) *kernelCounted { return &kernelCounted{Conn: pc} }

func (k *kernelCounted) drops() (uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, err := k.Stats()
	if err != nil {
		return k.total, false
	}
	k.total += uint64(st.Drops)
	return k.total, true
}
