package vmac_test

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// These tests change real interfaces in network namespaces, so they need
// root; testbed.New skips them otherwise (and fails them under CI=true).

var (
	addrA  = netip.MustParsePrefix("198.18.0.1/24")
	addrA6 = netip.MustParsePrefix("2001:db8::1/64")
	addrB  = netip.MustParsePrefix("198.18.0.2/24")
)

// bed builds a bridge "lan" with host "a" on it (eth0: 198.18.0.1/24,
// 2001:db8::1/64).
func bed(t *testing.T) (*testbed.Bed, *testbed.Host, *testbed.Link) {
	t.Helper()
	tb := testbed.New(t)
	br := tb.Bridge("lan")
	h := tb.Host("a")
	l := tb.Link(h, br, "eth0")
	h.AddAddr("eth0", addrA)
	h.AddAddr("eth0", addrA6)
	return tb, h, l
}

// do runs f in h's namespace and fails the test on error.
func do(t *testing.T, h *testbed.Host, f func() error) {
	t.Helper()
	require.NoError(t, h.Do(f))
}

type ipAddr struct {
	Family    string `json:"family"`
	Local     string `json:"local"`
	Prefixlen int    `json:"prefixlen"`
	Tentative bool   `json:"tentative"`
	NoDAD     bool   `json:"nodad"`
}

type ipLink struct {
	Ifname   string   `json:"ifname"`
	Address  string   `json:"address"`
	Flags    []string `json:"flags"`
	AddrInfo []ipAddr `json:"addr_info"`
	LinkInfo struct {
		Kind string `json:"info_kind"`
		Data struct {
			Mode string `json:"mode"`
		} `json:"info_data"`
	} `json:"linkinfo"`
}

// links returns what `ip -d addr show` reports in h's namespace, by name.
func links(t *testing.T, h *testbed.Host) map[string]ipLink {
	t.Helper()
	out, err := h.Run("ip", "-j", "-d", "addr", "show")
	require.NoError(t, err)
	var ls []ipLink
	require.NoError(t, json.Unmarshal([]byte(out), &ls), out)
	m := make(map[string]ipLink, len(ls))
	for _, l := range ls {
		m[l.Ifname] = l
	}
	return m
}

// addrs returns the addresses on ifname as "addr/len" → entry.
func addrs(t *testing.T, h *testbed.Host, ifname string) map[string]ipAddr {
	t.Helper()
	l, ok := links(t, h)[ifname]
	require.True(t, ok, "no interface %s", ifname)
	m := make(map[string]ipAddr)
	for _, a := range l.AddrInfo {
		m[netip.PrefixFrom(netip.MustParseAddr(a.Local), a.Prefixlen).String()] = a
	}
	return m
}

func TestSetMACAndRestore(t *testing.T) {
	_, h, l := bed(t)
	orig := l.MAC()
	vm, err := vmac.NetDefendMAC(3, 1)
	require.NoError(t, err)

	var hd *vmac.Handle
	do(t, h, func() error {
		var err error
		hd, err = vmac.SetMAC("eth0", vm)
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName("eth0")
		require.NoError(t, err)
		require.Equal(t, vm.String(), ifi.HardwareAddr.String())
		require.True(t, ifi.Flags&net.FlagUp != 0, "still up")
		return nil
	})
	require.Equal(t, vm.String(), links(t, h)["eth0"].Address)
	// The addresses survive the change.
	require.Contains(t, addrs(t, h, "eth0"), addrA.String())
	require.Contains(t, addrs(t, h, "eth0"), addrA6.String())

	// Setting the MAC it already has changes nothing, so its Release
	// must not restore anything.
	do(t, h, func() error {
		again, err := vmac.SetMAC("eth0", vm)
		require.NoError(t, err)
		require.NoError(t, again.Release())
		return nil
	})
	require.Equal(t, vm.String(), links(t, h)["eth0"].Address)

	// Release from another Do call (another thread, same namespace).
	do(t, h, hd.Release)
	require.Equal(t, orig.String(), links(t, h)["eth0"].Address)
	do(t, h, hd.Release) // second Release: no-op
	require.Equal(t, orig.String(), links(t, h)["eth0"].Address)
}

