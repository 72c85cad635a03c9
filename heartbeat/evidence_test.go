package heartbeat

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOnsetRatio: the onset bound on the evidence of typical suspicions.
func TestOnsetRatio(t *testing.T) {
	tests := []struct {
		name string
		h, f int
		w    witness
		pass bool
	}{
		// Round 1 of an idle link: 2 probes of the peer's address and
		// 20 echo requests unanswered, the 4 probes of a neighbour
		// answered.
		{"idle, peer dead", 2, 22, witness{ok: 4}, true},
		// A third unit's 20 echo answers are witnesses as good.
		{"idle, third unit answers", 2, 22, witness{ok: 20}, true},
		// The same silence when only 1 of 4 neighbour probes came back:
		// the link loses much now; the peer's silence is no proof.
		{"neighbour answers 1 of 4", 2, 22, witness{ok: 1, fail: 3}, false},
		{"neighbour answers 2 of 4", 2, 22, witness{ok: 2, fail: 2}, false},
		// Fewer unanswered probes of the peer do not suffice.
		{"5 unanswered", 2, 5, witness{ok: 4}, false},
		// Nothing but silence: total loss explains it.
		{"no witness", 2, 22, witness{}, false},
		{"witness frames lost too", 2, 22, witness{ok: 4, frames: 1, miss: 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := onsetRatio(tt.h, tt.f, tt.w)
			t.Logf("%.3g", r)
			require.Equal(t, tt.pass, r <= onsetBudget, "%.3g", r)
		})
	}
}

// TestMaxLogLikelihood checks the search against a grid.
func TestMaxLogLikelihood(t *testing.T) {
	for _, c := range [][4]float64{{2, 0, 22, 4}, {9, 3, 5, 1}, {0, 5, 3, 2}, {1, 0, 0, 9}, {30, 100, 0, 0}} {
		want := math.Inf(-1)
		for k := 1; k < 100000; k++ {
			L := float64(k) / 100000
			q := roundTrip(L)
			v := c[0]*math.Log(L) + c[1]*math.Log(1-L) + c[2]*math.Log(q) + c[3]*math.Log(1-q)
			want = max(want, v)
		}
		require.InDelta(t, want, maxLogLikelihood(c[0], c[1], c[2], c[3]), 1e-3, "%v", c)
	}
	require.Zero(t, maxLogLikelihood(3, 0, 4, 0), "all lost: L=1")
	require.Zero(t, maxLogLikelihood(0, 3, 0, 4), "nothing lost: L=0")
}

// TestLossEstimate: the steady estimate on histories, with the current
// silence counted as lost.
func TestLossEstimate(t *testing.T) {
	m, err := NewMachine(&Config{UnitID: 1}, Interface{Name: "eth0"})
	require.NoError(t, err)
	tests := []struct {
		name              string
		frames, lossEvery int
		h                 int
		min, max          float64
	}{
		{"no history", 0, 0, 2, 1, 1},
		{"idle link", 5000, 0, 2, 0.002, 0.008},
		{"idle link, long silence", 5000, 0, 8, 0.008, 0.02},
		{"10% loss", 5000, 10, 2, 0.11, 0.18},
		{"20% loss", 5000, 5, 2, 0.21, 0.32},
		{"short history", 30, 0, 2, 0.1, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &peerLink{}
			for s := 1; s <= tt.frames; s++ {
				if tt.lossEvery == 0 || s%tt.lossEvery != 0 {
					l.loss.record(uint64(s))
				}
			}
			p := m.loss(l, tt.h)
			require.GreaterOrEqual(t, p, tt.min)
			require.LessOrEqual(t, p, tt.max)
		})
	}
}
