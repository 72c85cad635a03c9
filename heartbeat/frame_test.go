package heartbeat

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func testFrame() Frame {
	return Frame{
		ClusterID:  7,
		UnitID:     1,
		Role:       hakit.Primary,
		Interface:  2,
		Epoch:      1_700_000_000_000_000_000,
		Seq:        42,
		Nonce:      0x0123456789abcdef,
		Echo:       0xfedcba9876543210,
		Interval:   100 * time.Millisecond,
		Addr:       netip.MustParseAddr("198.18.0.1"),
		Payload:    []byte("candidate: prio 200, in sync"),
		ClusterTag: 0xC0FFEE01,
	}
}

// testRing returns a Keyring of keys, or of one test key when none are
// given.
func testRing(t testing.TB, keys ...hakit.Key) *hakit.Keyring {
	t.Helper()
	if len(keys) == 0 {
		keys = []hakit.Key{{ID: 1, Secret: []byte("0123456789abcdef")}}
	}
	k, err := hakit.NewKeyring(keys[0], keys[1:]...)
	require.NoError(t, err)
	return k
}

// testKeyring returns a Sealer of heartbeat frames over testRing(keys).
func testKeyring(t testing.TB, keys ...hakit.Key) *Sealer {
	t.Helper()
	return NewSealer(testRing(t, keys...), DefaultEtherType)
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Frame)
		len  int
	}{
		{"ipv4", func(*Frame) {}, HeaderLen + 4 + 28},
		{"ipv6", func(f *Frame) { f.Addr = netip.MustParseAddr("2001:db8::1") }, HeaderLen + 16 + 28},
		{"no address", func(f *Frame) { f.Addr = netip.Addr{} }, HeaderLen + 28},
		{"no payload", func(f *Frame) { f.Payload = nil }, HeaderLen + 4},
		{"max payload", func(f *Frame) { f.Payload = bytes.Repeat([]byte{0xAA}, MaxPayload) }, HeaderLen + 4 + MaxPayload},
		{"tagged", func(f *Frame) { f.KeyID = 9; f.Tag[0] = 1 }, HeaderLen + 4 + 28 + TagLen},
		{"4in6", func(f *Frame) { f.Addr = netip.MustParseAddr("::ffff:198.18.0.1") }, HeaderLen + 16 + 28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testFrame()
			tt.mod(&f)
			b, err := f.MarshalBinary()
			require.NoError(t, err)
			require.Len(t, b, tt.len)
			require.Equal(t, f.Len(), len(b))
			var g Frame
			require.NoError(t, g.UnmarshalBinary(b))
			require.Equal(t, f, g)
		})
	}
}

func TestFrameMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Frame)
		want error
	}{
		{"zero role", func(f *Frame) { f.Role = 0 }, ErrMalformed},
		{"unknown role", func(f *Frame) { f.Role = 9 }, ErrMalformed},
		{"oversized payload", func(f *Frame) { f.Payload = make([]byte, MaxPayload+1) }, ErrTooLarge},
		{"negative interval", func(f *Frame) { f.Interval = -time.Millisecond }, ErrMalformed},
		{"sub-microsecond interval", func(f *Frame) { f.Interval = 1500 * time.Nanosecond }, ErrMalformed},
		{"huge interval", func(f *Frame) { f.Interval = 2 * time.Hour }, ErrMalformed},
		{"zoned address", func(f *Frame) { f.Addr = netip.MustParseAddr("fe80::1%eth0") }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testFrame()
			tt.mod(&f)
			_, err := f.MarshalBinary()
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestFrameUnmarshalErrors(t *testing.T) {
	f := testFrame()
	good, err := f.MarshalBinary()
	require.NoError(t, err)
	set := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"short header", good[:HeaderLen-1], io.ErrUnexpectedEOF},
		{"short body", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"version 0", set(0, 0), ErrVersion},
		{"version 1", set(0, 1), ErrVersion},
		{"version 2", set(0, 2), ErrVersion},
		{"version 3", set(0, 3), ErrVersion},
		{"version 5", set(0, 5), ErrVersion},
		{"unit 0", set(7, 0), ErrMalformed},
		{"role 0", set(1, 0), ErrMalformed},
		{"address length 5", set(3, 5), ErrMalformed},
		{"payload length 257", append(set(10, 1), make([]byte, 300)...), ErrTooLarge},
		{"trailing bytes", append(bytes.Clone(good), 0), ErrMalformed},
		{"tag missing", set(2, 1), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testFrame()
			before := g
			err := g.UnmarshalBinary(tt.b)
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, before, g, "a failed decode must leave the frame unchanged")
		})
	}
}

