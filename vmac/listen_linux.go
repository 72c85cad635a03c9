//go:build linux

package vmac

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// maxFilterMACs is the most source MACs the kernel filter matches; the jump
// offsets of classic BPF are 8 bits. With more, frames are filtered by the
// Guard alone.
const maxFilterMACs = 32

func listenFrames(ifname string, macs []net.HardwareAddr) (net.PacketConn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vmac: listen on %q: %w: %v", ifname, ErrNoInterface, err)
	}
	c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
	if err != nil {
		return nil, fmt.Errorf("vmac: listen on %q: %w", ifname, err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("vmac: listen on %q: %w", ifname, err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		if serr == nil && len(macs) <= maxFilterMACs {
			prog := sourceFilter(macs)
			serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
				&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
		}
	})
	if err = errors.Join(err, serr); err != nil {
		c.Close()
		return nil, fmt.Errorf("vmac: listen on %q: socket options: %w", ifname, err)
	}
	return &frameConn{Conn: c}, nil
}

// frameConn is a packet.Conn whose reads after Close fail with an error
// wrapping net.ErrClosed, as net.PacketConn users expect (the packet
// package returns the runtime's unexported "use of closed file").
type frameConn struct {
	*packet.Conn
	closed atomic.Bool
}

func (c *frameConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func (c *frameConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.Conn.ReadFrom(b)
	if err != nil && c.closed.Load() {
		err = &net.OpError{Op: "read", Net: "packet", Addr: c.LocalAddr(), Err: net.ErrClosed}
	}
	return n, addr, err
}

// sourceFilter is a classic BPF program accepting frames whose source MAC
// (bytes 6..11) is one of macs. Per MAC:
//
//	jeq  #hi32, 0, 2    A holds bytes 6..9
//	ldh  [10]
//	jeq  #lo16, accept, 0
//	ldw  [6]            restore A for the next MAC
func sourceFilter(macs []net.HardwareAddr) []unix.SockFilter {
	const (
		ldw = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ldh = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{{Code: ldw, K: 6}}
	n := len(macs)
	for i, m := range macs {
		// Instructions after the block's third one up to "accept": the
		// rest of this block (1), the later blocks (4 each), the drop (1).
		toAccept := uint8(1 + 4*(n-1-i) + 1)
		prog = append(prog,
			unix.SockFilter{Code: jeq, Jt: 0, Jf: 2, K: binary.BigEndian.Uint32(m[0:4])},
			unix.SockFilter{Code: ldh, K: 10},
			unix.SockFilter{Code: jeq, Jt: toAccept, Jf: 0, K: uint32(binary.BigEndian.Uint16(m[4:6]))},
			unix.SockFilter{Code: ldw, K: 6},
		)
	}
	return append(prog,
		unix.SockFilter{Code: ret, K: 0},      // drop
		unix.SockFilter{Code: ret, K: 0xffff}, // accept
	)
}
