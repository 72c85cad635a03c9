package main

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBridgeFlags(t *testing.T) {
	base := []string{"-unit-id", "1", "-iface", "eth2", "-insecure-no-auth"}
	c, err := parseConfig(append(base, "-bridge", "br0=eth0,eth1", "-bridge", "br1=eth3,eth4", "-bridge-probe-interval", "20ms"), &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []bridgePorts{{"br0", [2]string{"eth0", "eth1"}}, {"br1", [2]string{"eth3", "eth4"}}}, c.Bridges)
	require.Equal(t, []string{"eth0", "eth1", "eth3", "eth4"}, c.bridgePorts())
	require.Equal(t, 20*time.Millisecond, c.BridgeProbe)

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no ports", []string{"-bridge", "br0"}, "BRIDGE=PORT0,PORT1"},
		{"one port", []string{"-bridge", "br0=eth0"}, "BRIDGE=PORT0,PORT1"},
		{"same port", []string{"-bridge", "br0=eth0,eth0"}, "BRIDGE=PORT0,PORT1"},
		{"three ports", []string{"-bridge", "br0=eth0,eth1,eth3"}, "BRIDGE=PORT0,PORT1"},
		{"port twice", []string{"-bridge", "br0=eth0,eth1", "-bridge", "br1=eth1,eth3"}, "twice"},
		{"heartbeats on a port", []string{"-bridge", "br0=eth2,eth1"}, "link of their own"},
		{"probe interval", []string{"-bridge", "br0=eth0,eth1", "-bridge-probe-interval", "0s"}, "-bridge-probe-interval"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(append(append([]string{}, base...), tt.args...), &bytes.Buffer{})
			require.ErrorIs(t, err, errConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestBridgeFileKey(t *testing.T) {
	path := t.TempDir() + "/hanode.toml"
	require.NoError(t, os.WriteFile(path, []byte("unit-id = 1\niface = [\"eth2\"]\ninsecure-no-auth = true\nbridge = [\"br0=eth0,eth1\"]\nbridge-probe-interval = \"5ms\"\n"), 0o600))
	c, err := parseConfig([]string{"-config", path}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []bridgePorts{{"br0", [2]string{"eth0", "eth1"}}}, c.Bridges)
	require.Equal(t, 5*time.Millisecond, c.BridgeProbe)
}
