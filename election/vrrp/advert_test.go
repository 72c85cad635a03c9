package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/hakit/hakit"
	"github.com/stretchr/testify/require"
)

var (
	vip4  = netip.MustParseAddr("198.18.0.100")
	vip4b = netip.MustParseAddr("198.18.0.101")
	src4  = netip.MustParseAddr("198.18.0.3")
	peer4 = netip.MustParseAddr("198.18.0.2")
	vipLL = netip.MustParseAddr("fe80::100")
	vip6  = netip.MustParseAddr("2001:db8::100")
	src6  = netip.MustParseAddr("fe80::3")
)

func testAdvert4() Advertisement {
	return Advertisement{Version: 3, Type: 1, VRID: 51, Priority: 100, MaxAdvertInterval: 100,
		Addrs: []netip.Addr{vip4}}
}

// naiveChecksum is a second, byte-level implementation: it builds the
// pseudo-header as bytes, the way keepalived lays out its ipv4_phdr_t and
// RFC 8200 section 8.1 lays out IPv6's, and sums the message with its
// checksum field zeroed.
func naiveChecksum(msg []byte, f ChecksumForm, src, dst netip.Addr) uint16 {
	var buf []byte
	if src.Is4() && f == ChecksumPseudoHeader {
		s, d := src.As4(), dst.As4()
		buf = append(buf, s[:]...)
		buf = append(buf, d[:]...)
		buf = append(buf, 0, Protocol)
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(msg)))
	} else if src.Is6() {
		s, d := src.As16(), dst.As16()
		buf = append(buf, s[:]...)
		buf = append(buf, d[:]...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(msg)))
		buf = append(buf, 0, 0, 0, Protocol)
	}
	m := bytes.Clone(msg)
	m[6], m[7] = 0, 0
	buf = append(buf, m...)
	if len(buf)%2 == 1 {
		buf = append(buf, 0)
	}
	var s uint32
	for i := 0; i < len(buf); i += 2 {
		s += uint32(buf[i])<<8 | uint32(buf[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func TestAdvertisementEncoding(t *testing.T) {
	a := testAdvert4()
	a.Checksum = 0xbeef
	b, err := a.MarshalBinary()
	require.NoError(t, err)
	// Version 3, type 1; VRID 51; priority 100; one address; interval 100
	// cs (1 s) in the low 12 bits; the checksum as set; the address.
	require.Equal(t, []byte{0x31, 51, 100, 1, 0x00, 100, 0xbe, 0xef, 198, 18, 0, 100}, b)
	require.Equal(t, len(b), a.Len())

	six := Advertisement{Version: 3, Type: 1, VRID: 1, Priority: 255, MaxAdvertInterval: 4095,
		Reserved: 0xf, Addrs: []netip.Addr{vipLL, vip6}}
	b, err = six.MarshalBinary()
	require.NoError(t, err)
	require.Len(t, b, 8+32)
	require.Equal(t, []byte{0x31, 1, 255, 2, 0xff, 0xff}, b[:6])

	var got Advertisement
	require.NoError(t, got.UnmarshalBinary(b))
	require.Equal(t, six, got)
	require.True(t, got.Is6())
	require.Equal(t, 40950*1e6, float64(got.Interval()))
}

func TestAdvertisementMarshalErrors(t *testing.T) {
	for name, tt := range map[string]struct {
		mod  func(*Advertisement)
		want error
	}{
		"version 2":     {func(a *Advertisement) { a.Version = 2 }, ErrVersion},
		"zero value":    {func(a *Advertisement) { *a = Advertisement{} }, ErrVersion},
		"type 16":       {func(a *Advertisement) { a.Type = 16 }, ErrMalformed},
		"reserved 16":   {func(a *Advertisement) { a.Reserved = 16 }, ErrMalformed},
		"interval 4096": {func(a *Advertisement) { a.MaxAdvertInterval = 4096 }, ErrMalformed},
		"no address":    {func(a *Advertisement) { a.Addrs = nil }, ErrMalformed},
		"256 addresses": {func(a *Advertisement) { a.Addrs = make([]netip.Addr, 256); fill(a.Addrs, vip4) }, ErrMalformed},
		"mixed":         {func(a *Advertisement) { a.Addrs = []netip.Addr{vip4, vip6} }, ErrMalformed},
		"invalid":       {func(a *Advertisement) { a.Addrs = []netip.Addr{{}} }, ErrMalformed},
		"4in6":          {func(a *Advertisement) { a.Addrs = []netip.Addr{netip.MustParseAddr("::ffff:1.2.3.4")} }, ErrMalformed},
		"zone":          {func(a *Advertisement) { a.Addrs = []netip.Addr{vipLL.WithZone("eth0")} }, ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			a := testAdvert4()
			tt.mod(&a)
			_, err := a.MarshalBinary()
			require.ErrorIs(t, err, tt.want)
			b, err := a.AppendBinary([]byte{7})
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, []byte{7}, b, "on error AppendBinary returns b as it was")
		})
	}
}

func fill(s []netip.Addr, a netip.Addr) {
	for i := range s {
		s[i] = a
	}
}

func TestAdvertisementUnmarshalErrors(t *testing.T) {
	good, err := (&Advertisement{Version: 3, Type: 1, VRID: 51, Priority: 100, MaxAdvertInterval: 100,
		Addrs: []netip.Addr{vip4, vip4b}}).MarshalBinary()
	require.NoError(t, err)
	mapped := append(bytes.Clone(good[:8]), netip.MustParseAddr("::ffff:198.18.0.1").AsSlice()...)
	mapped[3] = 1
	for name, tt := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":               {nil, io.ErrUnexpectedEOF},
		"header cut":          {good[:7], io.ErrUnexpectedEOF},
		"address cut":         {good[:len(good)-1], io.ErrUnexpectedEOF},
		"version 2":           {append([]byte{0x21}, good[1:]...), ErrVersion},
		"count 0":             {append(append(bytes.Clone(good[:3]), 0), good[4:8]...), ErrMalformed},
		"length fits neither": {append(bytes.Clone(good), 1, 2, 3, 4), ErrMalformed},
		"ipv4-mapped":         {mapped, ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			a := testAdvert4()
			before := a
			before.Addrs = []netip.Addr{vip4}
			err := a.UnmarshalBinary(tt.b)
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, before, a, "on error the value is unchanged")
		})
	}
}

