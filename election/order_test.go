package election

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func TestOrderRules(t *testing.T) {
	base := Candidate{Role: hakit.Secondary, Priority: 128, Monitored: 3, InSync: true, Age: time.Hour}
	with := func(unit uint16, f func(c *Candidate)) Candidate {
		c := base
		c.Unit = unit
		if f != nil {
			f(&c)
		}
		return c
	}
	tests := []struct {
		name   string
		order  Order
		a, b   Candidate
		winner uint16
		rule   Rule
		reason string
	}{
		{"healthy beats degraded", Order{}, with(1, func(c *Candidate) { c.Degraded = true; c.Monitored = 9 }), with(2, nil),
			2, RuleHealthy, "unit 2 selected: no interface malfunction, unit 1 is degraded"},
		{"available beats maintenance", Order{}, with(1, func(c *Candidate) { c.Maintenance = true }), with(2, nil),
			2, RuleAvailable, "unit 2 selected: not in maintenance, unit 1 is"},
		{"more monitored interfaces", Order{}, with(1, func(c *Candidate) { c.Monitored = 2; c.Priority = 255 }), with(2, nil),
			2, RuleMonitored, "unit 2 selected: more monitored interfaces up, 3 > 2"},
		{"in sync", Order{}, with(1, func(c *Candidate) { c.InSync = false; c.Age = 9 * time.Hour }), with(2, nil),
			2, RuleInSync, "unit 2 selected: session table in sync, unit 1's is not"},
		{"older beyond margin", Order{AgeMargin: 5 * time.Minute}, with(1, func(c *Candidate) { c.Priority = 255 }), with(2, func(c *Candidate) { c.Age += 5*time.Minute + time.Second }),
			2, RuleAge, "unit 2 selected: older by more than the 5m0s margin, 1h5m1s > 1h0m0s"},
		{"ages within margin are equal", Order{AgeMargin: 5 * time.Minute}, with(1, func(c *Candidate) { c.Priority = 1 }), with(2, func(c *Candidate) { c.Age += 5 * time.Minute }),
			2, RulePriority, "unit 2 selected: higher priority, 128 > 1"},
		{"override puts priority first", Order{Override: true, AgeMargin: 5 * time.Minute}, with(1, func(c *Candidate) { c.Age = 0; c.Priority = 200 }), with(2, nil),
			1, RulePriority, "unit 1 selected: higher priority, 200 > 128"},
		{"override still uses age", Order{Override: true, AgeMargin: 5 * time.Minute}, with(1, func(c *Candidate) { c.Age = 0 }), with(2, nil),
			2, RuleAge, "unit 2 selected: older by more than the 5m0s margin, 1h0m0s > 0s"},
		{"lower unit ID last", Order{AgeMargin: 5 * time.Minute}, with(4, nil), with(3, func(c *Candidate) { c.Role = hakit.Primary }),
			3, RuleUnit, "unit 3 selected: lower unit ID, 3 < 4, all else equal"},
		{"ignore age", Order{IgnoreAge: true}, with(1, func(c *Candidate) { c.Age = 0 }), with(2, nil),
			1, RuleUnit, "unit 1 selected: lower unit ID, 1 < 2, all else equal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range []Selection{tt.order.Compare(tt.a, tt.b), tt.order.Compare(tt.b, tt.a)} {
				require.Equal(t, tt.winner, s.Winner.Unit)
				require.Equal(t, tt.rule, s.Rule)
				require.Equal(t, tt.reason, s.Reason())
			}
		})
	}
	require.Equal(t, "unit 5 selected: only candidate", Order{}.Select([]Candidate{with(5, nil)}).Reason())
	require.Equal(t, "no candidate", Order{}.Select(nil).Reason())
}

// TestOrderMarginIsPerSet shows why the order is defined over a set: with
// a 5-minute margin, 1 ~ 2 and 2 ~ 3 by age, but 3 is older than 1 beyond
// the margin. Pairwise comparisons would cycle; the filters do not.
func TestOrderMarginIsPerSet(t *testing.T) {
	o := Order{AgeMargin: 5 * time.Minute}
	a := Candidate{Unit: 1, Role: hakit.Secondary, Priority: 3, Age: 0}
	b := Candidate{Unit: 2, Role: hakit.Secondary, Priority: 2, Age: 3 * time.Minute}
	c := Candidate{Unit: 3, Role: hakit.Secondary, Priority: 1, Age: 6 * time.Minute}
	require.Equal(t, uint16(1), o.Compare(a, b).Winner.Unit)
	require.Equal(t, uint16(2), o.Compare(b, c).Winner.Unit)
	require.Equal(t, uint16(3), o.Compare(a, c).Winner.Unit)
	// The set: 3 is the oldest; 2 is within the margin of it, 1 is not.
	// Between 2 and 3, priority: 2.
	s := o.Select([]Candidate{a, b, c})
	require.Equal(t, uint16(2), s.Winner.Unit)
	require.Equal(t, uint16(3), s.RunnerUp.Unit)
	require.Equal(t, RulePriority, s.Rule)
	require.Equal(t, []uint16{2, 3, 1}, units(o.Rank([]Candidate{c, a, b})))
}