func TestFramePadding(t *testing.T) {
	// Since version 3 the shortest frame is longer than the Ethernet
	// minimum payload: it never arrives padded, and a byte after it is
	// malformed.
	f := Frame{ClusterID: 1, UnitID: 2, Role: hakit.Initial, Interval: time.Second}
	b, err := f.MarshalBinary()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), MinEthernetPayload)
	var g Frame
	require.NoError(t, g.UnmarshalBinary(b))
	require.Equal(t, f, g)
	require.ErrorIs(t, g.UnmarshalBinary(append(b, 0)), ErrMalformed)
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	f := testFrame()
	b, err := f.MarshalBinary()
	require.NoError(t, err)
	var g Frame
	require.NoError(t, g.UnmarshalBinary(b))
	for i := range b {
		b[i] = 0xFF
	}
	require.Equal(t, testFrame().Payload, g.Payload)
}

func TestKeyringSealVerify(t *testing.T) {
	old := hakit.Key{ID: 1, Secret: []byte("old-secret-16byt")}
	cur := hakit.Key{ID: 2, Secret: []byte("new-secret-16byt")}
	sender := testKeyring(t, cur)
	f := testFrame()
	b, err := sender.Seal(nil, &f)
	require.NoError(t, err)
	require.Equal(t, uint8(2), f.KeyID)

	// Rotation: a receiver holding both keys accepts; one holding only the
	// old key does not.
	require.NoError(t, testKeyring(t, old, cur).Verify(b))
	require.ErrorIs(t, testKeyring(t, old).Verify(b), ErrAuth)
	// A different secret under the same ID fails.
	require.ErrorIs(t, testKeyring(t, hakit.Key{ID: 2, Secret: []byte("another-secret-x")}).Verify(b), ErrAuth)
	// Another EtherType is authenticated too.
	other := NewSealer(testRing(t, cur), 0x88B5)
	require.ErrorIs(t, other.Verify(b), ErrAuth)
	// An unauthenticated frame fails.
	f.KeyID = 0
	plain, err := f.MarshalBinary()
	require.NoError(t, err)
	require.ErrorIs(t, sender.Verify(plain), ErrAuth)
	// The decoded frame re-encodes to the sealed bytes.
	var g Frame
	require.NoError(t, g.UnmarshalBinary(b))
	again, err := g.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, b, again)
}

func TestEveryByteFlipRejected(t *testing.T) {
	k := testKeyring(t, hakit.Key{ID: 1, Secret: []byte("0123456789abcdef")}, hakit.Key{ID: 2, Secret: []byte("fedcba9876543210")})
	for _, addr := range []string{"198.18.0.1", "2001:db8::1", ""} {
		f := testFrame()
		if addr != "" {
			f.Addr = netip.MustParseAddr(addr)
		} else {
			f.Addr = netip.Addr{}
		}
		b, err := k.Seal(nil, &f)
		require.NoError(t, err)
		require.NoError(t, k.Verify(b))
		for i := range b {
			for x := 1; x < 256; x++ {
				c := bytes.Clone(b)
				c[i] ^= byte(x)
				var g Frame
				if g.UnmarshalBinary(c) == nil && k.Verify(c) == nil {
					t.Fatalf("addr %q: byte %d xor %#x accepted", addr, i, x)
				}
			}
		}
	}
}

