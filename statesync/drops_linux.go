//go:build linux

package statesync

import (
	"github.com/mdlayher/packet"
)

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
