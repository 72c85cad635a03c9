package heartbeat

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/internal/testbed"
)

// TestKernelDrops needs root: frames sent to a heartbeat socket nobody
// reads overflow its receive queue, and the kernel's drops show.
func TestKernelDrops(t *testing.T) {
	bed := testbed.New(t)
	a, b := bed.Host("a"), bed.Host("b")
	br := bed.Bridge("lan")
	bed.Link(a, br, "eth0")
	bed.Link(b, br, "eth0")
	var rx, tx Conn
	require.NoError(t, a.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		rx, err = ListenEthernet(ifi, DefaultEtherType)
		return err
	}))
	defer rx.Close()
	var txIfi *net.Interface
	require.NoError(t, b.Do(func() error {
		var err error
		if txIfi, err = net.InterfaceByName("eth0"); err != nil {
			return err
		}
		tx, err = ListenEthernet(txIfi, DefaultEtherType)
		return err
	}))
	defer tx.Close()
	d, ok := KernelDrops(rx)
	require.True(t, ok)
	require.Zero(t, d)
	payload := make([]byte, 1400)
	for range 20000 {
		require.NoError(t, tx.WriteFrame(payload, txIfi.HardwareAddr, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
	}
	d, ok = KernelDrops(rx)
	require.True(t, ok)
	require.NotZero(t, d, "20,000 unread frames overflow the receive queue")
	d2, _ := KernelDrops(rx)
	require.GreaterOrEqual(t, d2, d, "summed across reads")

	_, ok = KernelDrops(NewEthernetConn(simnet.New(nil).Attach("p", net.HardwareAddr{2, 0, 0, 0, 0, 1}), DefaultEtherType))
	require.False(t, ok)

	// UDP: every datagram is read or dropped by the kernel, and counted.
	a.AddAddr("eth0", netip.MustParsePrefix("198.18.0.1/24"))
	local, from := netip.MustParseAddrPort("198.18.0.1:7000"), netip.MustParseAddrPort("198.18.0.1:7001")
	var uc Conn
	var peer *net.UDPConn
	require.NoError(t, a.Do(func() (err error) {
		if uc, err = ListenUDP(local, from); err != nil {
			return err
		}
		peer, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(from))
		return err
	}))
	defer uc.Close()
	defer peer.Close()
	u := uc.(*UDPConn)
	require.NoError(t, u.pc.SetReadBuffer(32<<10)) // small: some datagrams fit
	const sent = 2000
	for range sent {
		_, err := peer.WriteToUDPAddrPort(payload[:100], local)
		require.NoError(t, err)
	}
	var read uint64
	// readAll reads until done, or 10 s passed; with done nil, until
	// nothing came for 100 ms (or a read looked late).
	readAll := func(done func() bool) {
		buf := make([]byte, 1500)
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && (done == nil || !done()); {
			require.NoError(t, u.pc.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
			if _, err := u.ReadFrame(buf); err != nil {
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				if done == nil {
					return
				}
				continue
			}
			read++
		}
	}
	readAll(nil)
	// The kernel tells its count with the next datagram it queues.
	_, err := peer.WriteToUDPAddrPort(payload[:100], local)
	require.NoError(t, err)
	readAll(func() bool { d, _ := KernelDrops(uc); return read+d == sent+1 })
	d, ok = KernelDrops(uc)
	require.True(t, ok)
	t.Logf("UDP: %d read, %d dropped by the kernel", read, d)
	require.NotZero(t, d)
	require.Equal(t, uint64(sent+1), read+d, "every datagram read or counted")
}
