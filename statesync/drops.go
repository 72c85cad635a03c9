package statesync

import (
	"net"
	"sync"
)

// TransportDrops counts the datagrams a transport dropped before the
// Driver saw them.
type TransportDrops struct {
	// Kernel counts datagrams the kernel dropped because the socket's
	// receive queue was full (a flood, or a reader starved of CPU): the
	// peer's among them, which the protocol then resends.
	Kernel uint64
	// OtherSource counts datagrams from an address (UDP) or a MAC
	// (Ethernet) that is not a peer's.
	OtherSource uint64
	// Short and OtherType count Ethernet frames shorter than a header, or
	// of another EtherType.
	Short, OtherType uint64
}

// DropCounter is implemented by transports that count what they drop
// (UDPTransport, EthernetTransport); the Driver adds their counts to
// DriverStats.Transport.
type DropCounter interface {
	Drops() TransportDrops
}

// Drops returns the datagrams the transport dropped: from other sources,
// and those the kernel dropped on the socket's full receive queue (on
// Linux; the kernel tells them with the first datagram it queues after
// them, so they show once that one is read).
func (t *UDPTransport) Drops() TransportDrops {
	return TransportDrops{Kernel: t.kernel.Total(), OtherSource: t.other.Load()}
}

// Drops returns the frames the transport ignored and, on an AF_PACKET
// socket (ListenEthernet), those the kernel dropped on its full receive
// queue.
func (t *EthernetTransport) Drops() TransportDrops {
	st := t.Stats()
	d := TransportDrops{OtherSource: st.OtherPeer, Short: st.Short, OtherType: st.OtherType}
	if k, ok := t.pc.(*kernelCounted); ok {
		d.Kernel = k.drops()
	}
	return d
}

// kernelCounted is an AF_PACKET socket whose kernel drop counter (which
// the kernel resets at each read of it) is summed.
type kernelCounted struct {
	net.PacketConn
	stats func() (uint64, error) // drops since the last call
	mu    sync.Mutex
	sum   uint64
}

func (k *kernelCounted) drops() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if n, err := k.stats(); err == nil {
		k.sum += n
	}
	return k.sum
}

var (
	_ DropCounter = (*UDPTransport)(nil)
	_ DropCounter = (*EthernetTransport)(nil)
)

// beyondResend reports whether data datagram seq of the current stream is
// older than any the sender can still send: the sender opens datagram n
// only once everything up to n−Window is acknowledged, and resends only
// unacknowledged ones, so after datagram head nothing at or below
// head−Window comes again but a replay of captured traffic (or a datagram
// the network held back for a whole window). It assumes the sender's
// window is the receiver's (ReceiverConfig.Window: "should match").
func (r *Receiver) beyondResend(seq uint64) bool {
	w := uint64(len(r.ring))
	return seq < r.next && r.head >= w && seq <= r.head-w
}
