package heartbeat

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

// TestBadFramesChangeNothing feeds every kind of bad frame to a Machine that
// knows a peer, and checks that each is counted under its reason and that no
// peer state, report or timer changes.
func TestBadFramesChangeNothing(t *testing.T) {
	keys := []hakit.Key{{ID: 1, Secret: []byte("0123456789abcdef")}}
	cfg := strictConfig()
	cfg.Keys = testRing(t, keys...)
	rx, err := NewMachine(&cfg, Interface{Name: "eth0"})
	require.NoError(t, err)
	sender := cfg
	sender.UnitID = 2
	sender.Epoch = 5
	tx, err := NewMachine(&sender, Interface{Name: "eth0"})
	require.NoError(t, err)

	knows(tx, rx)
	now := time.Unix(1000, 0)
	var frames [][]byte
	for i := range 3 {
		out := tx.Tick(now.Add(time.Duration(i) * 100 * ms))
		frames = append(frames, out.Frames[0].Data)
	}
	_, err = rx.Receive(now, "eth0", frames[1])
	require.NoError(t, err)

	k := testKeyring(t, keys...)
	forge := func(mod func(*Frame), key *Sealer) []byte {
		var f Frame
		require.NoError(t, f.UnmarshalBinary(frames[2]))
		mod(&f)
		if key == nil {
			f.KeyID = 0
			b, err := f.MarshalBinary()
			require.NoError(t, err)
			return b
		}
		b, err := key.Seal(nil, &f)
		require.NoError(t, err)
		return b
	}
	wrongKey := testKeyring(t, hakit.Key{ID: 1, Secret: []byte("not-the-right-ky")})
	flipped := bytes.Clone(frames[2])
	flipped[len(flipped)-1] ^= 1
	unitZero := bytes.Clone(frames[2])
	unitZero[6], unitZero[7] = 0, 0

	tests := []struct {
		name string
		b    []byte
		want func(Drops) uint64
	}{
		{"empty", nil, func(d Drops) uint64 { return d.Malformed }},
		{"truncated", frames[2][:20], func(d Drops) uint64 { return d.Malformed }},
		{"truncated tag", frames[2][:len(frames[2])-1], func(d Drops) uint64 { return d.Malformed }},
		{"oversized", append(bytes.Clone(frames[2]), make([]byte, 2000)...), func(d Drops) uint64 { return d.Malformed }},
		{"bad version", append([]byte{9}, frames[2][1:]...), func(d Drops) uint64 { return d.Malformed }},
		{"foreign cluster", forge(func(f *Frame) { f.ClusterID = 8 }, k), func(d Drops) uint64 { return d.OtherCluster }},
		{"forged tag", flipped, func(d Drops) uint64 { return d.Auth }},
		{"wrong key", forge(func(*Frame) {}, wrongKey), func(d Drops) uint64 { return d.Auth }},
		{"unauthenticated", forge(func(*Frame) {}, nil), func(d Drops) uint64 { return d.Auth }},
		{"replayed", frames[1], func(d Drops) uint64 { return d.Replay }},
		{"older sequence", frames[0], func(d Drops) uint64 { return d.Replay }},
		{"older epoch", forge(func(f *Frame) { f.Epoch = 4; f.Seq = 99 }, k), func(d Drops) uint64 { return d.Stale }},
		{"own unit ID", forge(func(f *Frame) { f.UnitID = 1 }, k), func(d Drops) uint64 { return d.Own }},
		{"unit 0", unitZero, func(d Drops) uint64 { return d.Malformed }},
	}
	// Let the peer go suspect so that a wrongly accepted frame would show.
	later := now.Add(250 * ms)
	rx.Tick(later)
	require.Equal(t, Suspect, rx.Peers()[0].Links[0].State)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, beforeNext := rx.Peers(), rx.Next()
			beforeDrops := tt.want(rx.Counters().Dropped)
			beforeRecv := rx.Counters().Received
			out, err := rx.Receive(later, "eth0", tt.b)
			require.Error(t, err)
			require.Empty(t, out.Reports)
			require.Equal(t, before, rx.Peers())
			require.Equal(t, beforeNext, rx.Next())
			require.Equal(t, beforeDrops+1, tt.want(rx.Counters().Dropped))
			require.Equal(t, beforeRecv, rx.Counters().Received)
		})
	}
	_, err = rx.Receive(later, "eth9", frames[2])
	require.ErrorIs(t, err, hakit.ErrConfig)
	require.Equal(t, uint64(1), rx.Counters().Dropped.UnknownInterface)
	// The genuine next frame is still accepted.
	out, err := rx.Receive(later, "eth0", frames[2])
	require.NoError(t, err)
	require.Equal(t, []string{"eth0:alive"}, states(out.Reports))
}

func TestUnauthenticatedClusterDropsKeyedFrames(t *testing.T) {
	rx, err := NewMachine(&Config{ClusterID: 7, UnitID: 1}, Interface{Name: "eth0"})
	require.NoError(t, err)
	tx, err := NewMachine(&Config{ClusterID: 7, UnitID: 2, Keys: testRing(t, hakit.Key{ID: 3, Secret: []byte("0123456789abcdef")})}, Interface{Name: "eth0"})
	require.NoError(t, err)
	out := tx.Tick(time.Unix(1, 0))
	_, err = rx.Receive(time.Unix(1, 0), "eth0", out.Frames[0].Data)
	require.ErrorIs(t, err, ErrAuth)
	require.Empty(t, rx.Peers())
}

// FuzzReceive feeds arbitrary bytes to a Machine that knows a peer: nothing
// panics, and a rejected frame changes no state.
func FuzzReceive(f *testing.F) {
	cfg := Config{ClusterID: 7, UnitID: 2, Epoch: 1}
	tx, _ := NewMachine(&cfg, Interface{Name: "eth0"})
	now := time.Unix(1, 0)
	good := tx.Tick(now).Frames[0].Data
	f.Add(good)
	f.Add(good[:10])
	f.Fuzz(func(t *testing.T, b []byte) {
		rx, err := NewMachine(&Config{ClusterID: 7, UnitID: 1}, Interface{Name: "eth0"})
		require.NoError(t, err)
		_, err = rx.Receive(now, "eth0", good)
		require.NoError(t, err)
		before := rx.Peers()
		if _, err := rx.Receive(now, "eth0", b); err != nil {
			require.Equal(t, before, rx.Peers())
		}
	})
}
