package heartbeat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

// TestRelayedFrameDropped: a peer's authentic frame sent on its second
// interface and relayed onto the first segment is dropped and counted; it
// does not keep the first link alive, which then reaches its verdict.
func TestRelayedFrameDropped(t *testing.T) {
	keys := []hakit.Key{{ID: 1, Secret: []byte("0123456789abcdef")}}
	cfg := strictConfig()
	cfg.Keys = testRing(t, keys...)
	rx, err := NewMachine(&cfg, Interface{Name: "eth0"}, Interface{Name: "eth1"})
	require.NoError(t, err)
	sender := cfg
	sender.UnitID = 2
	tx, err := NewMachine(&sender, Interface{Name: "eth0"}, Interface{Name: "eth1"})
	require.NoError(t, err)
	knows(tx, rx)

	now := time.Unix(1000, 0)
	frames := func() (eth0, eth1 []byte) {
		out := tx.Tick(now)
		for _, f := range out.Frames {
			switch f.Interface {
			case "eth0":
				eth0 = f.Data
			case "eth1":
				eth1 = f.Data
			}
		}
		require.NotNil(t, eth0)
		require.NotNil(t, eth1)
		return eth0, eth1
	}
	a, b := frames()
	_, err = rx.Receive(now, "eth0", a)
	require.NoError(t, err)
	_, err = rx.Receive(now, "eth1", b)
	require.NoError(t, err)

	// eth0 breaks; the attacker relays the eth1 frames onto eth0.
	var reports []Report
	for range 30 {
		now = now.Add(100 * ms)
		_, b := frames()
		out, err := rx.Receive(now, "eth0", b)
		require.ErrorIs(t, err, ErrMalformed)
		reports = append(reports, out.Reports...)
		out, err = rx.Receive(now, "eth1", b)
		require.NoError(t, err)
		reports = append(reports, out.Reports...)
		reports = append(reports, rx.Tick(now).Reports...)
	}
	require.Equal(t, uint64(30), rx.Counters().Dropped.WrongInterface)
	var eth0Verdict bool
	for _, r := range reports {
		eth0Verdict = eth0Verdict || (r.Interface == "eth0" && r.State.Verdict())
	}
	require.True(t, eth0Verdict, "the broken link reaches its verdict: %v", reports)
}

// TestMaxPeers: without keys, frames of a thousand forged unit IDs leave at
// most MaxPeers peers, each further one dropped and counted; known peers
// are still heard.
func TestMaxPeers(t *testing.T) {
	cfg := strictConfig()
	cfg.MaxPeers = 3
	rx, err := NewMachine(&cfg, Interface{Name: "eth0"})
	require.NoError(t, err)
	now := time.Unix(1000, 0)
	frame := func(unit uint16, seq uint64) []byte {
		f := Frame{ClusterID: cfg.ClusterID, ClusterTag: ClusterTag("", nil), UnitID: unit, Role: hakit.Secondary, Epoch: 1, Seq: seq}
		b, err := f.MarshalBinary()
		require.NoError(t, err)
		return b
	}
	for u := uint16(2); u < 1002; u++ {
		_, err := rx.Receive(now, "eth0", frame(u, 1))
		if u < 5 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, ErrMalformed)
		}
	}
	require.Equal(t, uint64(997), rx.Counters().Dropped.PeerLimit)
	require.Len(t, rx.Peers(), 3)
	_, err = rx.Receive(now, "eth0", frame(2, 2))
	require.NoError(t, err, "a known peer is still heard")

	bad := strictConfig()
	bad.MaxPeers = -1
	require.ErrorIs(t, bad.Validate(), hakit.ErrConfig)
}
