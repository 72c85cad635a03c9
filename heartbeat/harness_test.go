package heartbeat

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
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
	id    uint16
	m     *Machine
	neigh NeighbourSource
	stop  func() bool
	down  bool   // the unit is dead: sends nothing, answers nothing
	mute  bool   // the unit sends no heartbeats but answers probes
	cut   []bool // its interface i is disconnected
	// probes holds when each ARP probe of the unit went out, by
	// interface index.
	probes map[int][]time.Time
	// sendFails: its sends fail (reported to its Machine), as a socket's
	// on a link that is down.
	sendFails bool
	reports   []Report
}

func neighbourAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i), 254}) }

// neighbourAddrs returns n neighbours of interface i (198.18.i.254 and
// down): every one answers probes as neighbourAddr does.
func neighbourAddrs(i, n int) []netip.Addr {
	var out []netip.Addr
	for k := range n {
		out = append(out, netip.AddrFrom4([4]byte{198, 18, byte(i), byte(254 - k)}))
	}
	return out
}

// isNeighbour reports whether a is one of neighbourAddrs(i, ...).
func isNeighbour(i int, a netip.Addr) bool {
	b := a.As4()
	return a.Is4() && b[0] == 198 && b[1] == 18 && int(b[2]) == i && b[3] >= 200
}
func unitAddr(id uint16, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(i), byte(id)})
}

var traceHarness = os.Getenv("HB_TRACE") != ""

type staticNeighbours map[string][]netip.Addr

func (s staticNeighbours) Neighbours(ifname string) ([]netip.Addr, error) { return s[ifname], nil }

func newHarness(t *testing.T, nifs int, cfg Config, ids ...uint16) *harness {
	t.Helper()
	return newHarnessOf(t, nifs, false, cfg, ids...)
}

// newHarnessOf is newHarness with routed interfaces (UDP: no ARP, no
// neighbours) if routed.
func newHarnessOf(t *testing.T, nifs int, routed bool, cfg Config, ids ...uint16) *harness {
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
			ifaces = append(ifaces, Interface{Name: name, Addr: unitAddr(id, i), Routed: routed})
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
	for _, p := range out.Probes {
		if u.probes == nil {
			u.probes = map[int][]time.Time{}
		}
		u.probes[p.Index] = append(u.probes[p.Index], h.clk.Now())
	}
	if traceHarness && u.id == 1 {
		for _, p := range out.Probes {
			h.t.Logf("%v u%d probe %v", h.clk.Now().Format("04:05.0000"), u.id, p.Target)
		}
		for _, r := range out.Reports {
			h.t.Logf("%v u%d %v", h.clk.Now().Format("04:05.0000"), u.id, r)
		}
	}
	if u.sendFails {
		for _, f := range out.Frames {
			u.m.SendFailed(h.clk.Now(), f.Interface)
		}
	}
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
				data, i, echo := f.Data, f.Index, f.Echo
				h.clk.AfterFunc(h.rtt/2, func() {
					if v.down || v.cut[i] {
						return
					}
					o, err := v.m.Receive(h.clk.Now(), h.ifnames[i], data)
					if echo || errors.Is(err, ErrStaleNonce) {
						// An echo of a unit not heard yet (a restart) is
						// dropped, as it should be.
						h.handle(v, o)
						return
					}
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
			answers := isNeighbour(p.Index, p.Target) && h.neighbours[p.Index]
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

// restart replaces unit id by a new start of it (a new Machine with a
// larger epoch), its Machine's first Tick now.
func (h *harness) restart(id uint16) *hunit {
	old := h.units[id]
	old.down = true
	if old.stop != nil {
		old.stop()
	}
	cfg := old.m.cfg
	cfg.Epoch++
	var ifaces []Interface
	for i, name := range h.ifnames {
		ifaces = append(ifaces, Interface{Name: name, Addr: unitAddr(id, i), Routed: old.m.ports[i].routed})
	}
	m, err := NewMachine(&cfg, ifaces...)
	require.NoError(h.t, err)
	u := &hunit{id: id, m: m, cut: make([]bool, len(h.ifnames)), neigh: old.neigh}
	h.units[id] = u
	h.tick(u)
	return u
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

// powerLoss cuts the power of unit peer, runs 2 s and returns unit id's one
// verdict, a PeerDown on interface 0, and how long after peer's last
// heartbeat there it came.
func (h *harness) powerLoss(id, peer uint16) (Report, time.Duration) {
	h.t.Helper()
	h.units[peer].down = true
	h.clk.RunFor(2 * time.Second)
	v := h.verdicts(id)
	require.Len(h.t, v, 1)
	require.Equal(h.t, PeerDown, v[0].State, v[0].Reason)
	return v[0], v[0].At.Sub(h.lastFrom(id, peer, 0))
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
