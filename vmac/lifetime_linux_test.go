package vmac_test

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// TestSetLifetime needs root: addresses given a lifetime show it, are
// removed by the kernel once it passes without a refresh, come back with
// the next refresh, and Release still removes them.
//
// The bounds are the kernel's, not a quiet machine's: "ip addr" shows the
// lifetime left in whole seconds, counted from the last SetLifetime, so a
// check that runs a second late (a loaded machine) sees one second less;
// and the kernel removes an expired address from a periodic work item
// (check_lifetime for IPv4, addrconf_verify for IPv6) that runs at least
// a second after its previous run, rounded up to a whole second, and
// later still when the machine is busy.
func TestSetLifetime(t *testing.T) {
	_, h, _ := bed(t)
	ps := []netip.Prefix{netip.MustParsePrefix("198.18.0.10/24"), netip.MustParsePrefix("2001:db8::10/64")}
	var hd *vmac.Handle
	do(t, h, func() error {
		var err error
		hd, err = vmac.AddPrefixes("eth0", ps...)
		return err
	})
	// A long lifetime first, to see it shown whatever the load.
	do(t, h, func() error { return vmac.SetLifetime("eth0", 60*time.Second, ps...) })
	for _, p := range ps {
		left := validLeft(t, h, p)
		require.True(t, left > 30 && left <= 60, "%v: valid_lft %ds after a 60s lifetime", p, left)
		require.True(t, addrs(t, h, "eth0")[p.String()].NoDAD == p.Addr().Is6(), "IPv6: still no DAD")
	}
	// A short one replaces it, and the kernel removes the addresses when
	// it passes: at once on a quiet machine (about 2 s), within the
	// lifetime plus the work item's period and its rounding (4 s) and
	// the load's delays.
	start := time.Now()
	do(t, h, func() error { return vmac.SetLifetime("eth0", 2*time.Second, ps...) })
	for _, p := range ps {
		if left := validLeft(t, h, p); left >= 0 {
			require.LessOrEqual(t, left, 2, "%v: the short lifetime replaced the long one", p)
		}
	}
	require.Eventually(t, func() bool {
		as := addrs(t, h, "eth0")
		_, v4 := as[ps[0].String()]
		_, v6 := as[ps[1].String()]
		return !v4 && !v6
	}, 20*time.Second, 50*time.Millisecond, "the kernel removes them after 2 s")
	t.Logf("removed %v after a 2 s lifetime", time.Since(start).Round(10*time.Millisecond))
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

// validLeft returns the lifetime left of p on h's eth0, in whole seconds as
// "ip addr" shows it, or -1 if p is not there.
func validLeft(t *testing.T, h *testbed.Host, p netip.Prefix) int {
	t.Helper()
	out, err := h.Run("ip", "addr", "show", "dev", "eth0", "to", p.String())
	require.NoError(t, err)
	_, rest, ok := strings.Cut(out, " "+p.String()+" ") // "inet ADDR/PLEN ..."
	if !ok {
		return -1
	}
	_, rest, ok = strings.Cut(rest, "valid_lft ")
	require.True(t, ok, out)
	secs, _, ok := strings.Cut(rest, "sec")
	require.True(t, ok, out)
	n, err := strconv.Atoi(secs)
	require.NoError(t, err, out)
	return n
}
