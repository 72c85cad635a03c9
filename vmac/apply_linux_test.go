package vmac_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

func sysctl(t *testing.T, h *testbed.Host, key string) string {
	t.Helper()
	out, err := h.Run("cat", "/proc/sys/"+key)
	require.NoError(t, err, out)
	return strings.TrimSpace(out)
}

// neighbourMAC returns the MAC h's neighbour table holds for ip on ifname.
func neighbourMAC(t *testing.T, h *testbed.Host, ifname string, ip netip.Addr) string {
	t.Helper()
	for _, n := range h.Neighbours(ifname) {
		if n.IP == ip {
			return n.MAC.String()
		}
	}
	return ""
}

func TestApplyMACAndVIPs(t *testing.T) {
	tb, h, l := bed(t)
	vm, _ := vmac.NetDefendMAC(9, 0)
	v4, v6 := netip.MustParseAddr("198.18.0.50"), netip.MustParseAddr("2001:db8::50")
	var hd *vmac.Handle
	do(t, h, func() error {
		var err error
		hd, err = vmac.Apply(vmac.Takeover{Interface: "eth0", MAC: vm, VIPs: []netip.Addr{v4, v6}})
		return err
	})
	require.Equal(t, vm.String(), links(t, h)["eth0"].Address)
	as := addrs(t, h, "eth0")
	require.Contains(t, as, "198.18.0.50/24")
	require.Contains(t, as, "2001:db8::50/64")

	// A neighbour reaches the VIP at the virtual MAC.
	b := tb.Host("b")
	tb.Link(b, l.Bridge(), "eth0")
	b.AddAddr("eth0", addrB)
	out, err := b.Run("ping", "-c", "1", "-W", "2", v4.String())
	require.NoError(t, err, out)
	require.Equal(t, vm.String(), neighbourMAC(t, b, "eth0", v4))

	do(t, h, hd.Release)
	require.Equal(t, l.MAC().String(), links(t, h)["eth0"].Address)
	as = addrs(t, h, "eth0")
	require.NotContains(t, as, "198.18.0.50/24")
	require.NotContains(t, as, "2001:db8::50/64")
}

func TestApplyMacvlan(t *testing.T) {
	tb, h, l := bed(t)
	vm, _ := vmac.FortiGateMAC(300, 1, 1)
	vip := netip.MustParseAddr("198.18.0.100")
	before := links(t, h)
	ignore, announce := sysctl(t, h, "net/ipv4/conf/eth0/arp_ignore"), sysctl(t, h, "net/ipv4/conf/eth0/arp_announce")

	var hd *vmac.Handle
	do(t, h, func() error {
		var err error
		hd, err = vmac.Apply(vmac.Takeover{Interface: "eth0", MAC: vm, Macvlan: "vmac0", VIPs: []netip.Addr{vip}})
		return err
	})
	ls := links(t, h)
	require.Equal(t, vm.String(), ls["vmac0"].Address)
	require.Equal(t, "bridge", ls["vmac0"].LinkInfo.Data.Mode)
	require.Equal(t, l.MAC().String(), ls["eth0"].Address, "parent keeps its MAC")
	require.Contains(t, addrs(t, h, "vmac0"), "198.18.0.100/24", "prefix length from the parent's subnet")
	require.Equal(t, "1", sysctl(t, h, "net/ipv4/conf/eth0/arp_ignore"))
	require.Equal(t, "2", sysctl(t, h, "net/ipv4/conf/eth0/arp_announce"))

	// A neighbour learns the VIP at the virtual MAC, not the parent's.
	b := tb.Host("b")
	tb.Link(b, l.Bridge(), "eth0")
	b.AddAddr("eth0", addrB)
	out, err := b.Run("ping", "-c", "2", "-i", "0.2", "-W", "2", vip.String())
	require.NoError(t, err, out)
	require.Equal(t, vm.String(), neighbourMAC(t, b, "eth0", vip))

	do(t, h, hd.Release)
	after := links(t, h)
	require.NotContains(t, after, "vmac0")
	require.Len(t, after, len(before))
	require.Equal(t, ignore, sysctl(t, h, "net/ipv4/conf/eth0/arp_ignore"))
	require.Equal(t, announce, sysctl(t, h, "net/ipv4/conf/eth0/arp_announce"))
}

