package statesync_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// TestTransportDropsOnBed needs root: each transport counts what it drops
// before the Driver sees it, every datagram sent accounted for: read, from
// another source, or dropped by the kernel on the full receive queue (a
// small receive buffer, nobody reading).
func TestTransportDropsOnBed(t *testing.T) {
	bed := testbed.New(t) // skips unless root (fails under CI=true)
	br := bed.Bridge("sync")
	a, b := bed.Host("a"), bed.Host("b")
	la, lb := bed.Link(a, br, "eth0"), bed.Link(b, br, "eth0")
	b.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/24"))
	const flood, strays = 2000, 3

	t.Run("udp", func(t *testing.T) {
		local := netip.MustParseAddrPort("198.18.0.2:7000")
		peer := netip.MustParseAddrPort("198.18.0.2:7001")
		var conn, from, stray *net.UDPConn
		require.NoError(t, b.Do(func() (err error) {
			if conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(local)); err != nil {
				return err
			}
			if from, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(peer)); err != nil {
				return err
			}
			stray, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2)})
			return err
		}))
		defer from.Close()
		defer stray.Close()
		require.NoError(t, conn.SetReadBuffer(32<<10)) // small: some datagrams fit
		tr := statesync.NewUDPTransport(conn, peer)
		defer tr.Close()
		dgram := make([]byte, 100)
		for range strays {
			_, err := stray.WriteToUDPAddrPort(dgram, local)
			require.NoError(t, err)
		}
		for range flood {
			_, err := from.WriteToUDPAddrPort(dgram, local)
			require.NoError(t, err)
		}
		read := drain(t, tr, conn, nil)
		// The kernel tells its count with the next datagram it queues.
		_, err := from.WriteToUDPAddrPort(dgram, local)
		require.NoError(t, err)
		read += drain(t, tr, conn, func(n uint64) bool {
			d := tr.Drops()
			return read+n+d.Kernel+d.OtherSource == flood+1+strays
		})
		d := tr.Drops()
		t.Logf("read %d, %+v", read, d)
		require.NotZero(t, d.Kernel, "the kernel dropped some")
		require.Equal(t, uint64(flood+1+strays), read+d.Kernel+d.OtherSource, "every datagram accounted for")
		require.LessOrEqual(t, d.OtherSource, uint64(strays))
	})

	t.Run("ethernet", func(t *testing.T) {
		var pa, pb *packet.Conn
		require.NoError(t, a.Do(func() (err error) {
			pa, err = packet.Listen(a.Interface("eth0"), packet.Raw, statesync.EtherType, nil)
			return
		}))
		defer pa.Close()
		require.NoError(t, b.Do(func() (err error) {
			pb, err = packet.Listen(b.Interface("eth0"), packet.Raw, statesync.EtherType, nil)
			return
		}))
		rc, err := pb.SyscallConn()
		require.NoError(t, err)
		require.NoError(t, rc.Control(func(fd uintptr) { // small: some frames fit
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 32<<10)
		}))
		require.NoError(t, err)
		tr := statesync.NewEthernetTransport(pb, lb.MAC(), la.MAC(), 0)
		defer tr.Close()
		frame := func(src net.HardwareAddr) []byte {
			f := append(append([]byte{}, lb.MAC()...), src...)
			f = binary.BigEndian.AppendUint16(f, statesync.EtherType)
			return append(f, make([]byte, 100)...)
		}
		to := &packet.Addr{HardwareAddr: lb.MAC()}
		for range strays { // from a MAC that is not the peer's
			_, err := pa.WriteTo(frame(net.HardwareAddr{2, 0, 0x5e, 0, 0, 9}), to)
			require.NoError(t, err)
		}
		for range flood {
			_, err := pa.WriteTo(frame(la.MAC()), to)
			require.NoError(t, err)
		}
		read := drain(t, tr, pb, func(n uint64) bool {
			d := tr.Drops()
			return n+d.Kernel+d.OtherSource == flood+strays
		})
		d := tr.Drops()
		t.Logf("read %d, %+v", read, d)
		require.NotZero(t, d.Kernel, "the kernel dropped some")
		require.Equal(t, uint64(flood+strays), read+d.Kernel+d.OtherSource, "every frame accounted for")
	})
}

// drain reads tr until done says so, or 10 s passed; with done nil, until
// nothing came for 100 ms (or a read looked late). It returns how many
// datagrams it read.
func drain(t *testing.T, tr statesync.Transport, c interface{ SetReadDeadline(time.Time) error }, done func(read uint64) bool) uint64 {
	t.Helper()
	var n uint64
	buf := make([]byte, 1500)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && (done == nil || !done(n)); {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
		if _, _, err := tr.ReadFrom(buf); err != nil {
			require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
			if done == nil {
				break
			}
			continue
		}
		n++
	}
	return n
}
