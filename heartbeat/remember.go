package heartbeat

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// DefaultRememberLimit is how many neighbours RememberNeighbours keeps per
// interface besides the current ones: EIFD probes a few, and a segment
// flooded with fake addresses must not grow the memory or the time of a
// lookup.
const DefaultRememberLimit = 256

// RememberNeighbours returns a NeighbourSource that lists what src lists
// now plus the neighbours src listed within the last keep. The kernel empties
// an interface's neighbour cache when the link loses carrier or its MAC
// changes (a virtual MAC put on or taken off), and an empty list leaves EIFD
// with nothing to probe but the peer; neighbours seen a little earlier
// still answer ARP and tell a working local link from a broken one. At most
// DefaultRememberLimit neighbours no longer listed are kept per interface,
// the most recently listed (see RememberNeighboursLimit).
//
// A nil clk means hakit.RealClock(). src errors are returned with the
// remembered neighbours, so a failing source does not empty the list.
// The returned source is safe for concurrent use.
func RememberNeighbours(src NeighbourSource, keep time.Duration, clk hakit.Clock) NeighbourSource {
	return RememberNeighboursLimit(src, keep, DefaultRememberLimit, clk)
}

// RememberNeighboursLimit is RememberNeighbours keeping at most limit
// neighbours per interface besides the current ones (limit < 1 means
// DefaultRememberLimit); beyond it the least recently listed are forgotten
// first, and counted (see RememberedEvictions).
func RememberNeighboursLimit(src NeighbourSource, keep time.Duration, limit int, clk hakit.Clock) NeighbourSource {
	if clk == nil {
		clk = hakit.RealClock()
	}
	if limit < 1 {
		limit = DefaultRememberLimit
	}
	return &rememberer{src: src, keep: keep, limit: limit, clk: clk, seen: map[string]map[netip.Addr]time.Time{}}
}

// RememberedEvictions returns how many neighbours src, a source returned
// by RememberNeighbours, forgot because of its limit; 0 for other sources.
func RememberedEvictions(src NeighbourSource) uint64 {
	if r, ok := src.(*rememberer); ok {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.evicted
	}
	return 0
}

type rememberer struct {
	src   NeighbourSource
	keep  time.Duration
	limit int
	clk   hakit.Clock

	mu      sync.Mutex
	seen    map[string]map[netip.Addr]time.Time // interface → neighbour → last listed
	evicted uint64
}

func (r *rememberer) Neighbours(ifname string) ([]netip.Addr, error) {
	now := r.clk.Now()
	cur, err := r.src.Neighbours(ifname)
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := r.seen[ifname]
	if seen == nil {
		seen = map[netip.Addr]time.Time{}
		r.seen[ifname] = seen
	}
	listed := make(map[netip.Addr]bool, len(cur))
	out := make([]netip.Addr, 0, len(cur)+min(len(seen), r.limit))
	// Current neighbours first, in the source's order, then the remembered
	// ones in address order: EIFD probes at most a few.
	for _, a := range cur {
		seen[a] = now
		if !listed[a] {
			listed[a] = true
			out = append(out, a)
		}
	}
	type old struct {
		a  netip.Addr
		at time.Time
	}
	var rest []old
	for a, at := range seen {
		switch {
		case listed[a]:
		case now.Sub(at) > r.keep:
			delete(seen, a)
		default:
			rest = append(rest, old{a, at})
		}
	}
	if len(rest) > r.limit {
		// Least recently listed first; equal times by address, so the
		// choice does not depend on map order.
		slices.SortFunc(rest, func(x, y old) int {
			if c := x.at.Compare(y.at); c != 0 {
				return c
			}
			return x.a.Compare(y.a)
		})
		drop := len(rest) - r.limit
		for _, o := range rest[:drop] {
			delete(seen, o.a)
		}
		r.evicted += uint64(drop)
		rest = rest[drop:]
	}
	slices.SortFunc(rest, func(x, y old) int { return x.a.Compare(y.a) })
	for _, o := range rest {
		out = append(out, o.a)
	}
	return out, err
}
