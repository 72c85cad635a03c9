package statesync_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/statesync"
)

// TestTransportErrorsAreOpErrors: reading and writing a closed transport
// fails with a *net.OpError.
func TestTransportErrorsAreOpErrors(t *testing.T) {
	u, err := statesync.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("127.0.0.1:9"))
	require.NoError(t, err)
	seg := simnet.New(nil)
	e := statesync.NewEthernetTransport(seg.Attach("a", macA), macA, macB, 0)
	for _, tr := range []statesync.Transport{u, e} {
		require.NoError(t, tr.Close())
		_, _, err := tr.ReadFrom(make([]byte, 64))
		require.ErrorIs(t, err, net.ErrClosed)
		require.IsType(t, &net.OpError{}, err)
		_, err = tr.WriteTo([]byte("x"), nil)
		require.IsType(t, &net.OpError{}, err)
	}
}
