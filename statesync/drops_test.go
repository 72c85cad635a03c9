package statesync

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hakit/hakit/internal/simnet"
	"github.com/stretchr/testify/require"
)

// A data datagram older than anything the sender can still resend is a
// replay, counted as such (DropReplay) and not as a Duplicate; one within
// the window the sender resends from is a Duplicate. Neither changes the
// table or keeps the stream alive.
func TestReceiverReplayNotDuplicate(t *testing.T) {
	p := newPipe(t, 0, 0)
	p.settle(time.Second)
	var data [][]byte // every data datagram, as an eavesdropper records them
	for i := range 3000 {
		p.upsert(testSession(i))
		for _, f := range p.inflight {
			if f.toRcv && dgramType(f.b[3]) == typeData {
				data = append(data, f.b)
			}
		}
		p.step()
	}
	p.settle(time.Second)
	st := p.r.Stats()
	require.Greater(t, len(data), 2*len(p.r.ring), "more datagrams than the window holds")
	require.EqualValues(t, 1, st.Streams, "one stream throughout")
	before := p.dst.Len()

	heard := p.r.lastHeard
	p.now = p.now.Add(time.Second)
	err := p.r.Step(p.now, data[0])
	require.True(t, errors.Is(err, ErrReplay), "%v", err)
	got := p.r.Stats()
	require.Equal(t, st.DropReplay+1, got.DropReplay)
	require.Equal(t, st.Duplicate, got.Duplicate, "a replay is not a resend")
	require.Equal(t, heard, p.r.lastHeard, "a replay does not keep the stream alive")

	require.NoError(t, p.r.Step(p.now, data[len(data)-1]), "a resend of the last datagram")
	got2 := p.r.Stats()
	require.Equal(t, got.DropReplay, got2.DropReplay)
	require.Equal(t, got.Duplicate+1, got2.Duplicate)
	require.Equal(t, before, p.dst.Len())
}

// countingTransport is a nopTransport that counts drops of its own.
type countingTransport struct {
	nopTransport
	drops TransportDrops
}

func (t *countingTransport) Drops() TransportDrops { return t.drops }

// A receive-only Driver ignores acknowledgements and datagrams too short
// to have a type, and counts each apart; its stats carry the transport's
// own drops.
func TestDriverCountsWhatItIgnores(t *testing.T) {
	tr := &countingTransport{nopTransport: nopTransport{done: make(chan struct{})},
		drops: TransportDrops{Kernel: 5, OtherSource: 2}}
	d, err := NewDriver(&DriverConfig{Transport: tr, Table: NewTable(0), TickInterval: time.Hour, Receive: true})
	require.NoError(t, err)
	defer d.Close()

	// The header of an acknowledgement (the rest does not matter).
	ack := make([]byte, headerLen)
	ack[0], ack[1], ack[2], ack[3] = magic[0], magic[1], Version, byte(typeAck)
	d.receive(ack)
	for _, b := range [][]byte{nil, {1}, {1, 2, 3}} {
		d.receive(b)
	}
	st := d.Stats()
	require.EqualValues(t, 1, st.Ignored, "the acknowledgement")
	require.EqualValues(t, 3, st.Short)
	require.Equal(t, tr.drops, st.Transport)
	require.Zero(t, d.ReceiverStats().DropMalformed, "the receiving half never saw them")
}

// EthernetTransport.Drops counts frames of another EtherType, from
// another MAC, or too short for a header.
func TestEthernetTransportDrops(t *testing.T) {
	seg := simnet.New(nil)
	me, peer := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	a, b := seg.Attach("a", me), seg.Attach("b", peer)
	tr := NewEthernetTransport(a, me, peer, 0)
	frame := func(src net.HardwareAddr, etherType uint16) []byte {
		f := append(append([]byte{}, me...), src...)
		return append(f, byte(etherType>>8), byte(etherType), 1, 2, 3)
	}
	for _, f := range [][]byte{frame(peer, 0x0800), frame(net.HardwareAddr{2, 0, 0, 0, 0, 9}, EtherType), frame(peer, EtherType)} {
		_, err := b.WriteTo(f, nil)
		require.NoError(t, err)
	}
	buf := make([]byte, 100)
	n, _, err := tr.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, []byte{1, 2, 3}, buf[:n])
	tr.payload([]byte{1, 2}) // simnet carries no runts
	require.Equal(t, TransportDrops{OtherType: 1, OtherSource: 1, Short: 1}, tr.Drops())
}
