package simnet_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
)

// TestGratuitousARPFromMdlayher sends real ARP frames built by mdlayher/arp
// and mdlayher/ethernet: the switch follows the virtual MAC when the new
// owner announces it, and the receivers parse what they get.
func TestGratuitousARPFromMdlayher(t *testing.T) {
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	host := seg.Attach("host", macC)
	vip := netip.MustParseAddr("198.18.0.1")

	var seen []*arp.Packet
	host.SetHandler(func(f []byte, src net.HardwareAddr) {
		var eth ethernet.Frame
		require.NoError(t, eth.UnmarshalBinary(f))
		require.Equal(t, ethernet.EtherTypeARP, eth.EtherType)
		require.Equal(t, src, eth.Source)
		p := new(arp.Packet)
		require.NoError(t, p.UnmarshalBinary(eth.Payload))
		seen = append(seen, p)
	})
	garp := func(p *simnet.Port) {
		t.Helper()
		pkt, err := arp.NewPacket(arp.OperationRequest, vmac, vip, ethernet.Broadcast, vip)
		require.NoError(t, err)
		payload, err := pkt.MarshalBinary()
		require.NoError(t, err)
		f, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: vmac, EtherType: ethernet.EtherTypeARP, Payload: payload}).MarshalBinary()
		require.NoError(t, err)
		write(t, p, f)
		sim.RunFor(time.Millisecond)
	}

	require.NoError(t, a.AddHardwareAddr(vmac))
	garp(a)
	port, _ := seg.Lookup(vmac)
	require.Equal(t, "a", port)

	require.NoError(t, a.RemoveHardwareAddr(vmac))
	require.NoError(t, b.AddHardwareAddr(vmac))
	garp(b)
	port, _ = seg.Lookup(vmac)
	require.Equal(t, "b", port)

	require.Len(t, seen, 2)
	for _, p := range seen {
		require.Equal(t, vip, p.SenderIP)
		require.Equal(t, vmac, p.SenderHardwareAddr)
	}
}

// TestSimulationIsDeterministic runs a small chattering cluster with every
// fault at once, twice per seed: the same seed gives the same trace, to the
// nanosecond; another seed gives another.
func TestSimulationIsDeterministic(t *testing.T) {
	run := func(seed int64) []string {
		sim := clock.NewSim(time.Time{})
		seg := simnet.New(&simnet.Config{Clock: sim, Seed: seed})
		var trace []string
		var ports []*simnet.Port
		for i := range 5 {
			hw := net.HardwareAddr{2, 0, 0, 0, 0, byte(i + 1)}
			p := seg.Attach(fmt.Sprintf("u%d", i), hw)
			p.SetLoss(0.1)
			p.SetLatency(time.Duration(i) * 100 * time.Microsecond)
			p.SetReorder(0.2, time.Millisecond)
			p.SetHandler(func(f []byte, src net.HardwareAddr) {
				s := seqOf(f)
				trace = append(trace, fmt.Sprintf("%v %s<-%v %d", sim.Since(clock.Epoch), p.Name(), src, s))
				if s%3 == 0 && s < 10000 {
					_, err := p.WriteTo(frame(src, hw, s+1), nil)
					require.NoError(t, err)
				}
			})
			ports = append(ports, p)
		}
		var tick func()
		n := uint32(0)
		tick = func() {
			for _, p := range ports {
				n += 3
				_, err := p.WriteTo(frame(bcast, p.HardwareAddr(), n), nil)
				require.NoError(t, err)
			}
			sim.AfterFunc(10*time.Millisecond, tick)
		}
		sim.AfterFunc(0, tick)
		sim.RunFor(2 * time.Second)
		ports[2].Cut()
		seg.Isolate(ports[0], ports[1])
		sim.RunFor(time.Second)
		ports[2].Heal()
		seg.Join()
		sim.RunFor(time.Second)
		return trace
	}
	first := run(9)
	require.Greater(t, len(first), 5000)
	require.Equal(t, first, run(9))
	require.NotEqual(t, first, run(10))
}
