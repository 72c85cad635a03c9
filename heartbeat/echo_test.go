package heartbeat

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func testEcho() Echo {
	return Echo{Op: EchoRequest, ClusterID: 7, ClusterTag: 0xC0FFEE01, UnitID: 1, Interface: 1, Epoch: 1_700_000_000_000_000_000, Seq: 42}
}

func TestEchoRoundTrip(t *testing.T) {
	for _, e := range []Echo{
		testEcho(),
		{Op: EchoReply, ClusterID: 7, UnitID: 2, To: 1, Epoch: 5, Seq: 1},
		{Op: EchoReply, ClusterID: 65535, UnitID: 65535, To: 65535, Interface: 65535, Epoch: 1<<64 - 1, Seq: 1<<64 - 1, KeyID: 255, Tag: [TagLen]byte{1, 2, 3}},
	} {
		b, err := e.MarshalBinary()
		require.NoError(t, err)
		require.Len(t, b, e.Len())
		var g Echo
		require.NoError(t, g.UnmarshalBinary(b))
		require.Equal(t, e, g)
		// Ethernet padding is accepted.
		require.NoError(t, g.UnmarshalBinary(append(bytes.Clone(b), make([]byte, max(MinEthernetPayload-len(b), 0))...)))
		require.Equal(t, e, g)
		require.True(t, isEcho(b))
	}
}

func TestEchoErrors(t *testing.T) {
	good, err := (&Echo{Op: EchoRequest, ClusterID: 7, UnitID: 1, Seq: 1}).MarshalBinary()
	require.NoError(t, err)
	set := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"short", good[:EchoLen-1], io.ErrUnexpectedEOF},
		{"short tag", set(2, 1), io.ErrUnexpectedEOF},
		{"version", set(0, echoMark|3), ErrVersion},
		{"version 1", set(0, echoMark|1), ErrVersion},
		{"frame version", set(0, Version), ErrVersion},
		{"operation 0", set(1, 0), ErrMalformed},
		{"operation 3", set(1, 3), ErrMalformed},
		{"reserved", set(3, 1), ErrMalformed},
		{"unit 0", append(set(6, 0)[:7:7], set(7, 0)[7:]...), ErrMalformed},
		{"request to a unit", set(9, 2), ErrMalformed},
		{"reply to unit 0", set(1, byte(EchoReply)), ErrMalformed},
		{"padding not zero", append(bytes.Clone(good), 0, 1), ErrMalformed},
		{"too long", append(bytes.Clone(good), make([]byte, 40)...), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEcho()
			before := e
			require.ErrorIs(t, e.UnmarshalBinary(tt.b), tt.want)
			require.Equal(t, before, e, "unchanged on error")
		})
	}
	_, err = (&Echo{Op: EchoRequest, UnitID: 0}).MarshalBinary()
	require.ErrorIs(t, err, ErrMalformed)
}

// TestEchoSealing: echoes are sealed and verified like frames, and a tag of
// one never verifies the other.
func TestEchoSealing(t *testing.T) {
	k := testKeyring(t)
	e := testEcho()
	b, err := k.SealEcho(nil, &e)
	require.NoError(t, err)
	require.Len(t, b, EchoLen+TagLen)
	require.NoError(t, k.VerifyEcho(b))
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 1
		require.Error(t, k.VerifyEcho(c), "byte %d", i)
	}
	require.Error(t, k.Verify(b), "an echo is not a frame")
	f := testFrame()
	fb, err := k.Seal(nil, &f)
	require.NoError(t, err)
	require.Error(t, k.VerifyEcho(fb), "a frame is not an echo")
	plain, _ := (&Echo{Op: EchoRequest, ClusterID: 7, UnitID: 1}).MarshalBinary()
	require.ErrorIs(t, k.VerifyEcho(plain), ErrAuth)
	other := testKeyring(t, hakit.Key{ID: 1, Secret: []byte("another-secret-k")})
	require.ErrorIs(t, other.VerifyEcho(b), ErrAuth)
}

func FuzzEchoRoundTrip(f *testing.F) {
	f.Add(uint8(1), uint16(7), uint16(1), uint16(0), uint16(0), uint64(1), uint64(2), uint8(0), []byte{}, uint32(0))
	f.Add(uint8(2), uint16(7), uint16(2), uint16(1), uint16(3), uint64(0), uint64(9), uint8(4), []byte{1, 2}, uint32(0xC0FFEE01))
	f.Fuzz(func(t *testing.T, op uint8, cluster, unit, to, ifc uint16, epoch, seq uint64, keyID uint8, tag []byte, ctag uint32) {
		e := Echo{Op: EchoOp(op), ClusterID: cluster, ClusterTag: ctag, UnitID: unit, To: to, Interface: ifc, Epoch: epoch, Seq: seq, KeyID: keyID}
		if keyID != 0 {
			copy(e.Tag[:], tag)
		}
		b, err := e.MarshalBinary()
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		var g Echo
		require.NoError(t, g.UnmarshalBinary(b))
		require.Equal(t, e, g)
		b2, err := g.MarshalBinary()
		require.NoError(t, err)
		require.True(t, bytes.Equal(b, b2))
	})
}

