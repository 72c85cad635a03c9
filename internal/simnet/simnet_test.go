package simnet_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
)

var (
	macA  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	macC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0c}
	macD  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0d}
	vmac  = net.HardwareAddr{0x10, 0x00, 0x00, 0xc1, 0x4a, 0x01}
	nomac = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xee}
	bcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast = net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12}
)

const etherType = 0x88b5 // IEEE local experimental

// frame builds an Ethernet frame whose payload is the big-endian seq.
func frame(dst, src net.HardwareAddr, seq uint32) []byte {
	b := make([]byte, 0, simnet.HeaderLen+4)
	b = append(b, dst...)
	b = append(b, src...)
	b = binary.BigEndian.AppendUint16(b, etherType)
	return binary.BigEndian.AppendUint32(b, seq)
}

func seqOf(f []byte) uint32 { return binary.BigEndian.Uint32(f[simnet.HeaderLen:]) }

// got is one frame a recorder saw.
type got struct {
	at  time.Duration // since clock.Epoch
	src string
	seq uint32
}

// recorder collects the frames delivered to a port's handler on a clock.Sim.
type recorder struct {
	sim    *clock.Sim
	frames []got
}

func record(sim *clock.Sim, p *simnet.Port) *recorder {
	r := &recorder{sim: sim}
	p.SetHandler(func(f []byte, src net.HardwareAddr) {
		r.frames = append(r.frames, got{sim.Since(clock.Epoch), src.String(), seqOf(f)})
	})
	return r
}

func (r *recorder) seqs() []uint32 {
	var s []uint32
	for _, g := range r.frames {
		s = append(s, g.seq)
	}
	return s
}

func (r *recorder) reset() { r.frames = nil }

// simSeg returns a segment on a fresh simulated clock.
func simSeg(t *testing.T, seed int64) (*simnet.Segment, *clock.Sim) {
	t.Helper()
	sim := clock.NewSim(time.Time{})
	return simnet.New(&simnet.Config{Clock: sim, Seed: seed}), sim
}

func write(t *testing.T, p *simnet.Port, f []byte) {
	t.Helper()
	n, err := p.WriteTo(f, nil)
	require.NoError(t, err)
	require.Equal(t, len(f), n)
}

func TestDeliveryRules(t *testing.T) {
	tests := []struct {
		name string
		// learn lists ports that send a broadcast first, so the switch
		// learns their MACs.
		learn []string
		dst   net.HardwareAddr
		// want lists the ports whose handler gets the frame from a.
		want []string
		// filtered lists the ports whose NIC rejects it.
		filtered []string
	}{
		{name: "broadcast", dst: bcast, want: []string{"b", "c", "sniffer"}},
		{name: "multicast", dst: mcast, want: []string{"b", "c", "sniffer"}},
		{name: "unknown unicast is flooded, NICs filter", dst: macB, want: []string{"b", "sniffer"}, filtered: []string{"c"}},
		{name: "known unicast goes to one port", learn: []string{"b"}, dst: macB, want: []string{"b"}},
		{name: "unicast to nobody is flooded", learn: []string{"b", "c"}, dst: nomac, want: []string{"sniffer"}, filtered: []string{"b", "c"}},
		{name: "known unicast to the sender is not sent back", learn: []string{"a"}, dst: macA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seg, sim := simSeg(t, 1)
			ports := map[string]*simnet.Port{
				"a":       seg.Attach("a", macA),
				"b":       seg.Attach("b", macB),
				"c":       seg.Attach("c", macC),
				"sniffer": seg.Attach("sniffer", nil),
			}
			ports["sniffer"].SetPromiscuous(true)
			recs := map[string]*recorder{}
			for name, p := range ports {
				recs[name] = record(sim, p)
			}
			for _, name := range tt.learn {
				write(t, ports[name], frame(bcast, ports[name].HardwareAddr(), 0))
			}
			sim.RunFor(time.Millisecond)
			before := map[string]simnet.Stats{}
			for name, p := range ports {
				recs[name].reset()
				before[name] = p.Stats()
			}

			write(t, ports["a"], frame(tt.dst, macA, 7))
			sim.RunFor(time.Millisecond)

			var gotBy []string
			for name, r := range recs {
				if len(r.frames) > 0 {
					require.Equal(t, []got{{at: time.Millisecond, src: macA.String(), seq: 7}}, r.frames, "%s gets it when written, at zero latency", name)
					gotBy = append(gotBy, name)
				}
			}
			slices.Sort(gotBy)
			require.Equal(t, tt.want, gotBy)
			var filtered []string
			for name, p := range ports {
				if p.Stats().Dropped.Filtered > before[name].Dropped.Filtered {
					filtered = append(filtered, name)
				}
			}
			slices.Sort(filtered)
			require.Equal(t, tt.filtered, filtered)
			require.Empty(t, recs["a"].frames, "never delivered back to the sender")
		})
	}
}

