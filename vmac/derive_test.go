package vmac

import (
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDerive(t *testing.T) {
	tests := []struct {
		name string
		mac  func() (net.HardwareAddr, error)
		want string // "" means ErrOutOfRange
	}{
		// NetDefendOS: nn = clusterID<<2 | port.
		{"netdefend 0/0", func() (net.HardwareAddr, error) { return NetDefendMAC(0, 0) }, "10:00:00:c1:4a:00"},
		{"netdefend 1/0", func() (net.HardwareAddr, error) { return NetDefendMAC(1, 0) }, "10:00:00:c1:4a:04"},
		{"netdefend 1/3", func() (net.HardwareAddr, error) { return NetDefendMAC(1, 3) }, "10:00:00:c1:4a:07"},
		{"netdefend 63/3", func() (net.HardwareAddr, error) { return NetDefendMAC(63, 3) }, "10:00:00:c1:4a:ff"},
		{"netdefend cluster 64", func() (net.HardwareAddr, error) { return NetDefendMAC(64, 0) }, ""},
		{"netdefend cluster 65535", func() (net.HardwareAddr, error) { return NetDefendMAC(65535, 0) }, ""},
		{"netdefend port 4", func() (net.HardwareAddr, error) { return NetDefendMAC(0, 4) }, ""},
		{"netdefend port -1", func() (net.HardwareAddr, error) { return NetDefendMAC(0, -1) }, ""},

		// FortiGate: values from Fortinet's documentation.
		{"forti group 0 vc1 port1", func() (net.HardwareAddr, error) { return FortiGateMAC(0, 1, 0) }, "00:09:0f:09:00:00"},
		{"forti group 88 idx 0", func() (net.HardwareAddr, error) { return FortiGateMAC(88, 1, 0) }, "00:09:0f:09:58:00"},
		{"forti group 88 idx 2", func() (net.HardwareAddr, error) { return FortiGateMAC(88, 1, 2) }, "00:09:0f:09:58:02"},
		{"forti group 255 idx 2", func() (net.HardwareAddr, error) { return FortiGateMAC(255, 1, 2) }, "00:09:0f:09:ff:02"},
		{"forti group 256 idx 2", func() (net.HardwareAddr, error) { return FortiGateMAC(256, 1, 2) }, "e0:23:ff:fc:00:02"},
		{"forti group 511", func() (net.HardwareAddr, error) { return FortiGateMAC(511, 1, 0) }, "e0:23:ff:fc:ff:00"},
		{"forti group 512", func() (net.HardwareAddr, error) { return FortiGateMAC(512, 1, 0) }, "e0:23:ff:fd:00:00"},
		{"forti group 767", func() (net.HardwareAddr, error) { return FortiGateMAC(767, 1, 1) }, "e0:23:ff:fd:ff:01"},
		{"forti group 768", func() (net.HardwareAddr, error) { return FortiGateMAC(768, 1, 0) }, "e0:23:ff:fe:00:00"},
		{"forti group 1023 idx 127", func() (net.HardwareAddr, error) { return FortiGateMAC(1023, 1, 127) }, "e0:23:ff:fe:ff:7f"},
		{"forti vcluster 2", func() (net.HardwareAddr, error) { return FortiGateMAC(0, 2, 0) }, "00:09:0f:09:00:80"},
		{"forti vcluster 2 idx 3", func() (net.HardwareAddr, error) { return FortiGateMAC(10, 2, 3) }, "00:09:0f:09:0a:83"},
		{"forti group 1024", func() (net.HardwareAddr, error) { return FortiGateMAC(1024, 1, 0) }, ""},
		{"forti group 65535", func() (net.HardwareAddr, error) { return FortiGateMAC(65535, 1, 0) }, ""},
		{"forti vcluster 0", func() (net.HardwareAddr, error) { return FortiGateMAC(0, 0, 0) }, ""},
		{"forti vcluster 3", func() (net.HardwareAddr, error) { return FortiGateMAC(0, 3, 0) }, ""},
		{"forti idx 128", func() (net.HardwareAddr, error) { return FortiGateMAC(0, 1, 128) }, ""},
		{"forti idx -1", func() (net.HardwareAddr, error) { return FortiGateMAC(0, 1, -1) }, ""},

		// VRRP / CARP, RFC 5798.
		{"vrrp 1", func() (net.HardwareAddr, error) { return VRRPMAC(1) }, "00:00:5e:00:01:01"},
		{"vrrp 10", func() (net.HardwareAddr, error) { return VRRPMAC(10) }, "00:00:5e:00:01:0a"},
		{"vrrp 200", func() (net.HardwareAddr, error) { return VRRPMAC(200) }, "00:00:5e:00:01:c8"},
		{"vrrp 255", func() (net.HardwareAddr, error) { return VRRPMAC(255) }, "00:00:5e:00:01:ff"},
		{"vrrp 0", func() (net.HardwareAddr, error) { return VRRPMAC(0) }, ""},
		{"vrrp 256", func() (net.HardwareAddr, error) { return VRRPMAC(256) }, ""},
		{"vrrp6 1", func() (net.HardwareAddr, error) { return VRRPv6MAC(1) }, "00:00:5e:00:02:01"},
		{"vrrp6 255", func() (net.HardwareAddr, error) { return VRRPv6MAC(255) }, "00:00:5e:00:02:ff"},
		{"vrrp6 0", func() (net.HardwareAddr, error) { return VRRPv6MAC(0) }, ""},
		{"vrrp6 256", func() (net.HardwareAddr, error) { return VRRPv6MAC(256) }, ""},

		// Locally administered.
		{"local 0/0", func() (net.HardwareAddr, error) { return LocalMAC(0, 0) }, "02:00:00:00:00:00"},
		{"local 1000/1", func() (net.HardwareAddr, error) { return LocalMAC(1000, 1) }, "02:00:00:03:e8:01"},
		{"local max", func() (net.HardwareAddr, error) { return LocalMAC(0xffff, 255) }, "02:00:00:ff:ff:ff"},
		{"local iface 256", func() (net.HardwareAddr, error) { return LocalMAC(1, 256) }, ""},
		{"local iface -1", func() (net.HardwareAddr, error) { return LocalMAC(1, -1) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mac, err := tt.mac()
			if tt.want == "" {
				require.ErrorIs(t, err, ErrOutOfRange)
				require.Nil(t, mac)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, mac.String())
			requireUnicast(t, mac)
		})
	}
}

func requireUnicast(t *testing.T, mac net.HardwareAddr) {
	t.Helper()
	require.Len(t, mac, 6)
	require.Zero(t, mac[0]&1, "multicast bit set in %v", mac)
}

// TestDeriveExhaustive checks every input each scheme accepts: the result
// is a valid unicast MAC, distinct inputs give distinct addresses, and the
// values just outside the ranges are errors.
func TestDeriveExhaustive(t *testing.T) {
	seen := make(map[string]string)
	add := func(what string, mac net.HardwareAddr, err error) {
		t.Helper()
		// Plain checks: this runs tens of thousands of times.
		if err != nil || len(mac) != 6 || mac[0]&1 != 0 || isZero(mac) {
			t.Fatalf("%s: %v, %v: want a 6-byte non-zero unicast MAC", what, mac, err)
		}
		if prev, dup := seen[string(mac)]; dup {
			t.Fatalf("%s and %s both give %v", prev, what, mac)
		}
		seen[string(mac)] = what
	}
	for c := uint16(0); c <= NetDefendMaxCluster; c++ {
		for p := 0; p <= NetDefendMaxPort; p++ {
			mac, err := NetDefendMAC(c, p)
			add("netdefend", mac, err)
		}
	}
	// Every group with the edge indexes, and every index for the groups at
	// the prefix boundaries.
	for g := uint16(0); g <= FortiGateMaxGroup; g++ {
		idxs := []int{0, 1, FortiGateMaxIndex - 1, FortiGateMaxIndex}
		switch g {
		case 0, 255, 256, 511, 512, 767, 768, 1023:
			idxs = idxs[:0]
			for i := 0; i <= FortiGateMaxIndex; i++ {
				idxs = append(idxs, i)
			}
		}
		for vc := 1; vc <= 2; vc++ {
			for _, i := range idxs {
				mac, err := FortiGateMAC(g, vc, i)
				add("fortigate", mac, err)
			}
		}
	}
	for v := 1; v <= 255; v++ {
		mac, err := VRRPMAC(v)
		add("vrrp", mac, err)
		mac, err = VRRPv6MAC(v)
		add("vrrp6", mac, err)
	}
	for _, c := range []uint16{0, 1, 63, 1023, 1 << 15, 0xffff} {
		for i := 0; i <= 255; i++ {
			mac, err := LocalMAC(c, i)
			add("local", mac, err)
			if mac[0]&3 != 2 {
				t.Fatalf("%v: not locally administered unicast", mac)
			}
		}
	}
	for _, err := range []error{
		second(NetDefendMAC(NetDefendMaxCluster+1, 0)),
		second(NetDefendMAC(0, NetDefendMaxPort+1)),
		second(FortiGateMAC(FortiGateMaxGroup+1, 1, 0)),
		second(FortiGateMAC(0, 1, FortiGateMaxIndex+1)),
		second(VRRPMAC(0)), second(VRRPv6MAC(256)),
		second(LocalMAC(0, 256)),
	} {
		require.True(t, errors.Is(err, ErrOutOfRange), "%v", err)
		require.Contains(t, err.Error(), "vmac: ")
	}
}

func second(_ net.HardwareAddr, err error) error { return err }
