package member

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// Share is how an active-active cluster splits its sessions at one moment:
// the units that carry traffic, and the owner of every bucket
// (statesync.Bucket). Every unit that hears the same units computes the
// same Share.
type Share struct {
	// Units are the units that carry traffic, ascending.
	Units []uint16
	// Owners[b] is the unit that owns bucket b.
	Owners []uint16
	// Reason says in words why the share changed.
	Reason string
	// At is when it changed.
	At time.Time
}

// Owner returns the unit that owns the session with key k; 0 when no
// unit carries traffic.
func (s *Share) Owner(k statesync.Key) uint16 {
	if len(s.Owners) == 0 {
		return 0
	}
	return s.Owners[statesync.Bucket(k, len(s.Owners))]
}

// roster is the pure core of an active-active unit: from the heartbeats'
// reports it decides which units carry traffic. A peer carries traffic
// while it is heard on some interface and no interface has the verdict
// that it (or its interface there) failed; this unit carries traffic from
// the moment it hears a peer or its initial wait (the time a peer takes
// to be declared dead) has passed, so that a unit that starts in a
// running cluster takes no bucket before it knows the others, and for as
// long as none of its interfaces has a local-fault verdict.
type roster struct {
	self    uint16
	all     []uint16 // every unit of the cluster; nil: not known (an unnamed peer)
	buckets int
	wait    time.Time // until then, this unit waits for its peers
	joined  bool
	emitted bool // a share was returned: units is the current one
	states  map[uint16]map[string]heartbeat.State
	units   []uint16
}

// faulty reports whether this unit has the verdict that one of its own
// interfaces is broken (for some peer there): it then carries no
// traffic, as its peers, which see its interface fail (PeerFault), take
// its buckets.
func (r *roster) faulty() bool {
	for _, ifs := range r.states {
		for _, s := range ifs {
			if s == heartbeat.LocalFault {
				return true
			}
		}
	}
	return false
}

func newRoster(now time.Time, self uint16, all []uint16, buckets int, wait time.Duration) *roster {
	return &roster{self: self, all: all, buckets: buckets, wait: now.Add(wait), states: map[uint16]map[string]heartbeat.State{}}
}

// report takes a heartbeat report.
func (r *roster) report(rep heartbeat.Report) {
	if r.states[rep.Peer] == nil {
		r.states[rep.Peer] = map[string]heartbeat.State{}
	}
	r.states[rep.Peer][rep.Interface] = rep.State
}

// carries reports whether the peer carries traffic.
func (r *roster) carries(peer uint16) bool {
	heard := false
	for _, s := range r.states[peer] {
		switch s {
		case heartbeat.PeerDown, heartbeat.PeerFault:
			return false
		case heartbeat.Alive, heartbeat.Suspect:
			heard = true
		}
	}
	return heard
}

// tick returns the share when the units that carry traffic changed, and
// ok false otherwise.
func (r *roster) tick(now time.Time) (Share, bool) {
	var units []uint16
	heard := false
	for _, p := range slices.Sorted(maps.Keys(r.states)) {
		if r.carries(p) && (r.all == nil || slices.Contains(r.all, p)) {
			units, heard = append(units, p), true
		}
	}
	if !r.joined && (heard || !now.Before(r.wait)) {
		r.joined = true
	}
	if r.joined && !r.faulty() {
		units = append(units, r.self)
		slices.Sort(units)
	}
	if r.emitted && slices.Equal(units, r.units) {
		return Share{}, false
	}
	r.emitted = true
	gone, came := diff(r.units, units), diff(units, r.units)
	r.units = units
	s := Share{Units: slices.Clone(units), At: now, Owners: make([]uint16, r.buckets)}
	switch {
	case r.all != nil:
		s.Owners = statesync.DealBuckets(r.all, units, r.buckets)
	case len(units) > 0:
		ws := make([]statesync.Unit, len(units))
		for i, u := range units {
			ws[i] = statesync.Unit{ID: u, Weight: 1}
		}
		sched, err := statesync.NewSchedule(ws)
		if err != nil {
			panic("member: schedule of valid unit IDs: " + err.Error())
		}
		s.Owners = sched.Buckets(r.buckets)
	}
	var why []string
	if len(came) > 0 {
		why = append(why, "joined: "+ids(came))
	}
	if len(gone) > 0 {
		why = append(why, "left: "+ids(gone))
	}
	if len(why) == 0 {
		why = append(why, "waiting for peers")
	}
	s.Reason = fmt.Sprintf("%d units carry traffic (%s)", len(units), strings.Join(why, "; "))
	return s, true
}

// diff returns the IDs in a but not in b.
func diff(a, b []uint16) []uint16 {
	var out []uint16
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func ids(us []uint16) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = fmt.Sprint(u)
	}
	return "unit " + strings.Join(s, ", ")
}