func TestMacvlan(t *testing.T) {
	_, h, l := bed(t)
	vm, err := vmac.VRRPMAC(7)
	require.NoError(t, err)
	before := links(t, h)

	var hd *vmac.Handle
	do(t, h, func() error {
		var err error
		hd, err = vmac.AddMacvlan("eth0", "vmac7", vm, vmac.MacvlanBridge)
		return err
	})
	ls := links(t, h)
	mv, ok := ls["vmac7"]
	require.True(t, ok, "macvlan created")
	require.Equal(t, vm.String(), mv.Address)
	require.Equal(t, "macvlan", mv.LinkInfo.Kind)
	require.Equal(t, "bridge", mv.LinkInfo.Data.Mode)
	require.Contains(t, mv.Flags, "UP")
	require.Equal(t, l.MAC().String(), ls["eth0"].Address, "parent keeps its own MAC")

	// A second child with the same name is refused and leaves the first.
	do(t, h, func() error {
		_, err := vmac.AddMacvlan("eth0", "vmac7", vm, vmac.MacvlanPrivate)
		require.ErrorIs(t, err, vmac.ErrInvalid)
		return nil
	})
	require.Contains(t, links(t, h), "vmac7")

	do(t, h, hd.Release)
	after := links(t, h)
	require.NotContains(t, after, "vmac7")
	require.Len(t, after, len(before), "nothing left behind")

	// Startup cleanup after a crash: RemoveMacvlan deletes a leftover
	// child, ignores a missing one and refuses to delete anything else.
	do(t, h, func() error {
		_, err := vmac.AddMacvlan("eth0", "vmac7", vm, vmac.MacvlanBridge) // "crash": never released
		require.NoError(t, err)
		require.NoError(t, vmac.RemoveMacvlan("vmac7"))
		require.NoError(t, vmac.RemoveMacvlan("vmac7"))
		require.ErrorIs(t, vmac.RemoveMacvlan("eth0"), vmac.ErrInvalid)
		require.ErrorIs(t, vmac.RemoveMacvlan("bad/name"), vmac.ErrInvalid)
		return nil
	})
	after = links(t, h)
	require.NotContains(t, after, "vmac7")
	require.Contains(t, after, "eth0")
}

func TestMacvlanModes(t *testing.T) {
	_, h, _ := bed(t)
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	for _, mode := range []vmac.MacvlanMode{vmac.MacvlanPrivate, vmac.MacvlanVEPA, vmac.MacvlanBridge} {
		do(t, h, func() error {
			hd, err := vmac.AddMacvlan("eth0", "mv0", mac, mode)
			require.NoError(t, err)
			require.Equal(t, mode.String(), links(t, h)["mv0"].LinkInfo.Data.Mode)
			return hd.Release()
		})
		require.NotContains(t, links(t, h), "mv0")
	}
}