func FuzzEchoUnmarshal(f *testing.F) {
	e := testEcho()
	b, _ := e.MarshalBinary()
	f.Add(b)
	k := testKeyring(f)
	sealed, _ := k.SealEcho(nil, &e)
	f.Add(sealed)
	f.Add([]byte{echoMark | EchoVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Echo
		err := g.UnmarshalBinary(b)
		verr := k.VerifyEcho(b)
		if err != nil {
			require.Error(t, verr, "verified an echo that does not decode")
			return
		}
		out, err := g.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, b[:len(out)], out)
		if verr == nil && g.KeyID == 0 {
			t.Fatal("verified an unauthenticated echo")
		}
	})
}

func BenchmarkEchoAppend(b *testing.B) {
	k := testKeyring(b)
	e := testEcho()
	buf := make([]byte, 0, EchoLen+TagLen)
	var g Echo
	b.ReportAllocs()
	for b.Loop() {
		out, err := k.SealEcho(buf[:0], &e)
		if err != nil {
			b.Fatal(err)
		}
		if err := k.VerifyEcho(out); err != nil {
			b.Fatal(err)
		}
		if err := g.UnmarshalBinary(out); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMachineEcho: a Machine answers an echo request once, and takes a
// reply only for a request it sent and still awaits.
func TestMachineEcho(t *testing.T) {
	cfg := earlyConfig()
	cfg.Keys = testRing(t)
	cfg.Epoch = 10
	a, err := NewMachine(&cfg, Interface{Name: "eth0"})
	require.NoError(t, err)
	cfg.UnitID, cfg.Epoch = 2, 20
	b, err := NewMachine(&cfg, Interface{Name: "eth0"})
	require.NoError(t, err)
	knows(a, b)
	knows(b, a)
	now := time.Unix(1000, 0)
	_, err = a.Receive(now, "eth0", b.Tick(now).Frames[0].Data)
	require.NoError(t, err)
	_, err = b.Receive(now, "eth0", a.Tick(now).Frames[0].Data)
	require.NoError(t, err)

	// b falls silent: a suspects it and sends echo requests.
	later := now.Add(200 * ms)
	out := a.Tick(later)
	require.Equal(t, []string{"eth0:suspect"}, states(out.Reports))
	var reqs [][]byte
	for _, f := range out.Frames {
		if f.Echo {
			reqs = append(reqs, f.Data)
		}
	}
	require.Len(t, reqs, echoFirst)
	require.Equal(t, uint64(echoFirst), a.Counters().EchoRequests)

	// b answers the first request, once.
	rb, err := b.Receive(later, "eth0", reqs[0])
	require.NoError(t, err)
	require.Len(t, rb.Frames, 1)
	reply := rb.Frames[0].Data
	require.True(t, rb.Frames[0].Echo)
	_, err = b.Receive(later, "eth0", reqs[0])
	require.ErrorIs(t, err, ErrReplay, "a replayed request is not answered")
	require.Equal(t, uint64(1), b.Counters().Dropped.Replay)
	require.Equal(t, uint64(1), b.Counters().EchoAnswered)

	// a takes the reply once: b's daemon is alive, no early verdict.
	_, err = a.Receive(later, "eth0", reply)
	require.NoError(t, err)
	require.Equal(t, uint64(1), a.Counters().EchoReplies)
	_, err = a.Receive(later, "eth0", reply)
	require.ErrorIs(t, err, ErrReplay)
	require.Empty(t, a.Tick(later.Add(25*ms)).Reports, "the peer answered: no early verdict")

	// A reply to a request never sent, or of another start of a.
	forge := func(mod func(*Echo)) []byte {
		var e Echo
		require.NoError(t, e.UnmarshalBinary(reply))
		mod(&e)
		buf, err := NewSealer(cfg.Keys, cfg.EtherType).SealEcho(nil, &e)
		require.NoError(t, err)
		return buf
	}
	_, err = a.Receive(later, "eth0", forge(func(e *Echo) { e.Seq = 9999 }))
	require.ErrorIs(t, err, ErrReplay)
	_, err = a.Receive(later, "eth0", forge(func(e *Echo) { e.Epoch = 9 }))
	require.ErrorIs(t, err, ErrReplay)
	// A reply to another unit is none of a's business.
	_, err = a.Receive(later, "eth0", forge(func(e *Echo) { e.To = 3 }))
	require.NoError(t, err)
	// An echo of a unit never heard is not answered.
	_, err = a.Receive(later, "eth0", forge(func(e *Echo) { e.UnitID, e.To, e.Op = 9, 0, EchoRequest }))
	require.Error(t, err)
	require.Equal(t, uint64(1), a.Counters().Dropped.Unknown)
	require.Equal(t, uint64(3), a.Counters().Dropped.Replay)
}