func TestSecondaryAddressAndPromiscuousToggle(t *testing.T) {
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	rb := record(sim, b)

	write(t, a, frame(vmac, macA, 1)) // b does not have vmac yet
	require.NoError(t, b.AddHardwareAddr(vmac))
	write(t, a, frame(vmac, macA, 2))
	require.NoError(t, b.RemoveHardwareAddr(vmac))
	write(t, a, frame(vmac, macA, 3))
	b.SetPromiscuous(true)
	write(t, a, frame(vmac, macA, 4))
	b.SetPromiscuous(false)
	write(t, a, frame(vmac, macA, 5))
	sim.RunFor(time.Millisecond)
	require.Equal(t, []uint32{2, 4}, rb.seqs())
	require.Equal(t, uint64(3), b.Stats().Dropped.Filtered)

	require.ErrorIs(t, b.AddHardwareAddr(net.HardwareAddr{1, 2, 3}), simnet.ErrBadHardwareAddr)
	require.ErrorIs(t, b.SetHardwareAddr(nil), simnet.ErrBadHardwareAddr)
	require.NoError(t, b.AddHardwareAddr(vmac))
	require.NoError(t, b.SetHardwareAddr(macD))
	require.Equal(t, []net.HardwareAddr{macD, vmac}, b.HardwareAddrs())
	require.Equal(t, macD, b.HardwareAddr())
}

func TestLearningSwitch(t *testing.T) {
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	c := seg.Attach("c", macC)
	ra, rb, rc := record(sim, a), record(sim, b), record(sim, c)
	require.Empty(t, seg.FDB())

	write(t, a, frame(bcast, macA, 1))
	write(t, b, frame(macA, macB, 2))
	// A group source address is never learned.
	write(t, c, frame(bcast, mcast, 3))
	sim.RunFor(time.Millisecond)
	require.Equal(t, map[string]string{macA.String(): "a", macB.String(): "b"}, seg.FDB())
	port, ok := seg.Lookup(macB)
	require.True(t, ok)
	require.Equal(t, "b", port)
	_, ok = seg.Lookup(macC)
	require.False(t, ok)

	t.Run("virtual MAC moves with a gratuitous ARP", func(t *testing.T) {
		// a is primary: it owns the virtual MAC and announces it.
		require.NoError(t, a.AddHardwareAddr(vmac))
		write(t, a, frame(bcast, vmac, 10))
		sim.RunFor(time.Millisecond)
		port, ok := seg.Lookup(vmac)
		require.True(t, ok)
		require.Equal(t, "a", port)
		ra.reset()
		rb.reset()
		rc.reset()
		write(t, c, frame(vmac, macC, 11))
		sim.RunFor(time.Millisecond)
		require.Equal(t, []uint32{11}, ra.seqs())
		require.Empty(t, rb.frames)

		// Failover: b takes the virtual MAC and announces it; the switch
		// moves the entry and unicast to the virtual MAC follows.
		require.NoError(t, a.RemoveHardwareAddr(vmac))
		require.NoError(t, b.AddHardwareAddr(vmac))
		write(t, b, frame(bcast, vmac, 12))
		sim.RunFor(time.Millisecond)
		port, _ = seg.Lookup(vmac)
		require.Equal(t, "b", port)
		ra.reset()
		rb.reset()
		write(t, c, frame(vmac, macC, 13))
		sim.RunFor(time.Millisecond)
		require.Empty(t, ra.frames)
		require.Equal(t, []uint32{13}, rb.seqs())
	})

	t.Run("a port sending from a new address", func(t *testing.T) {
		require.NoError(t, c.SetHardwareAddr(macD))
		write(t, c, frame(bcast, macD, 20))
		sim.RunFor(time.Millisecond)
		fdb := seg.FDB()
		require.Equal(t, "c", fdb[macD.String()])
		require.Equal(t, "a", fdb[macA.String()], "other entries untouched")
	})

	t.Run("close forgets the port", func(t *testing.T) {
		require.NoError(t, c.Close())
		_, ok := seg.Lookup(macD)
		require.False(t, ok)
		require.Nil(t, seg.Port("c"))
		require.Same(t, a, seg.Port("a"))
	})
}

