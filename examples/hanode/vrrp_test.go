package main

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election/vrrp"
)

func TestParseConfigVRRP(t *testing.T) {
	c, err := parseConfig([]string{"-unit-id", "1", "-priority", "150", "-iface", "eth0",
		"-vip", "eth0=198.18.0.100/24", "-protocol", "vrrp", "-vrrp-vrid", "51", "-vrrp-advert-interval", "100ms",
		"-vrrp-unicast-peer", "198.18.0.3", "-vrrp-unicast-src", "198.18.0.2", "-vrrp-checksum", "message-only",
		"-vrrp-nopreempt", "-vmac", "interface"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, &vrrpConfig{VRID: 51, Interval: 100 * time.Millisecond, Peers: []netip.Addr{netip.MustParseAddr("198.18.0.3")},
		Source: netip.MustParseAddr("198.18.0.2"), Checksum: vrrp.ChecksumMessageOnly, NoPreempt: true, MinUnicast: 255}, c.VRRP)
	require.Nil(t, c.heartbeatIfaces())
	vc := c.vrrpConfig(netip.MustParseAddr("198.18.0.2"))
	require.NoError(t, vc.Validate())
	require.Equal(t, uint8(150), vc.Priority)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("198.18.0.100")}, vc.Addrs)
	mac, err := c.virtualMAC(0)
	require.NoError(t, err)
	require.Equal(t, "00:00:5e:00:01:33", mac.String())

	// IPv6: the link-local virtual address goes first.
	c, err = parseConfig([]string{"-unit-id", "1", "-iface", "eth0", "-vip", "eth0=2001:db8::100/64",
		"-protocol", "vrrp", "-vrrp-vrid", "7", "-vrrp-link-local", "fe80::100"}, &bytes.Buffer{})
	require.NoError(t, err)
	vc = c.vrrpConfig(netip.MustParseAddr("fe80::2"))
	require.Equal(t, []netip.Addr{netip.MustParseAddr("fe80::100"), netip.MustParseAddr("2001:db8::100")}, vc.Addrs)
	require.False(t, vc.GlobalFirst)
	require.Equal(t, time.Second, vc.AdvertInterval, "keepalived's default advert_int")
	mac, err = c.virtualMAC(0)
	require.NoError(t, err)
	require.Equal(t, "00:00:5e:00:02:07", mac.String())

	// hakit mode is unchanged.
	c, err = parseConfig([]string{"-unit-id", "1", "-iface", "eth0"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Nil(t, c.VRRP)
	require.Equal(t, []string{"eth0"}, c.heartbeatIfaces())
}

func TestParseConfigVRRPErrors(t *testing.T) {
	base := []string{"-unit-id", "1", "-iface", "eth0", "-vip", "eth0=198.18.0.100/24"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-protocol", "carp"}, `-protocol "carp"`},
		{[]string{"-vrrp-vrid", "5"}, "-vrrp-vrid needs -protocol vrrp"},
		{[]string{"-protocol", "vrrp"}, "-vrrp-vrid 1-255"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "256"}, "-vrrp-vrid 1-255"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-priority", "0"}, "-priority 0"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-iface", "eth1"}, "exactly one -iface"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-vip", "eth0=2001:db8::1/64"}, "mix IPv4 and IPv6"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-vip", "eth1=198.18.1.1/24"}, "every -vip is on the -iface"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-vrrp-checksum", "v2"}, `-vrrp-checksum "v2"`},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-vrrp-advert-interval", "15ms"}, "advertisement interval"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-vrrp-unicast-peer", "2001:db8::3"}, "unicast peer"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-vrrp-link-local", "fe80::1"}, "-vrrp-link-local"},
		{[]string{"-protocol", "vrrp", "-vrrp-vrid", "5", "-preempt", "-interval", "10ms"}, "-interval, -preempt: hakit's"},
	} {
		_, err := parseConfig(append(append([]string{}, base...), tt.args...), &bytes.Buffer{})
		require.ErrorIs(t, err, errConfig, "%v", tt.args)
		require.ErrorContains(t, err, tt.want, "%v", tt.args)
	}
	_, err := parseConfig([]string{"-unit-id", "1", "-iface", "eth0", "-protocol", "vrrp", "-vrrp-vrid", "5"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "at least one -vip")
}
