package conntrack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	ct "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// nlConn is a ctnetlink socket that sends requests in batches: the caller
// appends messages to m (each numbered by seq), and flush sends them in one
// sendmsg with an acknowledgement asked of the last one only, then reads
// the replies, which the kernel queued before sendmsg returned. Failures
// come back as error messages naming the request's sequence number.
//
// A nlConn is not safe for concurrent use.
type nlConn struct {
	fd     int
	m      msgBuf
	seq    uint32
	n      int // messages in m
	lastAt int // offset of the last message in m
	rbuf   []byte
}

// Socket buffer sizes: a batch and every reply it can draw (an error
// acknowledgement takes about 768 bytes of receive buffer, a GET reply
// about 4.5 KiB, whatever their length) must fit.
const (
	sockSendBuf = 4 << 20
	sockRecvBuf = 16 << 20
	// batchBytes ends a batch: about 500 create messages.
	batchBytes = 64 << 10
	// batchGets bounds the GET requests of one batch by their replies.
	batchGets = 512
	// readTimeout bounds a wait for replies the kernel queues at once:
	// only a lost reply (the receive buffer overflowed) makes it expire.
	readTimeout = 5 * time.Second
)

// dialNL opens a ctnetlink socket in the network namespace of the calling
// thread.
func dialNL() (*nlConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, opError("dial", os.NewSyscallError("socket", err))
	}
	c := &nlConn{fd: fd, rbuf: make([]byte, 64<<10)}
	if err := c.setup(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

func (c *nlConn) setup() error {
	if err := unix.Bind(c.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return opError("dial", os.NewSyscallError("bind", err))
	}
	// Acknowledgements without a copy of the request.
	if err := unix.SetsockoptInt(c.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1); err != nil {
		return opError("dial", os.NewSyscallError("setsockopt", err))
	}
	// The *FORCE forms need CAP_NET_ADMIN, which writing conntrack needs
	// anyway; without it the limits of net.core.[rw]mem_max apply.
	if unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockSendBuf) != nil {
		_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sockSendBuf)
	}
	if unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockRecvBuf) != nil {
		_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sockRecvBuf)
	}
	tv := unix.NsecToTimeval(readTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return opError("dial", os.NewSyscallError("setsockopt", err))
	}
	return nil
}

func (c *nlConn) Close() error {
	if err := unix.Close(c.fd); err != nil {
		return opError("close", os.NewSyscallError("close", err))
	}
	return nil
}

// opError wraps an error of the socket as the *net.OpError it is.
func opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "netlink", Err: err}
}

// next returns the sequence number for the message about to be appended
// to m.
func (c *nlConn) next() uint32 {
	c.seq++
	c.lastAt = len(c.m.b)
	c.n++
	return c.seq
}

// full reports whether the batch should be flushed before more is added.
func (c *nlConn) full() bool { return len(c.m.b) >= batchBytes }

// reply is one reply to a batch: Errno is set for a failed request, Msg
// holds the payload (after the netlink header) of a data reply; both
// valid only during the call.
type reply struct {
	Seq   uint32
	Errno syscall.Errno
	Type  uint16
	Flags uint16
	Msg   []byte
}

// flow decodes the conntrack entry a data reply holds (a dump's, a GET's).
func (r *reply) flow() (ct.Flow, error) {
	ev, err := r.event()
	if err != nil || ev.Flow == nil {
		return ct.Flow{}, fmt.Errorf("conntrack: decode a kernel entry: %w (%v)", ErrUnsupportedFlow, err)
	}
	return *ev.Flow, nil
}

// flush sends the batch and calls fn for each reply but the final
// acknowledgement, in the order the kernel processed the requests. It
// returns an error only when the socket failed: then some requests of the
// batch may or may not have been applied.
func (c *nlConn) flush(fn func(reply)) error {
	if c.n == 0 {
		return nil
	}
	flags := binary.NativeEndian.Uint16(c.m.b[c.lastAt+6:])
	binary.NativeEndian.PutUint16(c.m.b[c.lastAt+6:], flags|unix.NLM_F_ACK)
	last := c.seq
	err := c.send(c.m.b)
	c.m.b, c.n = c.m.b[:0], 0
	if err != nil {
		return err
	}
	return c.read(func(r reply) bool {
		if r.Seq == last && r.Type == unix.NLMSG_ERROR && r.Errno == 0 {
			return false
		}
		fn(r)
		return !(r.Seq == last && r.Type == unix.NLMSG_ERROR)
	})
}

// dump sends the dump request appended to m (a single message) and calls
// fn for every message of the reply until the kernel's NLMSG_DONE.
func (c *nlConn) dump(fn func(reply)) error {
	err := c.send(c.m.b)
	c.m.b, c.n = c.m.b[:0], 0
	if err != nil {
		return err
	}
	var failed error
	err = c.read(func(r reply) bool {
		switch r.Type {
		case unix.NLMSG_DONE:
			return false
		case unix.NLMSG_ERROR:
			if r.Errno != 0 {
				failed = opError("dump", os.NewSyscallError("netlink", r.Errno))
			}
			return false
		}
		fn(r)
		return true
	})
	if err != nil {
		return err
	}
	return failed
}

func (c *nlConn) send(b []byte) error {
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	for {
		err := unix.Sendto(c.fd, b, 0, sa)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return opError("write", os.NewSyscallError("sendto", err))
		}
		return nil
	}
}

// read reads messages and hands them to fn until fn returns false.
func (c *nlConn) read(fn func(reply) bool) error {
	for {
		n, _, err := unix.Recvfrom(c.fd, c.rbuf, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return opError("read", os.NewSyscallError("recvfrom", errors.New("no reply from the kernel (timeout)")))
		case err != nil:
			// ENOBUFS: replies were lost because the receive buffer was full.
			return opError("read", os.NewSyscallError("recvfrom", err))
		}
		b := c.rbuf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return opError("read", fmt.Errorf("malformed netlink message of %d bytes in %d", l, len(b)))
			}
			r := reply{Type: binary.NativeEndian.Uint16(b[4:]), Flags: binary.NativeEndian.Uint16(b[6:]), Seq: binary.NativeEndian.Uint32(b[8:]), Msg: b[unix.NLMSG_HDRLEN:l]}
			if r.Type == unix.NLMSG_ERROR {
				if len(r.Msg) < 4+unix.NLMSG_HDRLEN {
					return opError("read", errors.New("short netlink error message"))
				}
				r.Errno = syscall.Errno(-int32(binary.NativeEndian.Uint32(r.Msg)))
				// The request's header follows: its sequence number is ours.
				r.Seq = binary.NativeEndian.Uint32(r.Msg[4+8:])
			}
			if !fn(r) {
				return nil
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}