func TestAdvertisementUnmarshalKeepsWireFields(t *testing.T) {
	// An unknown type, reserved bits set and a zero interval decode as they
	// are: dropping them is the Machine's job, and re-encoding them gives
	// the same bytes (the checksum is over those bytes).
	in := []byte{0x3f, 7, 0, 1, 0xa0, 0, 0x12, 0x34, 198, 18, 0, 1}
	var a Advertisement
	require.NoError(t, a.UnmarshalBinary(in))
	require.Equal(t, Advertisement{Version: 3, Type: 15, VRID: 7, Reserved: 0xa, Checksum: 0x1234,
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.1")}}, a)
	out, err := a.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, in, out)
}

func TestChecksumForms(t *testing.T) {
	a4 := testAdvert4()
	a6 := Advertisement{Version: 3, Type: 1, VRID: 51, Priority: 100, MaxAdvertInterval: 100,
		Addrs: []netip.Addr{vipLL, vip6}}
	for _, tt := range []struct {
		name     string
		a        Advertisement
		src, dst netip.Addr
		form     ChecksumForm
		want     ChecksumForm // what Verify reports
	}{
		{"ipv4 multicast pseudo-header", a4, src4, GroupIPv4, ChecksumPseudoHeader, ChecksumPseudoHeader},
		{"ipv4 multicast message-only", a4, src4, GroupIPv4, ChecksumMessageOnly, ChecksumMessageOnly},
		{"ipv4 unicast pseudo-header", a4, src4, peer4, ChecksumPseudoHeader, ChecksumPseudoHeader},
		{"ipv4 unicast message-only", a4, src4, peer4, ChecksumMessageOnly, ChecksumMessageOnly},
		{"ipv6 multicast", a6, src6, GroupIPv6, ChecksumPseudoHeader, ChecksumPseudoHeader},
		{"ipv6 message-only is the pseudo-header", a6, src6, GroupIPv6, ChecksumMessageOnly, ChecksumPseudoHeader},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.a
			a.Addrs = append([]netip.Addr(nil), tt.a.Addrs...)
			require.NoError(t, a.Seal(tt.form, tt.src, tt.dst))
			b, err := a.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, naiveChecksum(b, tt.form, tt.src, tt.dst), a.Checksum, "the byte-level oracle agrees")
			form, err := a.Verify(tt.src, tt.dst)
			require.NoError(t, err)
			require.Equal(t, tt.want, form)

			// Another destination (pseudo-header) or any flipped bit fails.
			if tt.want == ChecksumPseudoHeader {
				other := GroupIPv4
				if a.Is6() {
					other = netip.MustParseAddr("fe80::9")
				} else if tt.dst == GroupIPv4 {
					other = peer4
				}
				_, err = a.Verify(tt.src, other)
				require.ErrorIs(t, err, ErrChecksum)
			}
			c := a
			c.Priority ^= 1
			_, err = c.Verify(tt.src, tt.dst)
			require.ErrorIs(t, err, ErrChecksum)
		})
	}
}

func TestChecksumArguments(t *testing.T) {
	a := testAdvert4()
	require.ErrorIs(t, a.Seal(0, src4, GroupIPv4), hakit.ErrConfig)
	require.ErrorIs(t, a.Seal(ChecksumPseudoHeader, src6, GroupIPv4), ErrMalformed)
	require.ErrorIs(t, a.Seal(ChecksumPseudoHeader, src4, netip.Addr{}), ErrMalformed)
	_, err := a.Verify(src4, GroupIPv6)
	require.ErrorIs(t, err, ErrMalformed)
	a.Version = 2
	require.ErrorIs(t, a.Seal(ChecksumPseudoHeader, src4, GroupIPv4), ErrVersion)
}

