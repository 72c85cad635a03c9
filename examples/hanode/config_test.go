package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
)

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]string{
		"-cluster-id", "7", "-unit-id", "2", "-priority", "200",
		"-iface", "eth2", "-iface", "eth3",
		"-vip", "eth0=198.18.1.1/24", "-vip", "eth0=2001:db8:1::1/64", "-vip", "eth1=198.18.2.1/24",
		"-vmac", "macvlan", "-sync-peer", "198.18.3.2:7946", "-conntrack",
		"-interval", "10ms", "-misses", "3", "-probe-window", "60ms", "-mode", "strict", "-preempt",
		"-status", "127.0.0.1:9100", "-log-level", "debug", "-insecure-no-auth",
	}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, uint16(7), c.ClusterID)
	require.Equal(t, uint16(2), c.UnitID)
	require.Equal(t, uint8(200), c.Priority)
	require.Equal(t, []string{"eth2", "eth3"}, c.Ifaces)
	require.Equal(t, []vip{
		{"eth0", netip.MustParsePrefix("198.18.1.1/24")},
		{"eth0", netip.MustParsePrefix("2001:db8:1::1/64")},
		{"eth1", netip.MustParsePrefix("198.18.2.1/24")},
	}, c.VIPs)
	require.Equal(t, []string{"eth0", "eth1"}, c.vipIfaces())
	require.Equal(t, vmacMacvlan, c.VMAC)
	require.Equal(t, []syncPeer{{Addr: netip.MustParseAddrPort("198.18.3.2:7946")}}, c.SyncPeers)
	require.Equal(t, netip.MustParseAddrPort("0.0.0.0:7946"), c.SyncListen)
	require.True(t, c.Conntrack && c.Preempt && c.sync())
	require.Equal(t, 10*time.Millisecond, c.Interval)
	require.Equal(t, 3, c.Misses)
	require.Equal(t, heartbeat.ModeStrict, c.Mode)
	mc := c.memberConfig()
	require.Equal(t, uint16(7), mc.ClusterID)
	require.Equal(t, heartbeat.ModeStrict, mc.Heartbeat.Mode)
	require.Nil(t, mc.Keys)
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig([]string{"-unit-id", "1", "-iface", "eth0", "-insecure-no-auth"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, uint8(128), c.Priority)
	require.Equal(t, vmacInterface, c.VMAC)
	require.Equal(t, heartbeat.ModeEarly, c.Mode)
	require.Equal(t, 100*time.Millisecond, c.Interval)
	require.Equal(t, 2, c.Misses)
	require.Equal(t, 600*time.Millisecond, c.ProbeWindow)
	require.False(t, c.sync())
}

func TestParseConfigKeyFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600))
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("tooshort\n"), 0o600))

	c, err := parseConfig([]string{"-unit-id", "1", "-iface", "eth0", "-key-file", good}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []hakit.Key{{ID: 1, Secret: []byte("0123456789abcdef0123")}}, c.Keys.Keys())
	require.Same(t, c.Keys, c.memberConfig().Keys)

	_, err = parseConfig([]string{"-unit-id", "1", "-iface", "eth0", "-key-file", short}, &bytes.Buffer{})
	require.ErrorIs(t, err, errConfig)
	require.ErrorContains(t, err, "at least 16")
}

