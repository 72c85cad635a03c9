package heartbeat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

// TestHeardNeverStale: a peer's payload is delivered once per send round,
// by the first frame of the round on any interface, and never after a newer
// one: not by a frame of an older round delayed on another interface, not by
// the other interfaces' copies of a round, not by an older start (epoch) of
// the peer.
func TestHeardNeverStale(t *testing.T) {
	rx, err := NewMachine(&Config{ClusterID: 7, UnitID: 1}, Interface{Name: "eth0"}, Interface{Name: "eth1"})
	require.NoError(t, err)
	newTx := func(epoch uint64) *Machine {
		tx, err := NewMachine(&Config{ClusterID: 7, UnitID: 2, Epoch: epoch}, Interface{Name: "eth0"}, Interface{Name: "eth1"})
		require.NoError(t, err)
		return tx
	}
	tx := newTx(5)
	now := time.Unix(1000, 0)
	// rounds[i] is round i+1: its frame on eth0 and on eth1.
	var rounds [][2][]byte
	for i := range 4 {
		require.NoError(t, tx.SetPayload([]byte{byte('a' + i)}))
		out := tx.Tick(now.Add(time.Duration(i) * 100 * ms))
		require.Len(t, out.Frames, 2)
		var a, b Frame
		require.NoError(t, a.UnmarshalBinary(out.Frames[0].Data))
		require.NoError(t, b.UnmarshalBinary(out.Frames[1].Data))
		require.Equal(t, uint64(i+1), a.Seq, "one sequence number per round")
		require.Equal(t, a.Seq, b.Seq, "the same on every interface")
		rounds = append(rounds, [2][]byte{out.Frames[0].Data, out.Frames[1].Data})
	}
	heard := func(ifname string, frame []byte) string {
		t.Helper()
		out, err := rx.Receive(now, ifname, frame)
		require.NoError(t, err, "every frame here is a valid heartbeat of its interface")
		if len(out.Heard) == 0 {
			return ""
		}
		require.Len(t, out.Heard, 1)
		h := out.Heard[0]
		require.Equal(t, uint16(2), h.Peer)
		require.Equal(t, ifname, h.Interface)
		require.Equal(t, hakit.Initial, h.Role)
		return string(h.Payload)
	}
	require.Equal(t, "a", heard("eth0", rounds[0][0]))
	require.Equal(t, "", heard("eth1", rounds[0][1]), "a round already heard")
	require.Equal(t, "c", heard("eth0", rounds[2][0]))
	require.Equal(t, "", heard("eth1", rounds[1][1]), "an older round, late on the other interface")
	require.Equal(t, "", heard("eth1", rounds[2][1]))
	require.Equal(t, "d", heard("eth1", rounds[3][1]), "the newest round, on either interface")
	require.Equal(t, []byte("d"), rx.Peers()[0].Payload)

	// The peer restarts: its new epoch is heard at once, and a frame of the
	// old start still in flight on the other interface is not.
	tx2 := newTx(6)
	require.NoError(t, tx2.SetPayload([]byte("new start")))
	out := tx2.Tick(now.Add(time.Second))
	require.Equal(t, "new start", heard("eth0", out.Frames[0].Data))
	old := tx.Tick(now.Add(400 * ms)) // round 5 of the old start
	require.Equal(t, "", heard("eth1", old.Frames[1].Data))
	require.Equal(t, []byte("new start"), rx.Peers()[0].Payload)
}