func TestAttachPanicsOnSetupMistakes(t *testing.T) {
	seg, _ := simSeg(t, 1)
	seg.Attach("a", macA)
	require.Panics(t, func() { seg.Attach("a", macB) })
	require.Panics(t, func() { seg.Attach("x", net.HardwareAddr{1, 2}) })
}

// lossRun sends n frames from a to b with loss set on the sending or
// receiving side, and returns the sequence numbers that arrived.
func lossRun(t *testing.T, seed int64, n int, sendSide bool, p float64) (arrived []uint32, a, b *simnet.Port) {
	t.Helper()
	seg, sim := simSeg(t, seed)
	a = seg.Attach("a", macA)
	b = seg.Attach("b", macB)
	rb := record(sim, b)
	if sendSide {
		a.SetLoss(p)
	} else {
		b.SetLoss(p)
	}
	f := frame(macB, macA, 0)
	for i := range n {
		binary.BigEndian.PutUint32(f[simnet.HeaderLen:], uint32(i))
		if _, err := a.WriteTo(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	sim.RunFor(time.Millisecond)
	return rb.seqs(), a, b
}

func TestLoss(t *testing.T) {
	const n = 10000
	for _, tt := range []struct {
		name     string
		sendSide bool
		p        float64
	}{
		{"sender 20%", true, 0.2},
		{"receiver 20%", false, 0.2},
		{"sender 1%", true, 0.01},
		{"receiver 50%", false, 0.5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			arrived, a, b := lossRun(t, 42, n, tt.sendSide, tt.p)
			lost := n - len(arrived)
			// The binomial standard deviation is at most 0.005 at n=10000;
			// allow four of them.
			require.InDelta(t, tt.p, float64(lost)/n, 0.02)
			dropper := b
			if tt.sendSide {
				dropper = a
			}
			require.Equal(t, uint64(lost), dropper.Stats().Dropped.Loss)
			require.Equal(t, uint64(n), a.Stats().Sent)
			require.Equal(t, uint64(len(arrived)), b.Stats().Received)
			require.True(t, slices.IsSorted(arrived), "loss does not reorder")
		})
	}
}

func TestLossIsDeterministic(t *testing.T) {
	const n = 2000
	for _, sendSide := range []bool{true, false} {
		first, _, _ := lossRun(t, 42, n, sendSide, 0.3)
		again, _, _ := lossRun(t, 42, n, sendSide, 0.3)
		require.Equal(t, first, again, "same seed, same drops")
		other, _, _ := lossRun(t, 43, n, sendSide, 0.3)
		require.NotEqual(t, first, other, "another seed, other drops")
	}
}

func TestCutAndHeal(t *testing.T) {
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	ra, rb := record(sim, a), record(sim, b)
	write(t, b, frame(bcast, macB, 1))
	sim.RunFor(time.Millisecond)
	_, ok := seg.Lookup(macB)
	require.True(t, ok)

	b.Cut()
	_, ok = seg.Lookup(macB)
	require.False(t, ok, "link down flushes the port's entries")
	write(t, a, frame(macB, macA, 2)) // in: lost
	write(t, b, frame(macA, macB, 3)) // out: lost, and not learned
	sim.RunFor(time.Millisecond)
	require.Equal(t, []uint32{1}, ra.seqs())
	require.Empty(t, rb.frames)
	require.Equal(t, uint64(2), b.Stats().Dropped.Cut)
	_, ok = seg.Lookup(macB)
	require.False(t, ok)

	// A frame already on the wire when the cable is pulled is lost too.
	b.Heal()
	a.SetLatency(10 * time.Millisecond)
	write(t, a, frame(macB, macA, 4))
	sim.RunFor(5 * time.Millisecond)
	b.Cut()
	sim.RunFor(10 * time.Millisecond)
	require.Empty(t, rb.frames)
	require.Equal(t, uint64(3), b.Stats().Dropped.Cut)

	b.Heal()
	write(t, a, frame(macB, macA, 5))
	write(t, b, frame(macA, macB, 6))
	sim.RunFor(20 * time.Millisecond)
	require.Equal(t, []uint32{5}, rb.seqs())
	require.Equal(t, []uint32{1, 6}, ra.seqs())
}

func TestIsolateAndJoin(t *testing.T) {
	seg, sim := simSeg(t, 1)
	names := []string{"a", "b", "c", "d"}
	macs := []net.HardwareAddr{macA, macB, macC, macD}
	ports := make([]*simnet.Port, 4)
	recs := make([]*recorder, 4)
	for i := range ports {
		ports[i] = seg.Attach(names[i], macs[i])
		recs[i] = record(sim, ports[i])
	}
	// reach returns, for each port, the ports that got its broadcast.
	reach := func() map[string][]string {
		t.Helper()
		m := map[string][]string{}
		for i, p := range ports {
			for _, r := range recs {
				r.reset()
			}
			write(t, p, frame(bcast, macs[i], uint32(i)))
			sim.RunFor(time.Millisecond)
			for j, r := range recs {
				if len(r.frames) > 0 {
					m[names[i]] = append(m[names[i]], names[j])
				}
			}
		}
		return m
	}
	all := map[string][]string{"a": {"b", "c", "d"}, "b": {"a", "c", "d"}, "c": {"a", "b", "d"}, "d": {"a", "b", "c"}}
	require.Equal(t, all, reach())

	seg.Isolate(ports[0], ports[1])
	require.Equal(t, map[string][]string{"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, reach())

	seg.Isolate(ports[2])
	require.Equal(t, map[string][]string{"a": {"b"}, "b": {"a"}}, reach())
	require.NotZero(t, ports[2].Stats().Dropped.Isolated)

	// Known unicast across the partition does not cross either.
	recs[0].reset()
	write(t, ports[2], frame(macA, macC, 99))
	sim.RunFor(time.Millisecond)
	require.Empty(t, recs[0].frames)

	seg.Join()
	require.Equal(t, all, reach())
}

func TestLatencyIsExact(t *testing.T) {
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	ra, rb := record(sim, a), record(sim, b)
	a.SetLatency(3 * time.Millisecond)
	b.SetLatency(2 * time.Millisecond)

	write(t, a, frame(macB, macA, 1))
	sim.RunFor(7 * time.Millisecond)
	write(t, b, frame(macA, macB, 2))
	sim.RunFor(time.Second)
	require.Equal(t, []got{{5 * time.Millisecond, macA.String(), 1}}, rb.frames)
	require.Equal(t, []got{{12 * time.Millisecond, macB.String(), 2}}, ra.frames)
}

func TestHandlersDoNotRecurse(t *testing.T) {
	// Two ports play ping-pong at zero latency: every reply is delivered in
	// a later clock callback at the same virtual instant, never inside the
	// handler that wrote it.
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	depth, maxDepth, count := 0, 0, 0
	bounce := func(p *simnet.Port, to net.HardwareAddr) func([]byte, net.HardwareAddr) {
		return func(f []byte, _ net.HardwareAddr) {
			depth++
			maxDepth = max(maxDepth, depth)
			count++
			if s := seqOf(f); s < 100 {
				_, err := p.WriteTo(frame(to, p.HardwareAddr(), s+1), nil)
				require.NoError(t, err)
			}
			depth--
		}
	}
	a.SetHandler(bounce(a, macB))
	b.SetHandler(bounce(b, macA))
	write(t, a, frame(macB, macA, 0))
	require.Equal(t, 0, count, "nothing is delivered before the clock runs")
	sim.RunFor(0)
	require.Equal(t, 101, count)
	require.Equal(t, 1, maxDepth)
	require.Equal(t, clock.Epoch, sim.Now())
	require.Zero(t, sim.Pending())
}

func TestOrderWithoutFaults(t *testing.T) {
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	rb := record(sim, b)
	var want []uint32
	for i := range 1000 {
		write(t, a, frame(macB, macA, uint32(i)))
		want = append(want, uint32(i))
		if i%7 == 0 {
			sim.RunFor(time.Microsecond)
		}
	}
	// Equal latency keeps the order too.
	a.SetLatency(time.Millisecond)
	for i := 1000; i < 2000; i++ {
		write(t, a, frame(macB, macA, uint32(i)))
		want = append(want, uint32(i))
	}
	sim.RunFor(time.Second)
	require.Equal(t, want, rb.seqs())
}

func TestReorder(t *testing.T) {
	seg, sim := simSeg(t, 7)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	rb := record(sim, b)
	a.SetLatency(time.Millisecond)
	a.SetReorder(0.3, 5*time.Millisecond)
	const n = 200
	sent := map[uint32]time.Duration{}
	for i := range n {
		sent[uint32(i)] = sim.Since(clock.Epoch)
		write(t, a, frame(macB, macA, uint32(i)))
		sim.RunFor(time.Millisecond)
	}
	sim.RunFor(time.Second)
	require.Len(t, rb.frames, n, "reordering loses nothing")
	require.False(t, slices.IsSorted(rb.seqs()), "some frames overtaken")
	delayed := 0
	for _, g := range rb.frames {
		switch d := g.at - sent[g.seq]; d {
		case time.Millisecond:
		case 6 * time.Millisecond:
			delayed++
		default:
			t.Fatalf("frame %d took %v, want 1ms or 6ms", g.seq, d)
		}
	}
	require.InDelta(t, 0.3, float64(delayed)/n, 0.1)
}

func TestWriteErrorsAndCopy(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, MTU: 100})
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	rb := record(sim, b)

	_, err := a.WriteTo(make([]byte, simnet.HeaderLen-1), nil)
	require.ErrorIs(t, err, simnet.ErrShortFrame)
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr)
	_, err = a.WriteTo(make([]byte, simnet.HeaderLen+100+4+1), nil)
	require.ErrorIs(t, err, simnet.ErrLongFrame)
	f := frame(macB, macA, 0)
	f = append(f, make([]byte, 100+4-4)...)
	write(t, a, f) // exactly the largest frame

	// The segment copies: changing the buffer after the write changes nothing.
	f = frame(macB, macA, 1)
	write(t, a, f)
	f[simnet.HeaderLen+3] = 9
	sim.RunFor(time.Millisecond)
	require.Equal(t, []uint32{0, 1}, rb.seqs())
	require.Equal(t, uint64(2), a.Stats().Sent)
}

