package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseActiveActive(t *testing.T) {
	base := []string{"-cluster-id", "7", "-unit-id", "2", "-iface", "eth2", "-insecure-no-auth"}
	ok := append(append([]string{}, base...), "-cluster-mode", "active-active", "-buckets", "32",
		"-vip", "eth0=198.18.1.1/24", "-vip", "eth1=198.18.2.1/24", "-sync-peer", "3@198.18.3.3:7946,4@198.18.3.4:7946", "-conntrack")
	c, err := parseConfig(ok, &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, c.ActiveActive)
	require.Equal(t, 32, c.Buckets)

	c, err = parseConfig(append(append([]string{}, base...), "-vip", "eth0=198.18.1.1/24"), &bytes.Buffer{})
	require.NoError(t, err)
	require.False(t, c.ActiveActive, "active-passive by default")

	for name, args := range map[string][]string{
		"unknown mode":     {"-cluster-mode", "active-standby", "-vip", "eth0=198.18.1.1/24", "-sync-peer", "198.18.3.3:7946", "-conntrack"},
		"no sync":          {"-cluster-mode", "active-active", "-vip", "eth0=198.18.1.1/24"},
		"no conntrack":     {"-cluster-mode", "active-active", "-vip", "eth0=198.18.1.1/24", "-sync-peer", "198.18.3.3:7946"},
		"no address":       {"-cluster-mode", "active-active", "-sync-peer", "198.18.3.3:7946", "-conntrack"},
		"IPv6 address":     {"-cluster-mode", "active-active", "-vip", "eth0=2001:db8::1/64", "-sync-peer", "198.18.3.3:7946", "-conntrack"},
		"too many buckets": {"-cluster-mode", "active-active", "-buckets", "2000", "-vip", "eth0=198.18.1.1/24", "-sync-peer", "198.18.3.3:7946", "-conntrack"},
	} {
		_, err := parseConfig(append(append([]string{}, base...), args...), &bytes.Buffer{})
		require.ErrorIs(t, err, errConfig, name)
	}
}