func TestVIPs(t *testing.T) {
	_, h, _ := bed(t)
	// Turn duplicate address detection back on for eth0 (the test bed
	// turns it off), so that "no DAD" is something the toolbox must do.
	h.Sysctl("net.ipv6.conf.eth0.accept_dad", "1")
	out, err := h.Run("ip", "addr", "add", "2001:db8::99/64", "dev", "eth0")
	require.NoError(t, err, out)
	require.True(t, addrs(t, h, "eth0")["2001:db8::99/64"].Tentative, "DAD is active on eth0")

	v4 := netip.MustParseAddr("198.18.0.10")
	v6 := netip.MustParseAddr("2001:db8::10")
	var hd *vmac.Handle
	do(t, h, func() error {
		var err error
		hd, err = vmac.AddVIPs("eth0", v4, v6)
		return err
	})
	as := addrs(t, h, "eth0")
	require.Contains(t, as, "198.18.0.10/24", "takes the subnet's prefix length")
	require.Contains(t, as, "2001:db8::10/64")
	require.False(t, as["2001:db8::10/64"].Tentative, "usable at once")
	require.True(t, as["2001:db8::10/64"].NoDAD)

	// The IPv6 VIP is usable at once: bind to it.
	do(t, h, func() error {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: v6.AsSlice(), Port: 0})
		if err != nil {
			return err
		}
		return c.Close()
	})

	// Idempotent: adding again succeeds, and its handle owns nothing.
	do(t, h, func() error {
		again, err := vmac.AddVIPs("eth0", v4, v6, v4)
		require.NoError(t, err)
		return again.Release()
	})
	as = addrs(t, h, "eth0")
	require.Contains(t, as, "198.18.0.10/24")
	require.Contains(t, as, "2001:db8::10/64")

	// Remove, then remove again: both succeed.
	do(t, h, func() error { return vmac.RemoveVIPs("eth0", v4, v6) })
	do(t, h, func() error { return vmac.RemoveVIPs("eth0", v4, v6) })
	as = addrs(t, h, "eth0")
	require.NotContains(t, as, "198.18.0.10/24")
	require.NotContains(t, as, "2001:db8::10/64")
	require.Contains(t, as, addrA.String(), "the unit's own address stays")

	// Releasing after the addresses are already gone is fine.
	do(t, h, hd.Release)
}

func TestVIPsPrefixes(t *testing.T) {
	_, h, _ := bed(t)
	// Off-subnet: refused without a prefix length, accepted with one.
	off := netip.MustParseAddr("198.19.5.5")
	do(t, h, func() error {
		_, err := vmac.AddVIPs("eth0", off)
		require.ErrorIs(t, err, vmac.ErrNoSubnet)
		require.Contains(t, err.Error(), "198.19.5.5")
		return nil
	})
	require.NotContains(t, addrs(t, h, "eth0"), "198.19.5.5/32")

	var hd *vmac.Handle
	do(t, h, func() error {
		var err error
		hd, err = vmac.AddPrefixes("eth0",
			netip.PrefixFrom(off, 32), netip.MustParsePrefix("2001:db8:1::5/128"))
		return err
	})
	as := addrs(t, h, "eth0")
	require.Contains(t, as, "198.19.5.5/32")
	require.Contains(t, as, "2001:db8:1::5/128")
	do(t, h, hd.Release)
	as = addrs(t, h, "eth0")
	require.NotContains(t, as, "198.19.5.5/32")
	require.NotContains(t, as, "2001:db8:1::5/128")
	require.Len(t, as, 3, "own IPv4, own IPv6, link-local")
}

func TestVIPsRollback(t *testing.T) {
	_, h, _ := bed(t)
	before := addrs(t, h, "eth0")

	// A bad address anywhere in the list: nothing is applied.
	do(t, h, func() error {
		_, err := vmac.AddVIPs("eth0", netip.MustParseAddr("198.18.0.20"), netip.MustParseAddr("198.51.100.1"))
		require.ErrorIs(t, err, vmac.ErrNoSubnet)
		_, err = vmac.AddVIPs("eth0", netip.MustParseAddr("198.18.0.20"), netip.Addr{})
		require.ErrorIs(t, err, vmac.ErrInvalid)
		return nil
	})
	require.Equal(t, before, addrs(t, h, "eth0"))

	// A failure the kernel reports part way: with IPv6 disabled on eth0,
	// the IPv4 VIPs go in first and the IPv6 one fails; the IPv4 ones must
	// be taken out again.
	h.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
	before = addrs(t, h, "eth0")
	do(t, h, func() error {
		_, err := vmac.AddPrefixes("eth0",
			netip.MustParsePrefix("198.18.0.21/24"),
			netip.MustParsePrefix("198.18.0.22/24"),
			netip.MustParsePrefix("2001:db8::21/64"))
		require.Error(t, err)
		require.Contains(t, err.Error(), "2001:db8::21/64")
		return nil
	})
	require.Equal(t, before, addrs(t, h, "eth0"), "rolled back")
}

