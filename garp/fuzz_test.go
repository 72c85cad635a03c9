package garp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse feeds arbitrary frames to Parse and applies the netip-style
// round-trip oracle to whatever it accepts: parse → marshal → parse →
// DeepEqual → marshal → bytes.Equal.
func FuzzParse(f *testing.F) {
	for _, a := range []Announcement{
		{Kind: GARPRequest, MAC: testMAC, Addr: testVIP4},
		{Kind: GARPReply, MAC: testMAC, Addr: testVIP4},
		{Kind: UnsolicitedNA, MAC: testMAC, Addr: testVIP6, Router: true},
		{Kind: Learn, MAC: testMAC},
	} {
		b, err := Marshal(a)
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			return
		}
		m1, err := Marshal(a)
		require.NoError(t, err, "Parse accepted %+v, Marshal refused it", a)
		a2, err := Parse(m1)
		require.NoError(t, err)
		require.Equal(t, a, a2)
		m2, err := Marshal(a2)
		require.NoError(t, err)
		require.True(t, bytes.Equal(m1, m2))
	})
}

// FuzzMarshal builds announcements from arbitrary fields: Marshal either
// refuses them or produces a frame that Parse maps back to the same value,
// and Builder agrees with Marshal.
func FuzzMarshal(f *testing.F) {
	f.Add(uint8(GARPRequest), []byte(testMAC), testVIP4.AsSlice(), false)
	f.Add(uint8(UnsolicitedNA), []byte(testMAC), testVIP6.AsSlice(), true)
	f.Add(uint8(Learn), []byte(testMAC), []byte(nil), false)
	f.Fuzz(func(t *testing.T, kind uint8, mac, ip []byte, router bool) {
		addr, _ := netip.AddrFromSlice(ip)
		a := Announcement{Kind: Kind(kind), MAC: net.HardwareAddr(mac), Addr: addr, Router: router}
		m1, err := Marshal(a)
		var bld Builder
		m3, err3 := bld.Append(nil, a)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			require.Error(t, err3)
			return
		}
		require.NoError(t, err3)
		require.Equal(t, m1, m3)
		got, err := Parse(m1)
		require.NoError(t, err)
		require.Equal(t, a, got)
		m2, err := Marshal(got)
		require.NoError(t, err)
		require.True(t, bytes.Equal(m1, m2))
	})
}
