package heartbeat

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/clock"
)

// harness runs Machines on a simulated clock over a scripted network: each
// unit has the same interfaces; an interface can be cut (no frames in or out,
// no probe replies); a neighbour on each interface answers probes; the
// heartbeats can be dropped at random.
type harness struct {
	t        *testing.T
	clk      *clock.Sim
	ifnames  []string
	units    map[uint16]*hunit
	ids      []uint16
	rtt      time.Duration
	loss     float64   // probability each frame, probe or reply is lost
	linkLoss []float64 // more loss on interface i
	rng      *rand.Rand
	// neighbours[i] answers probes on interface i when true.
	neighbours []bool
	// last[to][peer][iface]: when the newest heartbeat was delivered.
	last map[uint16]map[uint16][]time.Time
}

type hunit struct {
	id      uint16
	m       *Machine
	neigh   NeighbourSource
	stop    func() bool
	down    bool   // the unit is dead: sends nothing, answers nothing
	mute    bool   // the unit sends no heartbeats but answers probes
	cut     []bool // its interface i is disconnected
	reports []Report
}

func neighbourAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i), 254}) }
func unitAddr(id uint16, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(i), byte(id)})
}

type staticNeighbours map[string][]netip.Addr

func (s staticNeighbours) Neighbours(ifname string) ([]netip.Addr, error) { return s[ifname], nil }

func newHarness(t *testing.T, nifs int, cfg Config, ids ...uint16) *harness {
	t.Helper()
	h := &harness{
		t: t, clk: clock.NewSim(time.Time{}), units: map[uint16]*hunit{}, ids: ids,
		rtt: 200 * time.Microsecond, rng: rand.New(rand.NewPCG(1, 2)),
		last: map[uint16]map[uint16][]time.Time{},
	}
	ns := staticNeighbours{}
	for i := range nifs {
		name := fmt.Sprintf("eth%d", i)
		h.ifnames = append(h.ifnames, name)
		h.neighbours = append(h.neighbours, true)
		ns[name] = []netip.Addr{neighbourAddr(i)}
	}
	for _, id := range ids {
		c := cfg
		c.UnitID = id
		c.Epoch = 1
		if c.Neighbours == nil {
			c.Neighbours = ns
		}
		var ifaces []Interface
		for i, name := range h.ifnames {
			ifaces = append(ifaces, Interface{Name: name, Addr: unitAddr(id, i)})
		}
		m, err := NewMachine(&c, ifaces...)
		require.NoError(t, err)
		h.units[id] = &hunit{id: id, m: m, cut: make([]bool, nifs), neigh: c.Neighbours}
		h.last[id] = map[uint16][]time.Time{}
	}
	for _, id := range ids {
		h.tick(h.units[id])
	}
	return h
}

func (h *harness) lost() bool { return h.loss > 0 && h.rng.Float64() < h.loss }

// lostOn is lost plus the extra loss of interface i (linkLoss).
func (h *harness) lostOn(i int) bool {
	return h.lost() || i < len(h.linkLoss) && h.linkLoss[i] > 0 && h.rng.Float64() < h.linkLoss[i]
}

func (h *harness) schedule(u *hunit) {
	if u.stop != nil {
		u.stop()
	}
	next := u.m.Next()
	u.stop = h.clk.AfterFunc(next.Sub(h.clk.Now()), func() { h.tick(u) })
}

// tick ticks u's Machine, feeding it first, as a Driver does, the neighbour
// lists it asks for.
func (h *harness) tick(u *hunit) {
	now := h.clk.Now()
	for _, name := range u.m.NeedNeighbours(now) {
		ns, err := u.neigh.Neighbours(name)
		require.NoError(h.t, err)
		require.NoError(h.t, u.m.SetNeighbours(name, ns))
	}
	h.handle(u, u.m.Tick(now))
}

func (h *harness) handle(u *hunit, out Output) {
	u.reports = append(u.reports, out.Reports...)
	if !u.down && !u.mute {
		for _, f := range out.Frames {
			if u.cut[f.Index] {
				continue
			}
			for _, id := range h.ids {
				v := h.units[id]
				if v == u || v.down || v.cut[f.Index] || h.lostOn(f.Index) {
					continue
				}
				data, i := f.Data, f.Index
				h.clk.AfterFunc(h.rtt/2, func() {
					if v.down || v.cut[i] {
						return
					}
					o, err := v.m.Receive(h.clk.Now(), h.ifnames[i], data)
					require.NoError(h.t, err)
					lt := h.last[v.id][u.id]
					if lt == nil {
						lt = make([]time.Time, len(h.ifnames))
						h.last[v.id][u.id] = lt
					}
					lt[i] = h.clk.Now()
					h.handle(v, o)
				})
			}
		}
	}
	if !u.down {
		for _, p := range out.Probes {
			if u.cut[p.Index] || h.lostOn(p.Index) || h.lostOn(p.Index) {
				continue
			}
			answers := p.Target == neighbourAddr(p.Index) && h.neighbours[p.Index]
			for _, id := range h.ids {
				v := h.units[id]
				if v != u && !v.down && !v.cut[p.Index] && p.Target == unitAddr(id, p.Index) {
					answers = true
				}
			}
			if !answers {
				continue
			}
			p := p
			h.clk.AfterFunc(h.rtt, func() {
				if u.down || u.cut[p.Index] {
					return
				}
				h.handle(u, u.m.ProbeReply(h.clk.Now(), p.Interface, p.Target))
			})
		}
	}
	h.schedule(u)
}

// lastFrom returns when unit to last received a heartbeat of from on
// interface i.
func (h *harness) lastFrom(to, from uint16, i int) time.Time { return h.last[to][from][i] }

// reportsSince returns u's reports at or after t.
func (h *harness) reportsSince(id uint16, t time.Time) []Report {
	var out []Report
	for _, r := range h.units[id].reports {
		if !r.At.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) verdicts(id uint16) []Report {
	var out []Report
	for _, r := range h.units[id].reports {
		if r.State.Verdict() {
			out = append(out, r)
		}
	}
	return out
}