func TestSetMACRollbackOnVIPFailure(t *testing.T) {
	// The caller's takeover: MAC then VIPs; when the VIPs fail, releasing
	// the MAC handle restores the interface completely.
	_, h, l := bed(t)
	vm, _ := vmac.FortiGateMAC(88, 1, 0)
	do(t, h, func() error {
		hm, err := vmac.SetMAC("eth0", vm)
		require.NoError(t, err)
		_, err = vmac.AddVIPs("eth0", netip.MustParseAddr("198.18.0.30"), netip.MustParseAddr("198.51.100.30"))
		require.ErrorIs(t, err, vmac.ErrNoSubnet)
		return hm.Release()
	})
	require.Equal(t, l.MAC().String(), links(t, h)["eth0"].Address)
	require.NotContains(t, addrs(t, h, "eth0"), "198.18.0.30/24")
}

func TestToolboxBadInput(t *testing.T) {
	_, h, _ := bed(t)
	vm, _ := vmac.VRRPMAC(1)
	do(t, h, func() error {
		_, err := vmac.SetMAC("nosuch0", vm)
		require.ErrorIs(t, err, vmac.ErrNoInterface)
		require.Contains(t, err.Error(), `"nosuch0"`)
		_, err = vmac.AddMacvlan("nosuch0", "mv0", vm, vmac.MacvlanBridge)
		require.ErrorIs(t, err, vmac.ErrNoInterface)
		_, err = vmac.AddVIPs("nosuch0", netip.MustParseAddr("198.18.0.9"))
		require.ErrorIs(t, err, vmac.ErrNoInterface)
		err = vmac.RemoveVIPs("nosuch0", netip.MustParseAddr("198.18.0.9"))
		require.ErrorIs(t, err, vmac.ErrNoInterface)

		for _, bad := range []net.HardwareAddr{nil, {1, 2, 3}, {0x01, 0, 0x5e, 0, 0, 1}, make(net.HardwareAddr, 6)} {
			_, err = vmac.SetMAC("eth0", bad)
			require.ErrorIs(t, err, vmac.ErrInvalid, "%v", bad)
			_, err = vmac.AddMacvlan("eth0", "mv0", bad, vmac.MacvlanBridge)
			require.ErrorIs(t, err, vmac.ErrInvalid, "%v", bad)
		}
		_, err = vmac.AddMacvlan("eth0", "mv0", vm, 0)
		require.ErrorIs(t, err, vmac.ErrInvalid)
		_, err = vmac.AddMacvlan("eth0", "a-name-far-too-long", vm, vmac.MacvlanBridge)
		require.ErrorIs(t, err, vmac.ErrInvalid)
		for _, bad := range []string{"", "127.0.0.1", "224.0.0.1", "fe80::1", "::", "255.255.255.255", "::ffff:198.18.0.9"} {
			var a netip.Addr
			if bad != "" {
				a = netip.MustParseAddr(bad)
			}
			_, err = vmac.AddVIPs("eth0", a)
			require.ErrorIs(t, err, vmac.ErrInvalid, bad)
		}
		_, err = vmac.AddPrefixes("eth0", netip.Prefix{})
		require.ErrorIs(t, err, vmac.ErrInvalid)
		// The subnet's network and broadcast addresses are no host's.
		for _, bad := range []string{"198.18.0.0", "198.18.0.255"} {
			_, err = vmac.AddVIPs("eth0", netip.MustParseAddr(bad))
			require.ErrorIs(t, err, vmac.ErrInvalid, bad)
		}
		_, err = vmac.AddPrefixes("eth0", netip.MustParsePrefix("198.18.5.255/24"))
		require.ErrorIs(t, err, vmac.ErrInvalid)
		return nil
	})
	// Nothing changed.
	ls := links(t, h)
	require.NotContains(t, ls, "mv0")
	for k := range addrs(t, h, "eth0") {
		require.True(t, strings.HasPrefix(k, "198.18.0.1/") || strings.HasPrefix(k, "2001:db8::1/") || strings.HasPrefix(k, "fe80:"), k)
	}
}
