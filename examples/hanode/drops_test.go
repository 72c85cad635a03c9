package main

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/simnet"
)

// TestTransportDrops: a heartbeat conn that cannot tell its kernel drops
// (a simulated port) is left out rather than shown as zero.
func TestTransportDrops(t *testing.T) {
	seg := simnet.New(nil)
	hb := heartbeat.NewEthernetConn(seg.Attach("hb", net.HardwareAddr{2, 0, 0, 0, 0, 3}), heartbeat.DefaultEtherType)
	links := transports{heartbeat: []member.Interface{{Name: "eth0", Conn: hb}}}
	require.Empty(t, links.drops().KernelDrops, "a simulated port has no kernel queue")
}
