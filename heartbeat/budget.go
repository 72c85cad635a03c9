package heartbeat

import "time"

// budgetSpan is the span over which Config.ProbeBudget counts probes.
const budgetSpan = time.Second

// maxProbeBudget bounds Config.ProbeBudget (the budget keeps one time per
// probe it allows within budgetSpan).
const maxProbeBudget = 10000

// probeBudget allows at most limit probes within any budgetSpan: a sliding
// window over the send times of the last limit probes. A negative limit
// allows everything.
type probeBudget struct {
	limit int
	times []time.Time // ring of the newest send times, at most limit
	head  int         // oldest entry once the ring is full
}

func newProbeBudget(limit int) probeBudget { return probeBudget{limit: limit} }

// free returns how many probes may be sent at now (MaxInt-like when
// unlimited).
func (b *probeBudget) free(now time.Time) int {
	if b.limit < 0 {
		return 1 << 30
	}
	used := 0
	for _, t := range b.times {
		if now.Sub(t) < budgetSpan {
			used++
		}
	}
	return b.limit - used
}

// take records a probe sent at now if the budget leaves more than reserve
// probes free, and reports whether it did.
func (b *probeBudget) take(now time.Time, reserve int) bool {
	if b.limit < 0 {
		return true
	}
	if b.free(now) <= reserve {
		return false
	}
	if len(b.times) < b.limit {
		b.times = append(b.times, now)
		return true
	}
	// The ring is full and its oldest entry is older than budgetSpan
	// (free found a slot): replace it.
	b.times[b.head] = now
	b.head = (b.head + 1) % len(b.times)
	return true
}