func TestApplyRollback(t *testing.T) {
	_, h, l := bed(t)
	vm, _ := vmac.VRRPMAC(42)
	before := addrs(t, h, "eth0")
	ignore := sysctl(t, h, "net/ipv4/conf/eth0/arp_ignore")

	tests := []struct {
		name string
		ts   []vmac.Takeover
		is   error  // nil: any error
		msg  string // in the error, when not empty
	}{
		{"second interface missing", []vmac.Takeover{
			{Interface: "eth0", MAC: vm, VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.60")}},
			{Interface: "nosuch0", MAC: vm},
		}, vmac.ErrNoInterface, ""},
		{"second takeover off-subnet", []vmac.Takeover{
			{Interface: "eth0", MAC: vm, VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.60")}},
			{Interface: "eth0", VIPs: []netip.Addr{netip.MustParseAddr("198.51.100.60")}},
		}, vmac.ErrNoSubnet, ""},
		{"macvlan name taken", []vmac.Takeover{
			{Interface: "eth0", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.0.61/24")}},
			{Interface: "eth0", MAC: vm, Macvlan: "eth0"},
		}, vmac.ErrInvalid, ""},
		{"macvlan address refused by the kernel", []vmac.Takeover{
			// IPv6 is disabled on new interfaces (below), so the
			// child's IPv6 VIP fails after the child exists.
			{Interface: "eth0", MAC: vm, Macvlan: "vmac0", VIPs: []netip.Addr{
				netip.MustParseAddr("198.18.0.62"), netip.MustParseAddr("2001:db8::62")}},
		}, nil, `add 2001:db8::62/64 to "vmac0"`},
		{"invalid input, nothing tried", []vmac.Takeover{
			{Interface: "eth0", MAC: vm},
			{Interface: "eth0", Macvlan: "vmac0"}, // no MAC
		}, vmac.ErrInvalid, ""},
	}
	h.Sysctl("net.ipv6.conf.default.disable_ipv6", "1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			do(t, h, func() error {
				hd, err := vmac.Apply(tt.ts...)
				require.Error(t, err)
				require.Nil(t, hd)
				if tt.is != nil {
					require.ErrorIs(t, err, tt.is)
				}
				require.Contains(t, err.Error(), tt.msg)
				return nil
			})
			ls := links(t, h)
			require.Equal(t, l.MAC().String(), ls["eth0"].Address, "MAC restored")
			require.NotContains(t, ls, "vmac0", "child removed")
			require.Equal(t, before, addrs(t, h, "eth0"), "addresses restored")
			require.Equal(t, ignore, sysctl(t, h, "net/ipv4/conf/eth0/arp_ignore"), "sysctl restored")
		})
	}
}

func TestApplyNoop(t *testing.T) {
	_, h, l := bed(t)
	do(t, h, func() error {
		hd, err := vmac.Apply(vmac.Takeover{Interface: "eth0"})
		require.NoError(t, err)
		return hd.Release()
	})
	require.Equal(t, l.MAC().String(), links(t, h)["eth0"].Address)
	var nilHandle *vmac.Handle
	require.NoError(t, nilHandle.Release())
}

// TestReleaseAfterInterfaceGone: the interface disappears between takeover
// and release (a hot-unplugged NIC, a deleted VLAN); there is nothing left to
// undo, so Release succeeds and touches nothing else.
func TestReleaseAfterInterfaceGone(t *testing.T) {
	_, h, l := bed(t)
	out, err := h.Run("ip", "link", "add", "link", "eth0", "name", "mv1", "up", "type", "macvlan", "mode", "bridge")
	require.NoError(t, err, out)
	vm, _ := vmac.VRRPMAC(9)
	var hm, hv, ha *vmac.Handle
	do(t, h, func() error {
		var err error
		hm, err = vmac.SetMAC("mv1", vm)
		require.NoError(t, err)
		hv, err = vmac.AddPrefixes("mv1", netip.MustParsePrefix("198.18.0.70/24"))
		require.NoError(t, err)
		ha, err = vmac.Apply(vmac.Takeover{Interface: "mv1", Macvlan: "mv2", MAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x72}, MacvlanMode: vmac.MacvlanPrivate})
		return err
	})
	out, err = h.Run("ip", "link", "del", "mv2")
	require.NoError(t, err, out)
	out, err = h.Run("ip", "link", "del", "mv1")
	require.NoError(t, err, out)
	do(t, h, func() error {
		require.NoError(t, hv.Release())
		require.NoError(t, hm.Release())
		require.NoError(t, ha.Release())
		return nil
	})
	require.Equal(t, l.MAC().String(), links(t, h)["eth0"].Address)
}
