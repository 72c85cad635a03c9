package heartbeat

import (
	"net"
	"testing"

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
}
