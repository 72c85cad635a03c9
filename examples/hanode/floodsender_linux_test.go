package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/testbed"
	"github.com/stretchr/testify/require"
)

// floodSender sends prebuilt forged heartbeat frames from a raw AF_PACKET
// socket, many per system call (sendmmsg), paced to a rate: building and
// sending one frame per call made the sender, not the daemons, the limit
// (40,000 frames/s on a loaded 2-core machine).
type floodSender struct {
	fd     int
	frames [][]byte // whole Ethernet frames, prebuilt
	iovs   []unix.Iovec
	msgs   []unix.Mmsghdr
	sent   atomic.Uint64
}

// floodBatch is the most frames handed to one sendmmsg call.
const floodBatch = 256

// newFloodSender opens its socket in the calling thread's network
// namespace, on ifi, and builds n forged frames: random unit IDs (a
// quarter of them the primary's, 2), the largest epoch, a primary's role,
// cluster 7, key ID 1 and a random tag.
func newFloodSender(ifi *net.Interface, n int) (*floodSender, error) {
	// Protocol 0: the socket sends only, it receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("flood sender: socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("flood sender: bind: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1) // the frames go straight to the driver
	s := &floodSender{fd: fd}
	rng := rand.New(rand.NewPCG(1, 2))
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for i := range n {
		f := heartbeat.Frame{ClusterID: 7, UnitID: uint16(rng.IntN(65535) + 1), Role: hakit.Primary,
			Epoch: ^uint64(0), Seq: uint64(i + 1), KeyID: 1}
		if rng.IntN(4) == 0 {
			f.UnitID = 2 // the primary's own ID
		}
		for j := range f.Tag { // a tag that is not the key's
			f.Tag[j] = byte(rng.Uint32())
		}
		b := append(append([]byte{}, bcast...), ifi.HardwareAddr...)
		b = binary.BigEndian.AppendUint16(b, heartbeat.DefaultEtherType)
		b, err = f.AppendBinary(b)
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		s.frames = append(s.frames, b)
	}
	s.iovs = make([]unix.Iovec, n)
	s.msgs = make([]unix.Mmsghdr, n)
	for i, b := range s.frames {
		s.iovs[i].Base = &b[0]
		s.iovs[i].SetLen(len(b))
		s.msgs[i].Hdr.Iov = &s.iovs[i]
		s.msgs[i].Hdr.SetIovlen(1)
	}
	return s, nil
}

// send hands frames [i, i+k) to the kernel (k ≤ floodBatch, i+k ≤ n) and
// returns how many it took.
func (s *floodSender) send(i, k int) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msgs[i])), uintptr(k), 0, 0, 0)
	runtime.KeepAlive(s)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// run sends at rate frames per second until stop closes: each
// millisecond it sends what is due since start (a late wake-up catches up,
// by at most 10 ms' worth), cycling through the prebuilt frames, from a
// thread of the highest priority (nice -20). It returns how long it ran.
func (s *floodSender) run(rate int, stop <-chan struct{}) time.Duration {
	// An attacker has CPUs of its own; here the sender shares two with
	// the daemons it floods (and the kernel's forwarding of its frames
	// runs on its thread): its thread goes first.
	// The thread stays locked: it ends with the goroutine, its priority
	// with it (run in a goroutine of its own).
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -20) // this thread only
	start := time.Now()
	next := 0
	for {
		select {
		case <-stop:
			return time.Since(start)
		default:
		}
		due := int64(time.Since(start).Seconds()*float64(rate)) - int64(s.sent.Load())
		due = min(due, int64(rate/100+1))
		for due > 0 {
			k := int(min(due, floodBatch, int64(len(s.frames)-next)))
			n, err := s.send(next, k)
			if err != nil { // ENOBUFS: the queue is full, retry next tick
				break
			}
			s.sent.Add(uint64(n))
			due -= int64(n)
			next = (next + n) % len(s.frames)
		}
		time.Sleep(time.Millisecond)
	}
}

// Close closes the socket.
func (s *floodSender) Close() error { return unix.Close(s.fd) }

// BenchmarkFloodSender needs root: the forged flood's sender alone, unpaced,
// onto a bridge with two listening hosts (their sockets take the frames; no
// daemon reads them), to show the rate it can reach.
func BenchmarkFloodSender(b *testing.B) {
	bed := testbed.New(b)
	br := bed.Bridge("c")
	client := bed.Host("client")
	bed.Link(client, br, "eth0")
	for _, name := range []string{"a", "b"} {
		h := bed.Host(name)
		bed.Link(h, br, "eth0")
		require.NoError(b, h.Do(func() error {
			conn, err := heartbeat.ListenEthernet(h.Interface("eth0"), heartbeat.DefaultEtherType)
			if err == nil {
				b.Cleanup(func() { conn.Close() })
			}
			return err
		}))
	}
	var fs *floodSender
	require.NoError(b, client.Do(func() error {
		var err error
		fs, err = newFloodSender(client.Interface("eth0"), 1<<16)
		return err
	}))
	defer fs.Close()
	b.ReportAllocs()
	b.ResetTimer()
	next := 0
	for i := 0; i < b.N; {
		k := min(floodBatch, b.N-i, len(fs.frames)-next)
		n, err := fs.send(next, k)
		if err != nil {
			continue
		}
		i += n
		next = (next + n) % len(fs.frames)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
