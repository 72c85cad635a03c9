package statesync

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func owners(t *testing.T, units []Unit, keys []Key) []uint16 {
	t.Helper()
	s, err := NewSchedule(units)
	require.NoError(t, err)
	out := make([]uint16, len(keys))
	for i, k := range keys {
		out[i] = s.Owner(k)
	}
	return out
}

func scheduleKeys(n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = testSession(i).Key
	}
	return keys
}

func equalUnits(n int) []Unit {
	var u []Unit
	for i := range n {
		u = append(u, Unit{ID: uint16(i + 1), Weight: 1})
	}
	return u
}

func TestScheduleBalanced(t *testing.T) {
	keys := scheduleKeys(100_000)
	for _, n := range []int{2, 3, 5, 8} {
		count := map[uint16]int{}
		for _, o := range owners(t, equalUnits(n), keys) {
			count[o]++
		}
		require.Len(t, count, n)
		for id, c := range count {
			share := float64(c) / float64(len(keys))
			require.InDelta(t, 1/float64(n), share, 0.01, "%d units: %d", n, id)
		}
	}
}

func TestScheduleWeighted(t *testing.T) {
	keys := scheduleKeys(100_000)
	const a, b, c, drained = 1, 2, 3, 4
	units := []Unit{{a, 1}, {b, 2}, {c, 1}, {drained, 0}}
	count := map[uint16]int{}
	for _, o := range owners(t, units, keys) {
		count[o]++
	}
	require.Zero(t, count[drained])
	require.InDelta(t, 0.25, float64(count[a])/1e5, 0.01)
	require.InDelta(t, 0.50, float64(count[b])/1e5, 0.01)
	require.InDelta(t, 0.25, float64(count[c])/1e5, 0.01)
}

func TestScheduleMinimalMoves(t *testing.T) {
	keys := scheduleKeys(100_000)
	for _, n := range []int{2, 4, 7} {
		before := owners(t, equalUnits(n), keys)
		// A unit joins: it takes about 1/(n+1), and every moved session
		// moves to it.
		joined := owners(t, equalUnits(n+1), keys)
		newID := equalUnits(n + 1)[n].ID
		moved := 0
		for i := range keys {
			if before[i] != joined[i] {
				moved++
				require.Equal(t, newID, joined[i])
			}
		}
		require.InDelta(t, 1/float64(n+1), float64(moved)/float64(len(keys)), 0.01, "join to %d", n+1)

		// A unit leaves: only its sessions move; nothing moves between
		// survivors.
		left := equalUnits(n)
		gone := left[1].ID
		left = append(left[:1], left[2:]...)
		after := owners(t, left, keys)
		moved = 0
		for i := range keys {
			if before[i] == gone {
				require.NotEqual(t, gone, after[i])
				moved++
				continue
			}
			require.Equal(t, before[i], after[i], "moved between survivors")
		}
		require.InDelta(t, 1/float64(n), float64(moved)/float64(len(keys)), 0.01, "leave from %d", n)
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, units := range [][]Unit{
		nil,              // no unit
		{{1, 0}},         // no weight
		{{1, 1}, {1, 1}}, // duplicate
		{{1, -1}},        // negative weight
		{{0, 1}},         // unit 0
	} {
		_, err := NewSchedule(units)
		require.ErrorIs(t, err, hakit.ErrConfig, "%v", units)
	}
}

func BenchmarkScheduleOwner(b *testing.B) {
	s, _ := NewSchedule(equalUnits(4))
	k := testSession(1).Key
	b.ReportAllocs()
	for b.Loop() {
		s.Owner(k)
	}
}
