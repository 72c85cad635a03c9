package vmac_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/vmac"
)

// TestSetLifetime needs root: addresses given a lifetime show it, are
// removed by the kernel once it passes without a refresh, come back with
// the next refresh, and Release still removes them.
func TestSetLifetime(t *testing.T) {
	_, h, _ := bed(t)
	ps := []netip.Prefix{netip.MustParsePrefix("198.18.0.10/24"), netip.MustParsePrefix("2001:db8::10/64")}
	var hd *vmac.Handle
	do(t, h, func() error {
		var err error
		hd, err = vmac.AddPrefixes("eth0", ps...)
		return err
	})
	do(t, h, func() error { return vmac.SetLifetime("eth0", 2*time.Second, ps...) })
	for _, p := range ps {
		out, err := h.Run("ip", "addr", "show", "dev", "eth0", "to", p.String())
		require.NoError(t, err)
		require.Contains(t, out, "valid_lft 2sec", out)
		require.True(t, addrs(t, h, "eth0")[p.String()].NoDAD == p.Addr().Is6(), "IPv6: still no DAD")
	}
	require.Eventually(t, func() bool {
		as := addrs(t, h, "eth0")
		_, v4 := as[ps[0].String()]
		_, v6 := as[ps[1].String()]
		return !v4 && !v6
	}, 5*time.Second, 50*time.Millisecond, "the kernel removes them after 2 s")
	do(t, h, func() error { return vmac.SetLifetime("eth0", 60*time.Second, ps...) })
	require.Contains(t, addrs(t, h, "eth0"), ps[0].String(), "a refresh adds a removed address again")
	do(t, h, func() error {
		err := vmac.SetLifetime("eth0", 0, ps...)
		require.ErrorIs(t, err, vmac.ErrInvalid)
		return nil
	})
	do(t, h, hd.Release)
	for _, p := range ps {
		require.NotContains(t, addrs(t, h, "eth0"), p.String())
	}
	out, _ := h.Run("ip", "addr")
	require.False(t, strings.Contains(out, "198.18.0.10"), out)
}
