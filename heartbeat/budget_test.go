package heartbeat

import (
	"fmt"
	"math/rand/v2"
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
// the links turn lossy (20%) for 20 s so that suspicions come again
// and again. Unit 1 never sends more than the budget's 15 ARP probes on an
// interface within any second (before the budget: 19 in the first
// millisecond of each suspicion, per peer), the neighbour probes are
// shared by both suspicions (8 probes when they start, not 38), and the power loss still gets the early
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
			dead := h.clk.Now()
			h.clk.RunFor(2 * time.Second)
			// Both suspicions start together: the peers' addresses twice
			// each, and the neighbours once for both.
			var first []time.Time
			for _, at := range h.units[1].probes[0] {
				if at.After(dead) && len(first) == 0 || len(first) > 0 && at.Sub(first[0]) < ms {
					first = append(first, at)
				}
			}
			require.Equal(t, 2*peerFirst+witnessWanted, len(first), "probes when the suspicions start")
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
			h.clk.RunFor(20 * time.Second)
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

// budgetCost returns the mean and worst time from a pair's last heartbeat
// to PeerDown when the peer loses power after 5 s of loss at rate loss, at
// interval iv with the given ProbeBudget and 16 neighbours, over trials
// seeded trials with the power loss at varying phases, and how many trials
// had no PeerDown within 3 s (left out of mean and worst).
func budgetCost(t *testing.T, iv time.Duration, budget int, loss float64, trials int) (mean, worst time.Duration, none int) {
	var sum time.Duration
	for trial := range trials {
		cfg := earlyConfig()
		cfg.Interval, cfg.ProbeWindow, cfg.ProbeInterval = iv, 6*iv, 0
		cfg.ProbeBudget = budget
		cfg.Neighbours = staticNeighbours{"eth0": neighbourAddrs(0, 16)}
		h := newHarness(t, 1, cfg, 1, 2)
		h.rng = rand.New(rand.NewPCG(uint64(trial), 7))
		h.clk.RunFor(10 * time.Second)
		h.loss = loss
		h.clk.RunFor(5*time.Second + time.Duration(trial)*iv/30)
		mark := len(h.units[1].reports)
		h.units[2].down = true
		h.clk.RunFor(3 * time.Second)
		var d time.Duration = -1
		for _, r := range h.units[1].reports[mark:] {
			if r.State == PeerDown {
				d = r.At.Sub(h.lastFrom(1, 2, 0))
				break
			}
		}
		if d < 0 {
			none++
			for _, r := range h.units[1].reports[mark:] {
				if r.State.Verdict() {
					t.Logf("trial %d: %v", trial, r)
				}
			}
			continue
		}
		sum += d
		worst = max(worst, d)
	}
	return sum / time.Duration(max(1, trials-none)), worst, none
}

// TestProbeBudgetCost measures what the default budget costs a pair with
// 16 neighbours (the package documentation's figures; run with -v): the
// time from the last heartbeat to PeerDown when the peer loses power on an
// idle or lossy link, with the budget and without. On an idle link it
// costs nothing; at 100 ms under 5% loss at most 0.1 s on average.
func TestProbeBudgetCost(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a measurement of 480 trials, too slow for -short and -race; TestProbeBudget checks the idle link")
	}
	for _, iv := range []time.Duration{100 * ms, 10 * ms} {
		for _, loss := range []float64{0, 0.05, 0.2} {
			mean, worst, none := budgetCost(t, iv, 15, loss, 40)
			free, freeWorst, freeNone := budgetCost(t, iv, -1, loss, 40)
			t.Logf("%v heartbeats, %v%% loss: PeerDown after %v on average, at worst %v, none within 3 s in %d of 40 (without a budget %v, %v, %d)",
				iv, 100*loss, mean, worst, none, free, freeWorst, freeNone)
			require.Zero(t, freeNone)
			switch {
			case loss == 0:
				require.Equal(t, free, mean, "an idle link pays nothing")
				require.Equal(t, 9*iv/4, mean)
				require.Zero(t, none)
			case iv == 100*ms && loss == 0.05:
				require.Less(t, mean-free, 100*ms)
			}
		}
	}
}
