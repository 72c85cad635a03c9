package testbed_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
)

// BenchmarkBedTwoHosts measures building and removing the usual topology:
// a bridge and two hosts cabled to it, links settled.
func BenchmarkBedTwoHosts(b *testing.B) {
	probe, err := testbed.Open("probe")
	if err != nil {
		b.Skip(err)
	}
	require.NoError(b, probe.Close())
	for b.Loop() {
		bed, err := testbed.Open("bench")
		require.NoError(b, err)
		br := bed.Bridge("lan")
		bed.Link(bed.Host("a"), br, "eth0")
		bed.Link(bed.Host("b"), br, "eth0")
		require.NoError(b, bed.Close())
	}
}

// BenchmarkRawFrameRoundTrip measures one raw Ethernet frame from a to b
// across the bridge and back, through AF_PACKET sockets: the floor under
// any heartbeat exchanged on the bed.
func BenchmarkRawFrameRoundTrip(b *testing.B) {
	bed := testbed.New(b)
	br := bed.Bridge("lan")
	ha, hb := bed.Host("a"), bed.Host("b")
	la, lb := bed.Link(ha, br, "eth0"), bed.Link(hb, br, "eth0")
	open := func(h *testbed.Host) *packet.Conn {
		var c *packet.Conn
		require.NoError(b, h.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			c, err = packet.Listen(ifi, packet.Raw, testEtherType, nil)
			return err
		}))
		b.Cleanup(func() { c.Close() })
		return c
	}
	ca, cb := open(ha), open(hb)
	macA, macB := la.MAC(), lb.MAC()

	// b echoes every frame back to a.
	back := &packet.Addr{HardwareAddr: macA}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := cb.ReadFrom(buf)
			if err != nil {
				return
			}
			f := buf[:n]
			copy(f[0:6], macA)
			copy(f[6:12], macB)
			if _, err := cb.WriteTo(f, back); err != nil {
				return
			}
		}
	}()

	out := frame(macB, macA, tagData, 0)
	to := &packet.Addr{HardwareAddr: macB}
	buf := make([]byte, 2048)
	require.NoError(b, ca.SetReadDeadline(time.Now().Add(time.Minute)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.WriteTo(out, to); err != nil {
			b.Fatal(err)
		}
		// a's socket also sees its own outgoing frame; wait for the echo.
		for {
			n, from, err := ca.ReadFrom(buf)
			if err != nil {
				b.Fatal(err)
			}
			if n >= 12 && bytes.Equal(from.(*packet.Addr).HardwareAddr, macB) {
				break
			}
		}
	}
}