func units(cs []Candidate) []uint16 {
	out := make([]uint16, len(cs))
	for i, c := range cs {
		out[i] = c.Unit
	}
	return out
}

func randomCandidates(r *rand.Rand, n int) []Candidate {
	ids := r.Perm(1000)
	cs := make([]Candidate, n)
	for i := range cs {
		cs[i] = Candidate{
			Unit:        uint16(ids[i] + 1),
			Role:        hakit.Role(1 + r.IntN(3)),
			Priority:    []uint8{1, 128, 128, 200}[r.IntN(4)],
			Monitored:   uint16(r.IntN(4)),
			InSync:      r.IntN(10) < 7,
			Age:         time.Duration(r.IntN(21)) * time.Minute,
			Maintenance: r.IntN(5) == 0,
			Degraded:    r.IntN(5) == 0,
		}
	}
	return cs
}

// naiveRank is the deliberately naive second implementation: it sorts by a
// key tuple, and handles the age margin by grouping the candidates that tie
// on everything before age, then taking the oldest group's survivors.
func naiveRank(o Order, in []Candidate) []Candidate {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	health := func(c Candidate) [4]int {
		return [4]int{b2i(!c.Degraded), b2i(!c.Maintenance), int(c.Monitored), b2i(c.InSync)}
	}
	cmpHealth := func(a, b Candidate) int { hb, ha := health(b), health(a); return slices.Compare(hb[:], ha[:]) }
	pick := func(cs []Candidate) Candidate {
		cs = slices.Clone(cs)
		slices.SortStableFunc(cs, cmpHealth)
		top := []Candidate{}
		for _, c := range cs {
			if cmpHealth(c, cs[0]) == 0 {
				top = append(top, c)
			}
		}
		if o.Override {
			slices.SortStableFunc(top, func(a, b Candidate) int { return cmp.Compare(b.Priority, a.Priority) })
			top = slices.DeleteFunc(top, func(c Candidate) bool { return c.Priority != top[0].Priority })
		}
		oldest := slices.MaxFunc(top, func(a, b Candidate) int { return cmp.Compare(a.Age, b.Age) }).Age
		top = slices.DeleteFunc(top, func(c Candidate) bool { return oldest-c.Age > o.AgeMargin })
		return slices.MinFunc(top, func(a, b Candidate) int {
			return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.Unit, b.Unit))
		})
	}
	var out []Candidate
	rest := slices.Clone(in)
	for len(rest) > 0 {
		w := pick(rest)
		out = append(out, w)
		rest = slices.DeleteFunc(rest, func(c Candidate) bool { return c.Unit == w.Unit })
	}
	return out
}

// tupleRank is a plain sort by the full key tuple, which is the order when
// the age margin is zero.
func tupleRank(o Order, in []Candidate) []Candidate {
	key := func(c Candidate) []int64 {
		b := func(x bool) int64 {
			if x {
				return 1
			}
			return 0
		}
		k := []int64{b(!c.Degraded), b(!c.Maintenance), int64(c.Monitored), b(c.InSync), int64(c.Age), int64(c.Priority)}
		if o.Override {
			k[4], k[5] = k[5], k[4]
		}
		return append(k, -int64(c.Unit))
	}
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b Candidate) int { return slices.Compare(key(b), key(a)) })
	return out
}

func TestOrderProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		o := Order{Override: i%2 == 1, AgeMargin: []time.Duration{0, 5 * time.Minute}[i/2%2]}
		cs := randomCandidates(r, 1+r.IntN(8))
		got := o.Rank(cs)
		require.Equal(t, units(naiveRank(o, cs)), units(got), "order %+v, candidates %+v", o, cs)
		if o.AgeMargin == 0 {
			require.Equal(t, units(tupleRank(o, cs)), units(got), "order %+v, candidates %+v", o, cs)
		}
		shuffled := slices.Clone(cs)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		require.Equal(t, units(got), units(o.Rank(shuffled)), "independent of input order")
		s := o.Select(cs)
		require.Equal(t, got[0], s.Winner)
		if len(cs) > 1 {
			require.Equal(t, got[1], s.RunnerUp)
			require.NotEqual(t, RuleNone, s.Rule)
			a, b := cs[0], cs[len(cs)-1]
			require.Equal(t, o.Compare(a, b).Winner, o.Compare(b, a).Winner, "antisymmetric")
		}
	}
}

func TestSelectDoesNotAllocate(t *testing.T) {
	cs := randomCandidates(rand.New(rand.NewPCG(3, 4)), 8)
	o := Order{AgeMargin: 5 * time.Minute}
	require.Zero(t, testing.AllocsPerRun(100, func() { o.Select(cs) }))
}

func BenchmarkSelect8(b *testing.B) {
	cs := randomCandidates(rand.New(rand.NewPCG(3, 4)), 8)
	o := Order{AgeMargin: 5 * time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		o.Select(cs)
	}
}
