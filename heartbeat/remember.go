package heartbeat

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hakit/hakit"
)

// RememberNeighbours returns a NeighbourSource that lists what src lists
// now plus the neighbours src listed within the last keep. The kernel empties
// an interface's neighbour cache when the link loses carrier or its MAC
// changes (a virtual MAC put on or taken off), and an empty list leaves EIFD
// with nothing to probe but the peer; neighbours seen a little earlier
// still answer ARP and tell a working local link from a broken one.
//
// A nil clk means hakit.RealClock(). src errors are returned with the
// remembered neighbours, so a failing source does not empty the list.
// The returned source is safe for concurrent use.
func RememberNeighbours(src NeighbourSource, keep time.Duration, clk hakit.Clock) NeighbourSource {
	if clk == nil {
		clk = hakit.RealClock()
	}
	return &rememberer{src: src, keep: keep, clk: clk, seen: map[string]map[netip.Addr]time.Time{}}
}

type rememberer struct {
	src  NeighbourSource
	keep time.Duration
	clk  hakit.Clock

	mu   sync.Mutex
	seen map[string]map[netip.Addr]time.Time // interface → neighbour → last listed
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
	for _, a := range cur {
		seen[a] = now
	}
	out := make([]netip.Addr, 0, len(seen))
	for a, at := range seen {
		if now.Sub(at) > r.keep {
			delete(seen, a)
			continue
		}
		out = append(out, a)
	}
	// Current neighbours first, in the source's order, then the remembered
	// ones in address order: EIFD probes at most a few.
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		ca, cb := slices.Contains(cur, a), slices.Contains(cur, b)
		switch {
		case ca && cb:
			return slices.Index(cur, a) - slices.Index(cur, b)
		case ca:
			return -1
		case cb:
			return 1
		}
		return a.Compare(b)
	})
	return out, err
}
