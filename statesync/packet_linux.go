//go:build linux

package statesync

import (
	"fmt"
	"net"

	"github.com/hakit/hakit/internal/link"

	"github.com/hakit/hakit"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// socketBuffer is the receive and send buffer ListenEthernet asks for: a
// bulk sync sends datagrams back to back, faster than a reader scheduled
// late can drain a default-sized buffer (about 200 KiB).
const socketBuffer = 16 << 20

// ListenEthernet opens an AF_PACKET raw socket on ifi (a dedicated sync
// interface) and returns an EthernetTransport to the peers whose MACs are
// given (at least one), sending from ifi's MAC with the given EtherType (0
// means EtherType, 0xC14C).
//
// A classic BPF filter makes the kernel hand over only frames of that
// EtherType that arrived on the interface (copies of frames sent from this
// host never reach user space); the transport ignores and counts frames
// from other MACs. The socket asks for 16 MiB receive and send buffers
// (forced beyond net.core.rmem_max when the process has CAP_NET_ADMIN). It
// is opened in the network namespace of the calling thread and needs
// CAP_NET_RAW.
func ListenEthernet(ifi *net.Interface, etherType uint16, peers ...net.HardwareAddr) (*EthernetTransport, error) {
	if ifi == nil {
		return nil, fmt.Errorf("statesync: listen ethernet: nil interface: %w", hakit.ErrConfig)
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("statesync: listen ethernet on %s: no peer: %w", ifi.Name, hakit.ErrConfig)
	}
	for _, peer := range append([]net.HardwareAddr{ifi.HardwareAddr}, peers...) {
		if len(peer) != 6 {
			return nil, fmt.Errorf("statesync: listen ethernet on %s: need 6-byte MACs, have %v and peers %v: %w", ifi.Name, ifi.HardwareAddr, peers, hakit.ErrConfig)
		}
	}
	if etherType == 0 {
		etherType = EtherType
	}
	pc, err := link.ListenEtherType(ifi, etherType)
	if err != nil {
		return nil, fmt.Errorf("statesync: listen ethernet on %s: %w", ifi.Name, err)
	}
	if err := setBuffers(pc, socketBuffer); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("statesync: listen ethernet on %s: %w", ifi.Name, err)
	}
	return NewEthernetTransport(pc, ifi.HardwareAddr, peers[0], etherType, peers[1:]...), nil
}

// setBuffers sets the socket's receive and send buffers to n bytes,
// forcing past the sysctl limits when allowed.
func setBuffers(pc *packet.Conn, n int) error {
	rc, err := pc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], n) != nil {
				if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], n); e != nil && serr == nil {
					serr = fmt.Errorf("set socket buffer: %w", e)
				}
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}
