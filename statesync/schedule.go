package statesync

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/hakit/hakit"
)

// Unit is a member of an active-active cluster as the Schedule sees it.
type Unit struct {
	// ID is the unit's ID in the cluster (the one its heartbeats and its
	// election candidate carry); 0 is invalid.
	ID uint16
	// Weight is the unit's share of sessions relative to the others (a
	// unit of weight 2 owns about twice as many as one of weight 1). A
	// weight of 0 drains the unit: it owns nothing.
	Weight float64
}

// Schedule assigns every session to an owning unit by weighted rendezvous
// (highest random weight) hashing: each unit scores the session with a hash
// of the key and the unit's ID, scaled by its weight, and the highest score
// owns it. Every unit computes the same owner without talking to the
// others, since the hash is fixed (not seeded) and depends only on the key
// and the IDs. When a unit leaves, only its sessions move (spread over the
// others in proportion to their weights); when one joins, it takes about
// weight/total of the sessions, from all the others, and nothing else
// moves.
//
// A Schedule is immutable and safe for concurrent use; build a new one when
// membership changes.
type Schedule struct {
	units []schedUnit
}

type schedUnit struct {
	id     uint16
	seed   uint64
	weight float64
}

// NewSchedule returns the schedule over units. IDs must be nonzero and
// unique, weights finite and not negative and at least one positive;
// other units are refused with an
// error wrapping hakit.ErrConfig.
func NewSchedule(units []Unit) (*Schedule, error) {
	s := &Schedule{}
	seen := map[uint16]bool{}
	positive := false
	for _, u := range units {
		switch {
		case u.ID == 0:
			return nil, fmt.Errorf("statesync: schedule: unit ID 0: %w", hakit.ErrConfig)
		case seen[u.ID]:
			return nil, fmt.Errorf("statesync: schedule: duplicate unit %d: %w", u.ID, hakit.ErrConfig)
		case u.Weight < 0 || math.IsNaN(u.Weight) || math.IsInf(u.Weight, 0):
			return nil, fmt.Errorf("statesync: schedule: unit %d weight %v: %w", u.ID, u.Weight, hakit.ErrConfig)
		}
		seen[u.ID] = true
		positive = positive || u.Weight > 0
		h := fnv.New64a()
		h.Write([]byte{byte(u.ID >> 8), byte(u.ID)})
		s.units = append(s.units, schedUnit{id: u.ID, seed: h.Sum64(), weight: u.Weight})
	}
	if !positive {
		return nil, fmt.Errorf("statesync: schedule: no unit with a positive weight: %w", hakit.ErrConfig)
	}
	// A fixed order makes ties (practically impossible) deterministic.
	slices.SortFunc(s.units, func(a, b schedUnit) int { return cmp.Compare(a.id, b.id) })
	return s, nil
}

// Owner returns the ID of the unit that owns the session with key k.
func (s *Schedule) Owner(k Key) uint16 {
	c := packKey(&k)
	return s.owner(hashKey(&c, 0))
}

// owner returns the unit that owns the item whose hash is kh.
func (s *Schedule) owner(kh uint64) uint16 {
	best, bestScore := 0, math.Inf(-1)
	for i := range s.units {
		u := &s.units[i]
		if u.weight == 0 {
			continue
		}
		h := mix(kh^u.seed, hk3)
		// A uniform number in (0, 1), then the weighted score
		// -w/ln(u): the unit with the highest score wins with
		// probability proportional to w.
		x := (float64(h>>11) + 0.5) / (1 << 53)
		score := -u.weight / math.Log(x)
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return s.units[best].id
}

// Owns reports whether unit id owns the session with key k.
func (s *Schedule) Owns(id uint16, k Key) bool { return s.Owner(k) == id }

// Filter returns a function selecting the sessions unit id owns, for
// SenderConfig.Filter.
func (s *Schedule) Filter(id uint16) func(*Session) bool {
	return func(sess *Session) bool { return s.Owner(sess.Key) == id }
}
