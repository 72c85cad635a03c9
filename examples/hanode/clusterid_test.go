package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/vmac"
)

// TestLocalMACByName: without a name the virtual MAC is vmac.LocalMAC;
// each name gives its own, the same on every unit, locally administered
// unicast, still one per interface.
func TestLocalMACByName(t *testing.T) {
	plain, err := (&config{ClusterID: 7}).localMAC(1)
	require.NoError(t, err)
	want, err := vmac.LocalMAC(7, 1)
	require.NoError(t, err)
	require.Equal(t, want, plain)
	a, err := (&config{ClusterID: 7, ClusterName: "edge-a"}).localMAC(1)
	require.NoError(t, err)
	a2, err := (&config{ClusterID: 7, ClusterName: "edge-a"}).localMAC(1)
	require.NoError(t, err)
	b, err := (&config{ClusterID: 7, ClusterName: "edge-b"}).localMAC(1)
	require.NoError(t, err)
	a0, err := (&config{ClusterID: 7, ClusterName: "edge-a"}).localMAC(0)
	require.NoError(t, err)
	require.Equal(t, a, a2)
	require.NotEqual(t, a, b)
	require.NotEqual(t, a, plain)
	require.NotEqual(t, a, a0)
	require.Equal(t, byte(0x02), a[0]&0x03, "locally administered unicast")
	require.Equal(t, want[3:], a[3:], "cluster ID and interface kept")
}

func TestClusterNameFlag(t *testing.T) {
	var out strings.Builder
	c, err := parseConfig([]string{"-unit-id", "1", "-iface", "eth0", "-insecure-no-auth", "-cluster-name", "edge-a"}, &out)
	require.NoError(t, err)
	require.Equal(t, "edge-a", c.ClusterName)
	require.Equal(t, "edge-a", c.memberConfig().Heartbeat.ClusterName)
	for _, bad := range []string{strings.Repeat("x", 65), "tab\there"} {
		_, err := parseConfig([]string{"-unit-id", "1", "-iface", "eth0", "-insecure-no-auth", "-cluster-name", bad}, &out)
		require.ErrorIs(t, err, errConfig, bad)
	}
}