// TestChecksumKeepalived checks the pseudo-header form against an
// advertisement as keepalived 2.2.7 builds it (vrrp_build_vrrp_v3): VRID
// 51, priority 100, advert_int 1, one address, from 198.18.0.3 to the
// group. Its checksum, summed here word by word as keepalived's
// ipv4_phdr_t lays the pseudo-header out, is 0xfd4b; without the
// pseudo-header (RFC 9568) it is 0xa3f0. The oracle and Seal agree.
func TestChecksumKeepalived(t *testing.T) {
	msg := []byte{0x31, 51, 100, 1, 0x00, 100, 0, 0, 198, 18, 0, 100}
	// The pseudo-header: 198.18.0.3, 224.0.0.18, 0, 112, length 12.
	words := []uint32{0xc612, 0x0003, 0xe000, 0x0012, 112, 12, // 198.18 .0.3 224.0 .0.18, protocol, length
		0x3133, 0x6401, 0x0064, 0, 0xc612, 0x0064} // the message, checksum zero
	var s uint32
	for _, w := range words {
		s += w
	}
	want := ^uint16(s&0xffff + s>>16)
	require.Equal(t, uint16(0xfd4b), want)
	require.Equal(t, want, naiveChecksum(msg, ChecksumPseudoHeader, src4, GroupIPv4))
	a := testAdvert4()
	require.NoError(t, a.Seal(ChecksumPseudoHeader, src4, GroupIPv4))
	require.Equal(t, want, a.Checksum)
	require.NoError(t, a.Seal(ChecksumMessageOnly, src4, GroupIPv4))
	require.Equal(t, uint16(0xa3f0), a.Checksum)
	require.Equal(t, a.Checksum, naiveChecksum(msg, ChecksumMessageOnly, src4, GroupIPv4))
}

func TestAppendBinaryAllocs(t *testing.T) {
	a := testAdvert4()
	require.NoError(t, a.Seal(ChecksumPseudoHeader, src4, GroupIPv4))
	buf := make([]byte, 0, MaxLen)
	var got Advertisement
	got.Addrs = make([]netip.Addr, 0, MaxAddrs)
	n := testing.AllocsPerRun(100, func() {
		b, _ := a.AppendBinary(buf[:0])
		_ = got.UnmarshalBinary(b)
		_ = a.Seal(ChecksumMessageOnly, src4, GroupIPv4)
		_, _ = got.Verify(src4, GroupIPv4)
	})
	require.Zero(t, n)
}

func FuzzAdvertisement(f *testing.F) {
	for _, a := range []Advertisement{
		testAdvert4(),
		{Version: 3, Type: 1, VRID: 1, Priority: 255, MaxAdvertInterval: 4095, Addrs: []netip.Addr{vipLL, vip6}},
		{Version: 3, Type: 9, VRID: 0, Reserved: 3, Addrs: []netip.Addr{vip4, vip4b}},
	} {
		b, err := a.MarshalBinary()
		require.NoError(f, err)
		f.Add(b, src4.AsSlice(), GroupIPv4.AsSlice())
		f.Add(b, src6.AsSlice(), GroupIPv6.AsSlice())
	}
	f.Add([]byte{0x31}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, in, srcb, dstb []byte) {
		var a Advertisement
		if err := a.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// The round-trip oracle: unmarshal → marshal gives the input back;
		// unmarshal again → the same value; marshal again → the same bytes.
		b, err := a.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal of a decoded %x: %v", in, err)
		}
		require.Equal(t, in, b)
		var g Advertisement
		require.NoError(t, g.UnmarshalBinary(b))
		require.Equal(t, a, g)
		b2, err := g.MarshalBinary()
		require.NoError(t, err)
		require.True(t, bytes.Equal(b, b2))

		// Verify never panics, and when it accepts, the byte-level oracle
		// agrees that the form it reports is right.
		src, ok1 := netip.AddrFromSlice(srcb)
		dst, ok2 := netip.AddrFromSlice(dstb)
		if !ok1 || !ok2 {
			return
		}
		form, err := a.Verify(src, dst)
		if err != nil {
			return
		}
		want := naiveChecksum(b, form, src, dst)
		require.Equal(t, want, a.Checksum, "Verify accepted %v, the oracle disagrees", form)
	})
}

func BenchmarkAdvertisement(b *testing.B) {
	a := testAdvert4()
	buf := make([]byte, 0, MaxLen)
	enc, _ := a.MarshalBinary()
	var got Advertisement
	got.Addrs = make([]netip.Addr, 0, MaxAddrs)
	b.Run("AppendBinary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = a.AppendBinary(buf[:0])
		}
	})
	b.Run("UnmarshalBinary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = got.UnmarshalBinary(enc)
		}
	})
	b.Run("Seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = a.Seal(ChecksumPseudoHeader, src4, GroupIPv4)
		}
	})
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		_ = a.Seal(ChecksumMessageOnly, src4, GroupIPv4)
		for b.Loop() {
			_, _ = a.Verify(src4, GroupIPv4)
		}
	})
}