// badFlags are command lines the daemon must refuse, with a word of the
// message it must give.
var badFlags = []struct {
	name string
	args []string
	want string
}{
	{"no unit", []string{"-iface", "eth0"}, "-unit-id"},
	{"unit 0", []string{"-unit-id", "0", "-iface", "eth0"}, "-unit-id"},
	{"unit too big", []string{"-unit-id", "70000", "-iface", "eth0"}, "-unit-id"},
	{"cluster too big", []string{"-cluster-id", "65536", "-unit-id", "1", "-iface", "eth0"}, "-cluster-id"},
	{"priority too big", []string{"-unit-id", "1", "-priority", "256", "-iface", "eth0"}, "-priority"},
	{"no iface", []string{"-unit-id", "1"}, "-iface"},
	{"iface twice", []string{"-unit-id", "1", "-iface", "eth0", "-iface", "eth0"}, "twice"},
	{"vip without iface", []string{"-unit-id", "1", "-iface", "eth0", "-vip", "198.18.1.1/24"}, "IFACE=ADDR/PLEN"},
	{"vip without length", []string{"-unit-id", "1", "-iface", "eth0", "-vip", "eth0=198.18.1.1"}, "-vip"},
	{"vip multicast", []string{"-unit-id", "1", "-iface", "eth0", "-vip", "eth0=224.0.0.1/4"}, "unicast"},
	{"vip twice", []string{"-unit-id", "1", "-iface", "eth0", "-vip", "eth0=198.18.1.1/24", "-vip", "eth1=198.18.1.1/24"}, "twice"},
	{"vmac mode", []string{"-unit-id", "1", "-iface", "eth0", "-vmac", "bogus"}, "-vmac"},
	{"mode", []string{"-unit-id", "1", "-iface", "eth0", "-mode", "lazy"}, "-mode"},
	{"interval", []string{"-unit-id", "1", "-iface", "eth0", "-interval", "0s"}, "-interval"},
	{"misses", []string{"-unit-id", "1", "-iface", "eth0", "-misses", "0"}, "-misses"},
	{"window", []string{"-unit-id", "1", "-iface", "eth0", "-probe-window", "-1s"}, "-probe-window"},
	{"conntrack without sync", []string{"-unit-id", "1", "-iface", "eth0", "-conntrack"}, "-conntrack"},
	{"sync both", []string{"-unit-id", "1", "-iface", "eth0", "-sync-iface", "eth2", "-sync-peer-mac", "02:00:00:00:00:01", "-sync-peer", "198.18.3.2:1"}, "exclusive"},
	{"sync iface without mac", []string{"-unit-id", "1", "-iface", "eth0", "-sync-iface", "eth2"}, "-sync-peer-mac"},
	{"sync peer without port", []string{"-unit-id", "1", "-iface", "eth0", "-sync-peer", "198.18.3.2"}, "-sync-peer"},
	{"sync peer a name", []string{"-unit-id", "1", "-iface", "eth0", "-sync-peer", "peer:7946"}, "-sync-peer"},
	{"sync peers unnamed", []string{"-unit-id", "1", "-iface", "eth0", "-sync-peer", "198.18.3.2:1,198.18.3.3:1"}, "unit IDs"},
	{"sync peer this unit", []string{"-unit-id", "1", "-iface", "eth0", "-sync-peer", "1@198.18.3.2:1"}, "another unit"},
	{"sync peer twice", []string{"-unit-id", "1", "-iface", "eth0", "-sync-peer", "2@198.18.3.2:1,2@198.18.3.3:1"}, "twice"},
	{"sync peer macs unnamed", []string{"-unit-id", "1", "-iface", "eth0", "-sync-iface", "eth2", "-sync-peer-mac", "02:00:00:00:00:01,02:00:00:00:00:02"}, "unit IDs"},
	{"log level", []string{"-unit-id", "1", "-iface", "eth0", "-log-level", "loud"}, "-log-level"},
	{"status", []string{"-unit-id", "1", "-iface", "eth0", "-status", "9100"}, "-status"},
	{"state dir", []string{"-unit-id", "1", "-iface", "eth0", "-state-dir", ""}, "-state-dir"},
	{"missing key file", []string{"-unit-id", "1", "-iface", "eth0", "-key-file", "/nonexistent/hanode.key"}, "-key-file"},
	{"unknown flag", []string{"-unit-id", "1", "-iface", "eth0", "-bogus"}, "bogus"},
	{"argument", []string{"-unit-id", "1", "-iface", "eth0", "extra"}, "extra"},
}

func TestParseConfigRejects(t *testing.T) {
	for _, tt := range badFlags {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, &bytes.Buffer{})
			require.ErrorIs(t, err, errConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestRunRejects: run exits 2 with one clear line, before it starts
// anything (no interface named here exists, and none is looked up).
func TestRunRejects(t *testing.T) {
	for _, tt := range badFlags {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			require.Equal(t, 2, run(context.Background(), tt.args, &out))
			require.Contains(t, out.String(), "hanode: invalid configuration")
			require.Contains(t, out.String(), tt.want)
		})
	}
}

// TestRunMissingInterface: an interface that does not exist is a
// configuration error too, found before anything changes.
func TestRunMissingInterface(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"-unit-id", "1", "-iface", "hk-nonexist0", "-insecure-no-auth"}, &out)
	require.Equal(t, 2, code)
	require.True(t, strings.HasPrefix(out.String(), "hanode: invalid configuration: interface hk-nonexist0"), out.String())
}

func TestRunHelp(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"-h"}, &out))
	require.Contains(t, out.String(), "-sync-peer")
}

// Every interval hanode accepts gives a valid election configuration: the
// election's timers scale with the interval (failbench found -interval 1s
// refused at start).
func TestParseConfigIntervals(t *testing.T) {
	for _, iv := range []string{"10ms", "100ms", "1s"} {
		for _, preempt := range []bool{false, true} {
			args := []string{"-unit-id", "1", "-iface", "eth0", "-interval", iv, "-insecure-no-auth"}
			if preempt {
				args = append(args, "-preempt")
			}
			c, err := parseConfig(args, &bytes.Buffer{})
			require.NoError(t, err, "interval %s preempt %v", iv, preempt)
			ec := c.memberConfig().ElectionConfig()
			require.NoError(t, ec.Validate())
			require.GreaterOrEqual(t, ec.HandoverTimeout, 10*c.Interval)
		}
	}
}

// Several sync peers, each named by its unit ID: UDP and raw Ethernet.
func TestParseSyncPeers(t *testing.T) {
	c, err := parseConfig([]string{"-insecure-no-auth", "-unit-id", "1", "-iface", "eth0",
		"-sync-peer", "2@198.18.3.2:7946,3@198.18.3.3:7946"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []syncPeer{{Unit: 2, Addr: netip.MustParseAddrPort("198.18.3.2:7946")},
		{Unit: 3, Addr: netip.MustParseAddrPort("198.18.3.3:7946")}}, c.SyncPeers)
	require.Equal(t, netip.MustParseAddrPort("0.0.0.0:7946"), c.SyncListen)

	c, err = parseConfig([]string{"-insecure-no-auth", "-unit-id", "3", "-iface", "eth0", "-sync-iface", "eth2",
		"-sync-peer-mac", "1@02:00:00:00:00:01,2@02:00:00:00:00:02"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []syncPeer{{Unit: 1, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}},
		{Unit: 2, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}}, c.SyncPeers)
}
