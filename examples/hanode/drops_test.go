package main

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/statesync"
)

// TestTransportDrops: the status shows what the raw Ethernet sync socket
// dropped before the protocol saw it.
func TestTransportDrops(t *testing.T) {
	seg := simnet.New(nil)
	me, peer := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	a, b := seg.Attach("a", me), seg.Attach("b", peer)
	tr := statesync.NewEthernetTransport(a, me, peer, 0)
	hb := heartbeat.NewEthernetConn(seg.Attach("hb", net.HardwareAddr{2, 0, 0, 0, 0, 3}), heartbeat.DefaultEtherType)
	links := transports{heartbeat: []member.Interface{{Name: "eth0", Conn: hb}}, sync: tr}

	frame := func(etherType uint16) []byte {
		f := append(append([]byte{}, me...), peer...)
		return append(f, byte(etherType>>8), byte(etherType), 1, 2, 3)
	}
	_, err := b.WriteTo(frame(0x0800), nil)
	require.NoError(t, err)
	_, err = b.WriteTo(frame(statesync.EtherType), nil)
	require.NoError(t, err)
	buf := make([]byte, 100)
	n, _, err := tr.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, []byte{1, 2, 3}, buf[:n])

	d := links.drops()
	require.Equal(t, &statesync.EthernetStats{OtherType: 1}, d.SyncEthernet)
	require.Empty(t, d.KernelDrops, "a simulated port has no kernel queue")
}
