package election

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
)

// This file is a small test-only stand-in for the heartbeat layer, so that
// the election can be tested on the simulated segment before and without
// the heartbeat package. Every unit broadcasts a heartbeat (sequence number
// and encoded Candidate) every Interval. A peer silent for two intervals is
// suspected, as in Clavister's Early Interface Failure Detection; the unit
// then probes the peer itself (a unicast probe the peer answers) every
// probeEvery, and declares it lost only after enough unanswered probes to
// make a false verdict unlikely at the loss the link has shown recently
// (the idea of DESIGN.md's "not fooled" section). Any heartbeat or answer
// ends the suspicion.

const (
	simEtherType = 0x88b5 // IEEE local experimental
	kindHB       = 1
	kindProbe    = 2
	kindReply    = 3
	probeEvery   = 20 * time.Millisecond
	// falseLostTarget is the accepted chance that a suspected live peer is
	// declared lost.
	falseLostTarget = 1e-9
	// latency is each port's one-way latency, so a frame takes 2*latency.
	latency = 250 * time.Microsecond
)

type roleChange struct {
	at       time.Time
	unit     uint16
	from, to hakit.Role
	reason   string
}

type simCluster struct {
	t       testing.TB
	sim     *clock.Sim
	seg     *simnet.Segment
	units   []*simUnit
	config  func(unit uint16) Config
	changes []roleChange
	log     bool
	// overlaps records every moment a role change left two or more units
	// primary. Roles change only in callbacks, so checking after each change
	// checks every instant.
	overlaps []string
	// plainMisses, when not zero, replaces the probing liveness rule with
	// plain miss counting: a peer silent for plainMisses intervals is lost.
	plainMisses int
}

type simUnit struct {
	c           *simCluster
	id          uint16
	mac         net.HardwareAddr
	port        *simnet.Port
	d           *Driver
	up          bool
	seq         uint32
	monitored   uint16
	inSync      bool
	stopHB      func() bool
	stopMon     func() bool
	peers       map[uint16]*liveness
	reannounces int
}

type liveness struct {
	mac       net.HardwareAddr
	lastHeard time.Time
	lastSeq   uint32
	loss      float64 // moving average of heartbeat loss
	probing   bool
	probes    int
}

// newSimCluster builds n units (IDs 1..n) on one segment of a simulated
// clock; config (nil: DefaultConfig) gives each unit's Config.
func newSimCluster(t testing.TB, n int, seed int64, config func(unit uint16) Config) *simCluster {
	t.Helper()
	if config == nil {
		config = func(u uint16) Config { return *unitConfig(u) }
	}
	sim := clock.NewSim(time.Time{})
	c := &simCluster{t: t, sim: sim, seg: simnet.New(&simnet.Config{Clock: sim, Seed: seed}), config: config}
	for i := range n {
		id := uint16(i + 1)
		u := &simUnit{c: c, id: id, mac: net.HardwareAddr{0x02, 0, 0, 0, 0, byte(id)}, monitored: 2, inSync: true}
		u.port = c.seg.Attach(fmt.Sprintf("unit%d", id), u.mac)
		u.port.SetHandler(u.receive)
		u.port.SetLatency(latency)
		c.units = append(c.units, u)
	}
	return c
}

func (c *simCluster) unit(id uint16) *simUnit { return c.units[id-1] }

func (c *simCluster) startAll() {
	for _, u := range c.units {
		u.start()
	}
}

func (u *simUnit) start() {
	c := u.c
	cfg := c.config(u.id)
	cfg.Clock = c.sim
	d, err := NewDriver(&cfg, u.output)
	require.NoError(c.t, err)
	u.d, u.up = d, true
	u.peers = make(map[uint16]*liveness)
	d.Local(Status{Monitored: u.monitored, InSync: u.inSync})
	d.Start()
	u.stopHB = c.sim.AfterFunc(0, u.heartbeat)
	u.stopMon = c.sim.AfterFunc(probeEvery, u.monitor)
}

// crash stops the unit dead: no more heartbeats, answers or decisions.
func (u *simUnit) crash() {
	u.up = false
	u.d.Close()
	u.stopHB()
	u.stopMon()
}

func (u *simUnit) role() hakit.Role {
	if !u.up {
		return 0
	}
	return u.d.Role()
}

func (u *simUnit) setLink(monitored uint16) {
	u.monitored = monitored
	if u.up {
		u.d.Local(Status{Monitored: monitored, InSync: u.inSync})
	}
}

func (u *simUnit) output(o Output) {
	if o.Changed {
		ch := roleChange{at: u.c.sim.Now(), unit: u.id, to: o.Role, reason: o.Reason}
		for _, e := range o.Events {
			if e.Kind == EventRoleChange {
				ch.from = e.From
			}
		}
		u.c.changes = append(u.c.changes, ch)
		if p := u.c.primaries(); len(p) > 1 {
			u.c.overlaps = append(u.c.overlaps, fmt.Sprintf("%v: primaries %v", ch.at.Sub(clock.Epoch), p))
		}
		if u.c.log {
			u.c.t.Logf("%v unit %d: %v -> %v: %s", ch.at.Sub(clock.Epoch), u.id, ch.from, ch.to, ch.reason)
		}
	}
	if o.ReAnnounce {
		u.reannounces++
	}
	if o.Send {
		u.send(kindHB, u.c.bcast())
	}
}

