package statesync_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

func listenEthernet(t *testing.T, h *testbed.Host, peer net.HardwareAddr) *statesync.EthernetTransport {
	t.Helper()
	var tr *statesync.EthernetTransport
	require.NoError(t, h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		tr, err = statesync.ListenEthernet(ifi, 0, peer)
		return err
	}))
	return tr
}

// TestListenEthernet needs root: a bulk sync and live updates cross a
// Linux bridge between two namespaces over AF_PACKET, and frames from a
// third MAC are ignored.
func TestListenEthernet(t *testing.T) {
	bed := testbed.New(t)
	br := bed.Bridge("sync")
	a, b, c := bed.Host("a"), bed.Host("b"), bed.Host("c")
	la, lb, lc := bed.Link(a, br, "eth0"), bed.Link(b, br, "eth0"), bed.Link(c, br, "eth0")

	src := statesync.NewTable(0)
	for i := range 2000 {
		src.Upsert(statesync.Session{
			Key:   statesync.Key{Proto: 6, Src: addrPort(198, 18, i, 40000), Dst: addrPort(198, 19, i, 443)},
			State: statesync.TCPStateEstablished, Expires: 2_000_000_000,
		})
	}
	ta := listenEthernet(t, a, lb.MAC())
	tb := listenEthernet(t, b, la.MAC())
	dst := statesync.NewTable(0)
	recv, err := statesync.NewDriver(&statesync.DriverConfig{Transport: tb, Table: dst, Receive: true})
	require.NoError(t, err)
	t.Cleanup(func() { recv.Close() })
	send, err := statesync.NewDriver(&statesync.DriverConfig{Transport: ta, Table: src, Send: true, Sender: &statesync.SenderConfig{MTU: 1500}})
	require.NoError(t, err)
	t.Cleanup(func() { send.Close() })

	start := time.Now()
	require.Eventually(t, func() bool { return recv.InSync() && dst.Len() == src.Len() }, 30*time.Second, 5*time.Millisecond,
		"receiver %+v", recv.ReceiverStats())
	t.Logf("bulk sync of %d sessions: %v\nsender %+v\nreceiver %+v\ndriver %+v %+v", src.Len(), time.Since(start), send.SenderStats(), recv.ReceiverStats(), send.Stats(), recv.Stats())

	k := statesync.Key{Proto: 17, Src: netip.MustParseAddrPort("198.18.200.1:5000"), Dst: netip.MustParseAddrPort("198.19.200.1:53")}
	send.Upsert(statesync.Session{Key: k, Expires: 2_000_000_000})
	require.Eventually(t, func() bool { _, ok := dst.Get(k); return ok }, 5*time.Second, time.Millisecond)
	send.Delete(k)
	require.Eventually(t, func() bool { _, ok := dst.Get(k); return !ok }, 5*time.Second, time.Millisecond)

	// A frame of the sync EtherType from c, addressed to b: ignored.
	var pc *packet.Conn
	require.NoError(t, c.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		pc, err = packet.Listen(ifi, packet.Raw, statesync.EtherType, nil)
		return err
	}))
	defer pc.Close()
	frame := append(append(append([]byte{}, lb.MAC()...), lc.MAC()...), 0xC1, 0x4C)
	frame = append(frame, make([]byte, 64)...)
	_, err = pc.WriteTo(frame, &packet.Addr{HardwareAddr: lb.MAC()})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return tb.Stats().OtherPeer == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, src.Len(), dst.Len())
}

func TestListenEthernetBadConfig(t *testing.T) {
	_, err := statesync.ListenEthernet(nil, 0, net.HardwareAddr{2, 0, 0, 0, 0, 1})
	require.Error(t, err)
	_, err = statesync.ListenEthernet(&net.Interface{Name: "x", HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}, 0, nil)
	require.Error(t, err)
}
