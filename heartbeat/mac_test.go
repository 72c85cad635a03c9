package heartbeat

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func TestMACDerivation(t *testing.T) {
	tests := []struct {
		name string
		got  net.HardwareAddr
		want string
	}{
		{"src init", SourceMAC(0x0102, 0x0304, hakit.Initial), "12:c1:01:02:03:04"},
		{"src primary", SourceMAC(7, 1, hakit.Primary), "22:c1:00:07:00:01"},
		{"src secondary", SourceMAC(7, 2, hakit.Secondary), "32:c1:00:07:00:02"},
		{"group", GroupMAC(0xBEEF), "03:c1:4b:00:be:ef"},
		{"dst two units", DestinationMAC(7, Listener{Unit: 2, Role: hakit.Secondary}), "32:c1:00:07:00:02"},
		{"dst three units", DestinationMAC(7, Listener{Unit: 2, Role: hakit.Secondary}, Listener{Unit: 3, Role: hakit.Secondary}), "03:c1:4b:00:00:07"},
		{"dst unknown peers", DestinationMAC(7), "03:c1:4b:00:00:07"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.got.String())
		})
	}
}

func TestMACBits(t *testing.T) {
	for _, r := range []hakit.Role{hakit.Initial, hakit.Primary, hakit.Secondary} {
		for _, c := range []uint16{0, 1, 0xFFFF} {
			src := SourceMAC(c, 0xFFFF, r)
			require.Zero(t, src[0]&0x01, "source must be unicast")
			require.NotZero(t, src[0]&0x02, "source must be locally administered")
		}
	}
	g := GroupMAC(0xFFFF)
	require.NotZero(t, g[0]&0x01, "group must be multicast")
	require.NotZero(t, g[0]&0x02, "group must be locally administered")
	// Distinct roles, units and clusters give distinct sources.
	seen := map[string]bool{}
	for _, r := range []hakit.Role{hakit.Initial, hakit.Primary, hakit.Secondary} {
		for u := uint16(0); u < 4; u++ {
			for c := uint16(0); c < 4; c++ {
				s := SourceMAC(c, u, r).String()
				require.False(t, seen[s], s)
				seen[s] = true
			}
		}
	}
}