func (c *simCluster) bcast() net.HardwareAddr {
	return net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
}

func (u *simUnit) send(kind byte, dst net.HardwareAddr) {
	f := make([]byte, 0, 64)
	f = append(f, dst...)
	f = append(f, u.mac...)
	f = binary.BigEndian.AppendUint16(f, simEtherType)
	f = append(f, kind)
	if kind == kindHB {
		u.seq++
		f = binary.BigEndian.AppendUint32(f, u.seq)
		f = u.d.AppendCandidate(f)
	}
	_, err := u.port.WriteTo(f, nil)
	require.NoError(u.c.t, err)
}

func (u *simUnit) heartbeat() {
	if !u.up {
		return
	}
	u.send(kindHB, u.c.bcast())
	u.stopHB = u.c.sim.AfterFunc(u.d.m.cfg.Interval, u.heartbeat)
}

func (u *simUnit) receive(f []byte, src net.HardwareAddr) {
	if !u.up || len(f) < 15 || binary.BigEndian.Uint16(f[12:14]) != simEtherType {
		return
	}
	now := u.c.sim.Now()
	switch f[14] {
	case kindProbe:
		u.send(kindReply, append(net.HardwareAddr(nil), src...))
	case kindReply:
		for _, l := range u.peers {
			if l.mac.String() == src.String() {
				l.probing, l.lastHeard = false, now
			}
		}
	case kindHB:
		if len(f) < 19 {
			return
		}
		seq := binary.BigEndian.Uint32(f[15:19])
		payload := f[19:]
		if len(payload) < 6 {
			return
		}
		id := binary.BigEndian.Uint16(payload[4:6])
		l := u.peers[id]
		if l == nil {
			l = &liveness{mac: append(net.HardwareAddr(nil), src...), lastSeq: seq - 1}
			u.peers[id] = l
		}
		if seq <= l.lastSeq && l.lastSeq-seq < 1<<31 {
			return // out of order: the heartbeat layer drops it
		}
		const a = 1.0 / 64
		for range min(seq-l.lastSeq-1, 100) {
			l.loss = l.loss*(1-a) + a
		}
		l.loss *= 1 - a
		l.lastSeq, l.lastHeard, l.probing = seq, now, false
		_ = u.d.ObserveBinary(payload)
	}
}

// probesNeeded is how many unanswered probes declare a peer lost, given
// the heartbeat loss seen from it: enough that a live peer fails them all
// with probability below falseLostTarget.
func probesNeeded(loss float64) int {
	l := min(loss+0.05, 0.9)
	roundTrip := 1 - (1-l)*(1-l)
	n := math.Ceil(math.Log(falseLostTarget) / math.Log(roundTrip))
	return int(min(max(n, 3), 100))
}

func (u *simUnit) monitor() {
	if !u.up {
		return
	}
	now := u.c.sim.Now()
	interval := u.d.m.cfg.Interval
	for id, l := range u.peers {
		if m := u.c.plainMisses; m > 0 {
			if now.Sub(l.lastHeard) > time.Duration(m)*interval+probeEvery/2 {
				delete(u.peers, id)
				u.d.PeerLost(id)
			}
			continue
		}
		switch {
		case !l.probing && now.Sub(l.lastHeard) > 2*interval+probeEvery/2:
			l.probing, l.probes = true, 0
			fallthrough
		case l.probing:
			if l.probes >= probesNeeded(l.loss) {
				delete(u.peers, id)
				u.d.PeerLost(id)
				continue
			}
			l.probes++
			u.send(kindProbe, l.mac)
		}
	}
	u.stopMon = u.c.sim.AfterFunc(probeEvery, u.monitor)
}

// primaries returns the up units that are primary.
func (c *simCluster) primaries() []uint16 {
	var out []uint16
	for _, u := range c.units {
		if u.role() == hakit.Primary {
			out = append(out, u.id)
		}
	}
	return out
}

// run advances virtual time by d, calling check (if not nil) every virtual
// millisecond.
func (c *simCluster) run(d time.Duration, check func(now time.Time)) {
	if check == nil {
		c.sim.RunFor(d)
		return
	}
	end := c.sim.Now().Add(d)
	for c.sim.Now().Before(end) {
		c.sim.RunFor(time.Millisecond)
		if check != nil {
			check(c.sim.Now())
		}
	}
}

// settle runs until exactly one unit is primary and no unit is Initial, and
// returns how long that took; it fails the test after limit.
func (c *simCluster) settle(limit time.Duration) time.Duration {
	c.t.Helper()
	start := c.sim.Now()
	for c.sim.Now().Sub(start) <= limit {
		if len(c.primaries()) == 1 && c.noneInitial() {
			return c.sim.Now().Sub(start)
		}
		c.sim.RunFor(time.Millisecond)
	}
	c.t.Fatalf("no single primary %v after %v: primaries %v", limit, start.Sub(clock.Epoch), c.primaries())
	return 0
}

func (c *simCluster) noneInitial() bool {
	for _, u := range c.units {
		if u.role() == hakit.Initial {
			return false
		}
	}
	return true
}

// changesSince returns the role changes strictly after t.
func (c *simCluster) changesSince(t time.Time) []roleChange {
	var out []roleChange
	for _, ch := range c.changes {
		if ch.at.After(t) {
			out = append(out, ch)
		}
	}
	return out
}