func TestSegmentStats(t *testing.T) {
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	c := seg.Attach("c", macC)
	record(sim, b)
	record(sim, c)
	write(t, a, frame(bcast, macA, 1)) // flooded to b and c
	write(t, a, frame(macB, macA, 2))  // unknown: flooded, c filters
	write(t, b, frame(macA, macB, 3))  // known: a, queued for ReadFrom
	sim.RunFor(time.Millisecond)
	c.Cut()
	write(t, a, frame(bcast, macA, 4)) // c cut
	sim.RunFor(time.Millisecond)
	require.Equal(t, simnet.SegmentStats{
		Frames:    4,
		Flooded:   3,
		Delivered: 5,
		Dropped:   simnet.Drops{Filtered: 1, Cut: 1},
	}, seg.Stats())
	require.NoError(t, c.Close())
	require.Equal(t, uint64(2), seg.Stats().Dropped.Total(), "closed ports still count")
	require.Equal(t, simnet.Stats{Sent: 1, Received: 3}, b.Stats())
}

func TestDeliveryOrderMatchesNaiveModel(t *testing.T) {
	// Random latencies, changed between writes, against the obvious model:
	// every frame arrives at its write time plus the latency then, frames
	// due at the same instant in the order written.
	seg, sim := simSeg(t, 1)
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	rb := record(sim, b)
	rng := rand.New(rand.NewPCG(5, 5))
	var want []got
	for i := range uint32(3000) {
		lat := time.Duration(rng.IntN(6)) * time.Millisecond
		a.SetLatency(lat)
		want = append(want, got{sim.Since(clock.Epoch) + lat, macA.String(), i})
		write(t, a, frame(macB, macA, i))
		if rng.IntN(3) == 0 {
			sim.RunFor(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	}
	sim.RunFor(time.Second)
	slices.SortStableFunc(want, func(x, y got) int { return int(x.at - y.at) })
	require.Equal(t, want, rb.frames)
}

func TestFDBAgeing(t *testing.T) {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, AgeingTime: 300 * time.Second})
	a := seg.Attach("a", macA)
	b := seg.Attach("b", macB)
	c := seg.Attach("c", macC)
	c.SetPromiscuous(true)
	rc := record(sim, c)
	record(sim, b)

	write(t, b, frame(bcast, macB, 1))
	sim.RunFor(299 * time.Second)
	port, ok := seg.Lookup(macB)
	require.True(t, ok)
	require.Equal(t, "b", port)
	rc.reset()
	write(t, a, frame(macB, macA, 2)) // known: c does not see it
	sim.RunFor(time.Second)
	require.Empty(t, rc.frames)

	// 300 s after b last spoke its entry is gone and unicast floods again.
	_, ok = seg.Lookup(macB)
	require.False(t, ok)
	require.NotContains(t, seg.FDB(), macB.String())
	require.Contains(t, seg.FDB(), macA.String(), "a spoke a second ago")
	write(t, a, frame(macB, macA, 3))
	sim.RunFor(time.Second)
	require.Equal(t, []uint32{3}, rc.seqs())

	// A refresh keeps the entry alive.
	for range 5 {
		write(t, b, frame(bcast, macB, 4))
		sim.RunFor(200 * time.Second)
		_, ok = seg.Lookup(macB)
		require.True(t, ok)
	}
}
