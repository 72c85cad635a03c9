package heartbeat

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLossOnset: after a clean minute, loss starts at once on every frame,
// probe and reply of the link (one interface: nothing else to hear the
// peer on) and lasts 20 s. The link's history says it is clean when the
// first heartbeats go missing; no early verdict (nor any other) may
// follow: 0 in 1000 trials at each rate (100 with -short or -race). With
// a round trip of 0 (answers in the instant of their request, as on a
// simulated clock) requests left unanswered in the instant the peer
// answered others are loss while it was alive, not its silence.
func TestLossOnset(t *testing.T) {
	trials := 1000
	if testing.Short() || raceEnabled {
		trials = 100
	}
	for _, tc := range []struct {
		loss float64
		rtt  time.Duration
	}{{0.1, 200 * time.Microsecond}, {0.2, 200 * time.Microsecond}, {0.4, 200 * time.Microsecond}, {0.2, 0}} {
		trials := trials
		if tc.rtt == 0 {
			trials /= 4
		}
		loss := tc.loss
		t.Run(fmt.Sprintf("%v/rtt=%v", loss, tc.rtt), func(t *testing.T) {
			t.Parallel()
			var suspicions, early, probes, suppressed uint64
			var false_ []string
			for trial := range trials {
				h := newHarness(t, 1, earlyConfig(), 1, 2)
				h.rng = rand.New(rand.NewPCG(uint64(trial), uint64(1000*loss)))
				h.rtt = tc.rtt
				h.clk.RunFor(time.Minute)
				onset := h.clk.Now()
				h.loss = loss
				h.clk.RunFor(20 * time.Second)
				for _, id := range h.ids {
					for _, v := range h.verdicts(id) {
						false_ = append(false_, fmt.Sprintf("trial %d, unit %d, %v after the onset: %v", trial, id, v.At.Sub(onset), v))
					}
					c := h.units[id].m.Counters()
					suspicions += c.Suspicions
					early += c.EarlyVerdicts
					probes += c.ProbesSent
					suppressed += c.ProbesSuppressed
				}
			}
			t.Logf("%d trials: %d suspicions, %d probes sent, %d held back by the budget, %d verdicts", trials, suspicions, probes, suppressed, len(false_))
			for _, f := range false_ {
				t.Error(f)
			}
			if suspicions == 0 {
				t.Fatal("the loss started no suspicion")
			}
		})
	}
}

// TestEarlyVerdictShortHistory: a pair that has run only a few seconds (a
// unit just started, twenty heartbeats of history) still gets the early
// verdict 0.225 s after the peer's last heartbeat when the peer loses
// power: the onset bound, not the silence counted into a short history,
// guards the verdict where a neighbour answers.
func TestEarlyVerdictShortHistory(t *testing.T) {
	for _, run := range []time.Duration{2 * time.Second, 3 * time.Second, 5 * time.Second, time.Minute} {
		t.Run(run.String(), func(t *testing.T) {
			h := newHarness(t, 1, earlyConfig(), 1, 2)
			h.clk.RunFor(run + 30*ms)
			v, after := h.powerLoss(1, 2)
			require.Equal(t, 225*ms, after, v.Reason)
		})
	}
}