func FuzzFrameRoundTrip(f *testing.F) {
	f.Add(uint16(7), uint16(1), uint8(2), uint16(0), uint64(1), uint64(2), uint64(3), uint64(0), uint32(100000), []byte{198, 18, 0, 1}, []byte("x"), uint8(0), []byte{}, uint32(0))
	f.Add(uint16(0), uint16(0), uint8(1), uint16(9), uint64(0), uint64(0), uint64(0), uint64(1<<63), uint32(0), []byte{}, []byte{}, uint8(3), []byte{1, 2, 3}, uint32(0xC0FFEE01))
	f.Fuzz(func(t *testing.T, cluster, unit uint16, role uint8, ifc uint16, epoch, seq, nonce, echo uint64, interval uint32, addr, payload []byte, keyID uint8, tag []byte, ctag uint32) {
		fr := Frame{
			ClusterID: cluster, ClusterTag: ctag, UnitID: unit, Role: hakit.Role(role), Interface: ifc,
			Epoch: epoch, Seq: seq, Nonce: nonce, Echo: echo, Interval: time.Duration(interval) * time.Microsecond,
			KeyID: keyID,
		}
		if a, ok := netip.AddrFromSlice(addr); ok {
			fr.Addr = a
		}
		if len(payload) > 0 {
			fr.Payload = payload
		}
		if keyID != 0 {
			copy(fr.Tag[:], tag)
		}
		b, err := fr.MarshalBinary()
		if err != nil {
			if fr.Role.Valid() && fr.UnitID != 0 && len(payload) <= MaxPayload {
				t.Fatalf("marshal of a valid frame failed: %v", err)
			}
			return
		}
		var g Frame
		if err := g.UnmarshalBinary(b); err != nil {
			t.Fatalf("unmarshal of %x: %v", b, err)
		}
		require.Equal(t, fr, g)
		b2, err := g.MarshalBinary()
		require.NoError(t, err)
		if !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, b2)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	fr := testFrame()
	b, _ := fr.MarshalBinary()
	f.Add(b)
	k := testKeyring(f)
	sealed, _ := k.Seal(nil, &fr)
	f.Add(sealed)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Frame
		err := g.UnmarshalBinary(b)
		verr := k.Verify(b)
		if err != nil {
			if verr == nil {
				t.Fatalf("verified a frame that does not decode: %v", err)
			}
			return
		}
		// A decoded frame re-encodes to its bytes without padding.
		out, err := g.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, b[:len(out)], out)
		if verr == nil && g.KeyID == 0 {
			t.Fatal("verified an unauthenticated frame")
		}
	})
}

func BenchmarkFrame(b *testing.B) {
	k := testKeyring(b)
	f := testFrame()
	buf := make([]byte, 0, MaxFrameLen)
	sealed, err := k.Seal(nil, &f)
	require.NoError(b, err)
	plain := testFrame()
	plainBytes, _ := plain.MarshalBinary()

	b.Run("AppendBinary", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plainBytes)))
		for b.Loop() {
			buf, _ = plain.AppendBinary(buf[:0])
		}
	})
	b.Run("EthernetMarshalBinary", func(b *testing.B) {
		// The same payload length in an mdlayher/ethernet frame, for the ratio.
		ef := ethernet.Frame{
			Destination: GroupMAC(7), Source: SourceMAC(7, 1, hakit.Primary),
			EtherType: DefaultEtherType, Payload: plainBytes,
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(plainBytes)))
		for b.Loop() {
			_, _ = ef.MarshalBinary()
		}
	})
	b.Run("Seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = k.Seal(buf[:0], &f)
		}
	})
	b.Run("UnmarshalBinary", func(b *testing.B) {
		var g Frame
		g.Payload = make([]byte, 0, MaxPayload)
		b.ReportAllocs()
		for b.Loop() {
			_ = g.UnmarshalBinary(sealed)
		}
	})
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := k.Verify(sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestFrameClusterTagOffset: the cluster tag is the last field of the fixed
// header, big endian at offset 32, and the tag covers it.
func TestFrameClusterTagOffset(t *testing.T) {
	f := testFrame()
	b, err := f.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, []byte{0xC0, 0xFF, 0xEE, 0x01}, b[32:36])
	s := testKeyring(t)
	sealed, err := s.Seal(nil, &f)
	require.NoError(t, err)
	require.NoError(t, s.Verify(sealed))
	sealed[35] ^= 1
	require.ErrorIs(t, s.Verify(sealed), ErrAuth, "the cluster tag is authenticated")
}
