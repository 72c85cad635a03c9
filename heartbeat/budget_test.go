package heartbeat

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// maxPerSecond returns the most of ts (sorted) within any span of one
// second.
func maxPerSecond(ts []time.Time) int {
	most, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= budgetSpan {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

// TestProbeBudget: unit 1 has 16 neighbours on each interface, and two
// peers that lose power at once, at 100 ms and at 10 ms heartbeats; then
// the links turn lossy (20%) for a minute so that suspicions come again
// and again. Unit 1 never sends more than the budget's 15 ARP probes on an
// interface within any second (without the budget: 19 in the first
// millisecond of each suspicion, per peer), the neighbour probes are
// shared by both suspicions, and the power loss still gets the early
// verdict: 0.225 s after the last heartbeat at 100 ms; at 10 ms the
// figure logged is what the budget costs there.
func TestProbeBudget(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		verdict  time.Duration // after the last heartbeat, at most
	}{
		{100 * ms, 225 * ms},
		{10 * ms, 45 * ms},
	} {
		t.Run(fmt.Sprint(tc.interval), func(t *testing.T) {
			cfg := earlyConfig()
			cfg.Interval = tc.interval
			cfg.ProbeWindow = 6 * tc.interval
			cfg.ProbeInterval = tc.interval / 4
			cfg.Neighbours = staticNeighbours{"eth0": neighbourAddrs(0, 16), "eth1": neighbourAddrs(1, 16)}
			h := newHarness(t, 2, cfg, 1, 2, 3)
			warm(h)
			h.clk.RunFor(tc.interval / 3)
			h.units[2].down = true
			h.units[3].down = true
			h.clk.RunFor(2 * time.Second)
			v := h.verdicts(1)
			require.Len(t, v, 4, "both peers down on both interfaces")
			var worst time.Duration
			for _, r := range v {
				require.Equal(t, PeerDown, r.State, r.Reason)
				i := map[string]int{"eth0": 0, "eth1": 1}[r.Interface]
				worst = max(worst, r.At.Sub(h.lastFrom(1, r.Peer, i)))
			}
			t.Logf("at %v: PeerDown %v after the last heartbeat", tc.interval, worst)
			require.LessOrEqual(t, worst, tc.verdict)

			h.restart(2)
			h.restart(3)
			h.clk.RunFor(10 * time.Second)
			h.loss = 0.2
			h.clk.RunFor(time.Minute)
			c := h.units[1].m.Counters()
			require.NotZero(t, c.Suspicions)
			for i := range 2 {
				got := maxPerSecond(h.units[1].probes[i])
				t.Logf("at %v, eth%d: %d probes in all, at most %d within a second; %d suspicions, %d probes held back",
					tc.interval, i, len(h.units[1].probes[i]), got, c.Suspicions, c.ProbesSuppressed)
				require.LessOrEqual(t, got, DefaultConfig().ProbeBudget)
			}
		})
	}
}
