package vmac_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// TestCollisionOnBridge: two clusters with the same cluster ID on one
// bridge. Unit a (primary of ours) holds the virtual MAC; unit c, the primary
// of the other cluster, puts the same MAC on its interface and talks. a's
// GuardDriver, reading a real AF_PACKET socket, must report it, and must not be
// fooled by c's ordinary traffic or by a's own frames.
func TestCollisionOnBridge(t *testing.T) {
	tb := testbed.New(t)
	br := tb.Bridge("lan")
	a, c := tb.Host("a"), tb.Host("c")
	la := tb.Link(a, br, "eth0")
	tb.Link(c, br, "eth0")
	a.AddAddr("eth0", netip.MustParsePrefix("198.18.0.1/24"))
	c.AddAddr("eth0", netip.MustParsePrefix("198.18.0.3/24"))
	vm, _ := vmac.NetDefendMAC(12, 0)

	g, err := vmac.NewGuard(&vmac.GuardConfig{
		ClusterID:   12,
		Self:        1,
		Members:     map[uint16][]net.HardwareAddr{1: {la.MAC()}, 2: nil},
		VirtualMACs: []net.HardwareAddr{vm},
	})
	require.NoError(t, err)
	var r reports
	m := vmac.NewGuardDriver(g, r.add, nil)

	var conn net.PacketConn
	do(t, a, func() error {
		if _, err := vmac.Apply(vmac.Takeover{Interface: "eth0", MAC: vm}); err != nil {
			return err
		}
		var err error
		conn, err = vmac.ListenFrames("eth0", []net.HardwareAddr{vm})
		return err
	})
	m.SetHolding(true)
	done := make(chan error, 1)
	go func() { done <- m.Serve("eth0", conn) }()
	t.Cleanup(func() {
		conn.Close()
		require.NoError(t, <-done)
	})

	// c's ordinary traffic (its own MAC) and a's answers (from the virtual
	// MAC, but outgoing) are not collisions, and the kernel filter keeps
	// them from the socket altogether.
	out, err := c.Run("ping", "-c", "2", "-i", "0.2", "-W", "2", "198.18.0.1")
	require.NoError(t, err, out)
	time.Sleep(100 * time.Millisecond) // let any stray frame arrive before checking
	require.Empty(t, r.list())
	require.Zero(t, m.Stats().Frames, "filtered in the kernel")

	// c takes the same virtual MAC and ARPs: a sees its own MAC arriving.
	do(t, c, func() error {
		_, err := vmac.SetMAC("eth0", vm)
		return err
	})
	_, _ = c.Run("ip", "neigh", "flush", "dev", "eth0")
	_, _ = c.Run("ping", "-c", "1", "-W", "1", "198.18.0.1") // may fail: the bridge is confused
	require.Eventually(t, func() bool { return len(r.list()) > 0 }, 5*time.Second, 20*time.Millisecond)
	ce := r.list()[0]
	require.Equal(t, vmac.ForeignVirtualMAC, ce.Kind)
	require.Equal(t, uint16(12), ce.ClusterID)
	require.Equal(t, vm.String(), ce.MAC.String())
	require.Equal(t, "eth0", ce.Interface)
}
