package vmac

import (
	"net"
	"net/netip"
	"testing"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/internal/testbed"
)

// TestSetMACDriverBusy emulates a NIC driver that refuses to change the MAC
// of a running interface (EBUSY, as eth_mac_addr does without
// IFF_LIVE_ADDR_CHANGE): SetMAC takes the interface down, changes it and
// brings it up again, and so does Release.
func TestSetMACDriverBusy(t *testing.T) {
	tb := testbed.New(t)
	br := tb.Bridge("lan")
	h := tb.Host("a")
	l := tb.Link(h, br, "eth0")
	h.AddAddr("eth0", netip.MustParsePrefix("198.18.0.1/24"))

	var refused int
	orig := setAddress
	setAddress = func(c *rtnetlink.Conn, m *rtnetlink.LinkMessage) error {
		cur, err := linkByIndex(c, m.Index)
		if err != nil {
			return err
		}
		if cur.Flags&unix.IFF_UP != 0 {
			refused++
			return unix.EBUSY
		}
		return orig(c, m)
	}
	t.Cleanup(func() { setAddress = orig })

	vm, _ := VRRPMAC(3)
	require.NoError(t, h.Do(func() error {
		hd, err := SetMAC("eth0", vm)
		require.NoError(t, err)
		ifi, err := net.InterfaceByName("eth0")
		require.NoError(t, err)
		require.Equal(t, vm.String(), ifi.HardwareAddr.String())
		require.NotZero(t, ifi.Flags&net.FlagUp, "up again")

		require.NoError(t, hd.Release())
		ifi, err = net.InterfaceByName("eth0")
		require.NoError(t, err)
		require.Equal(t, l.MAC().String(), ifi.HardwareAddr.String())
		require.NotZero(t, ifi.Flags&net.FlagUp, "up again")
		return nil
	}))
	require.Equal(t, 2, refused, "both changes met a busy driver")
	out, err := h.Run("ip", "-4", "addr", "show", "dev", "eth0")
	require.NoError(t, err)
	require.Contains(t, out, "198.18.0.1/24", "IPv4 address survives the down/up")
}
