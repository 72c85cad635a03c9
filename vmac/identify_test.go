package vmac

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIdentify(t *testing.T) {
	tests := []struct {
		mac  string
		want Identity
		ok   bool
	}{
		{"10:00:00:c1:4a:16", Identity{Scheme: SchemeNetDefend, Cluster: 5, Index: 2}, true},
		{"00:09:0f:09:58:02", Identity{Scheme: SchemeFortiGate, Cluster: 88, VCluster: 1, Index: 2}, true},
		{"e0:23:ff:fc:00:02", Identity{Scheme: SchemeFortiGate, Cluster: 256, VCluster: 1, Index: 2}, true},
		{"e0:23:ff:fe:ff:81", Identity{Scheme: SchemeFortiGate, Cluster: 1023, VCluster: 2, Index: 1}, true},
		{"00:00:5e:00:01:01", Identity{Scheme: SchemeVRRP, Cluster: 1}, true},
		{"00:00:5e:00:02:c8", Identity{Scheme: SchemeVRRPv6, Cluster: 200}, true},
		{"02:00:00:86:a0:03", Identity{Scheme: SchemeLocal, Cluster: 0x86a0, Index: 3}, true},
		{"02:00:01:86:a0:03", Identity{}, false}, // not from a 16-bit cluster ID
		{"00:00:5e:00:01:00", Identity{}, false}, // VRID 0 is not valid
		{"e0:23:ff:fb:00:00", Identity{}, false},
		{"e0:23:ff:ff:00:00", Identity{}, false},
		{"52:54:00:12:34:56", Identity{}, false},
		{"ff:ff:ff:ff:ff:ff", Identity{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.mac, func(t *testing.T) {
			mac, err := net.ParseMAC(tt.mac)
			require.NoError(t, err)
			id, ok := Identify(mac)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, id)
			if ok {
				back, err := id.MAC()
				require.NoError(t, err)
				require.Equal(t, tt.mac, back.String())
			}
		})
	}
	_, ok := Identify(net.HardwareAddr{1, 2, 3})
	require.False(t, ok)
	_, err := Identity{}.MAC()
	require.ErrorIs(t, err, ErrInvalid)
	_, err = Identity{Scheme: SchemeVRRP, Cluster: 1 << 15}.MAC()
	require.ErrorIs(t, err, ErrOutOfRange)
	require.Equal(t, "fortigate", SchemeFortiGate.String())
	require.Equal(t, "Scheme(0)", Scheme(0).String())
}

// TestIdentifyRoundTrip: every address every scheme derives identifies as
// the inputs that derived it (the naive second implementation checks the
// first).
func TestIdentifyRoundTrip(t *testing.T) {
	check := func(want Identity) {
		t.Helper()
		mac, err := want.MAC()
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		got, ok := Identify(mac)
		if !ok || got != want {
			t.Fatalf("%v: Identify = %+v, %v; want %+v", mac, got, ok, want)
		}
	}
	for c := range uint16(NetDefendMaxCluster + 1) {
		for p := range NetDefendMaxPort + 1 {
			check(Identity{Scheme: SchemeNetDefend, Cluster: c, Index: p})
		}
	}
	for g := range uint16(FortiGateMaxGroup + 1) {
		for vc := 1; vc <= 2; vc++ {
			for _, i := range []int{0, 1, 63, FortiGateMaxIndex} {
				check(Identity{Scheme: SchemeFortiGate, Cluster: g, VCluster: vc, Index: i})
			}
		}
	}
	for v := uint16(1); v <= 255; v++ {
		check(Identity{Scheme: SchemeVRRP, Cluster: v})
		check(Identity{Scheme: SchemeVRRPv6, Cluster: v})
	}
	for _, c := range []uint16{0, 1, 1 << 15, 0xffff} {
		for i := range 256 {
			check(Identity{Scheme: SchemeLocal, Cluster: c, Index: i})
		}
	}
}

func FuzzIdentify(f *testing.F) {
	f.Add([]byte{0x10, 0, 0, 0xc1, 0x4a, 0x16})
	f.Add([]byte{0xe0, 0x23, 0xff, 0xfd, 0x01, 0x85})
	f.Add([]byte{0, 0, 0x5e, 0, 2, 9})
	f.Add([]byte{2, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ok := Identify(b)
		if !ok {
			return
		}
		mac, err := id.MAC()
		if err != nil {
			t.Fatalf("%x identified as %+v, which does not derive: %v", b, id, err)
		}
		if string(mac) != string(b) {
			t.Fatalf("%x identified as %+v, which derives %v", b, id, mac)
		}
	})
}
