package heartbeat

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLossOnset: after a clean minute, loss starts at once on every frame,
// probe and reply of the link (one interface: nothing else to hear the
// peer on) and lasts 20 s. The link's history says it is clean when the
// first heartbeats go missing; no early verdict (nor any other) may
// follow: 0 in 1000 trials at each rate (100 with -short or -race).
func TestLossOnset(t *testing.T) {
	trials := 1000
	if testing.Short() || raceEnabled {
		trials = 100
	}
	for _, loss := range []float64{0.1, 0.2, 0.4} {
		t.Run(fmt.Sprint(loss), func(t *testing.T) {
			t.Parallel()
			var suspicions, early, probes, suppressed uint64
			var false_ []string
			for trial := range trials {
				h := newHarness(t, 1, earlyConfig(), 1, 2)
				h.rng = rand.New(rand.NewPCG(uint64(trial), uint64(1000*loss)))
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
