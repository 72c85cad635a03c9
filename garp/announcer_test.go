package garp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecorder(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	r := &Recorder{Fail: func(op Op, m Move) error {
		if m.Interface == "bad" {
			return boom
		}
		return nil
	}}
	m1 := Move{Interface: "eth0", MAC: macA, Addrs: []netip.Addr{testVIP4}}
	m2 := Move{Interface: "eth1", MAC: macA, Addrs: []netip.Addr{testVIP6}}
	require.NoError(t, r.Announce(ctx, m1))
	require.NoError(t, r.Announce(ctx, m2))
	require.ErrorIs(t, r.Announce(ctx, Move{Interface: "bad"}), boom)
	m1b := m1.clone()
	m1b.Addrs = append(m1b.Addrs, netip.MustParseAddr("198.18.0.11"))
	require.NoError(t, r.Announce(ctx, m1b)) // replaces m1
	require.Equal(t, []Move{m2, m1b}, r.Announced())

	require.NoError(t, r.Withdraw(ctx, Move{Interface: "eth1", MAC: macA}))
	require.Equal(t, []Move{m1b}, r.Announced())

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, r.Withdraw(cctx, m1), context.Canceled)
	require.Equal(t, []Move{m1b}, r.Announced(), "a failed withdraw changes nothing")

	calls := r.Calls()
	require.Len(t, calls, 6)
	require.Equal(t, OpAnnounce, calls[0].Op)
	require.ErrorIs(t, calls[2].Err, boom)
	require.Equal(t, OpWithdraw, calls[5].Op)

	// The Recorder keeps copies: the caller's slices are its own.
	m1.MAC[0] = 0xee
	calls[0].Move.Addrs[0] = netip.Addr{}
	require.Equal(t, byte(0x02), r.Calls()[0].Move.MAC[0])
	require.Equal(t, testVIP4, r.Calls()[0].Move.Addrs[0])
	m1.MAC[0] = 0x02

	r.Reset()
	require.Empty(t, r.Calls())
	require.Empty(t, r.Announced())
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			m := Move{Interface: "eth0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}}
			for range 100 {
				_ = r.Announce(context.Background(), m)
				_ = r.Withdraw(context.Background(), m)
				_ = r.Announced()
			}
		})
	}
	wg.Wait()
	require.Len(t, r.Calls(), 8*200)
	require.Empty(t, r.Announced())
}

func TestMoveNormalize(t *testing.T) {
	m, err := Move{
		Interface: "eth0",
		MAC:       macA,
		Addrs: []netip.Addr{
			netip.MustParseAddr("::ffff:198.18.0.10"), testVIP4,
			netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::1"),
		},
		Learn: []net.HardwareAddr{macB, macB, macC},
	}.normalize()
	require.NoError(t, err)
	require.Equal(t, Move{
		Interface: "eth0",
		MAC:       macA,
		Addrs:     []netip.Addr{testVIP4, netip.MustParseAddr("fe80::1")},
		Learn:     []net.HardwareAddr{macB, macC},
	}, m)
	_, err = Move{Interface: "eth0", MAC: macA, Addrs: []netip.Addr{netip.MustParseAddr("224.0.0.18")}}.normalize()
	require.ErrorIs(t, err, ErrMove)
	require.EqualError(t, err, "garp: move on eth0: address 224.0.0.18 cannot be announced: invalid move")
}
