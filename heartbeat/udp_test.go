package heartbeat

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

// These tests send nothing: datagrams between units are exercised in
// namespaces by TestListenUDP (transport_linux_test.go).

func TestListenUDPConfig(t *testing.T) {
	peer := netip.MustParseAddrPort("198.18.0.2:7001")
	tests := []struct {
		name  string
		laddr netip.AddrPort
		peers []netip.AddrPort
	}{
		{name: "no peers", laddr: netip.MustParseAddrPort("127.0.0.1:0")},
		{name: "peer without address", laddr: netip.MustParseAddrPort("127.0.0.1:0"), peers: []netip.AddrPort{netip.AddrPortFrom(netip.Addr{}, 7001)}},
		{name: "peer without port", laddr: netip.MustParseAddrPort("127.0.0.1:0"), peers: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:0")}},
		{name: "unspecified peer", laddr: netip.MustParseAddrPort("127.0.0.1:0"), peers: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:7001")}},
		{name: "one good one bad", laddr: netip.MustParseAddrPort("127.0.0.1:0"), peers: []netip.AddrPort{peer, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ListenUDP(tt.laddr, tt.peers...)
			require.ErrorIs(t, err, hakit.ErrConfig)
			require.Nil(t, c)
		})
	}
}

func TestListenUDPClose(t *testing.T) {
	c, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("198.18.0.2:7001"))
	require.NoError(t, err)
	uc := c.(*UDPConn)
	la := uc.LocalAddr()
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), la.Addr())
	require.NotZero(t, la.Port())

	done := make(chan error)
	go func() {
		_, err := c.ReadFrame(make([]byte, 64))
		done <- err
	}()
	require.NoError(t, c.Close())
	err = <-done
	require.True(t, errors.Is(err, net.ErrClosed), "%v", err)
	require.IsType(t, &net.OpError{}, err)
	require.IsType(t, &net.OpError{}, c.WriteFrame([]byte("x"), nil, nil))
	require.Equal(t, UDPStats{}, uc.Stats())
}

func TestListenUDPFamily(t *testing.T) {
	peer := netip.MustParseAddrPort("[2001:db8::2]:7001")
	for _, laddr := range []string{"[::1]:0", "[::ffff:127.0.0.1]:0", "0.0.0.0:0"} {
		t.Run(laddr, func(t *testing.T) {
			c, err := ListenUDP(netip.MustParseAddrPort(laddr), peer)
			require.NoError(t, err)
			require.NoError(t, c.Close())
		})
	}
	c, err := ListenUDP(netip.AddrPort{}, peer)
	require.NoError(t, err)
	require.NoError(t, c.Close())
}
