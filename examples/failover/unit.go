package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/packet"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/vmac"
)

// unit is one cluster member: a member.Driver on the simulated clock, over
// the unit's two ports (lan, sync) tapped by EtherType, plus what the
// simulation adds around it: a "kernel" that forwards the client's traffic
// through the primary, and the virtual-MAC collision Guard.
type unit struct {
	c    *cluster
	id   uint16
	name string

	lan, sync     *simnet.Port
	lanIP, syncIP netip.Addr
	d             *member.Driver
	speaker       *garp.Driver
	guard         *vmac.Guard
	dead          bool
	guardLogged   bool
	unknown       int
}

// staticNeighbours is the units' static ARP cache: the stations EIFD probes.
type staticNeighbours map[string][]netip.Addr

func (n staticNeighbours) Neighbours(ifname string) ([]netip.Addr, error) { return n[ifname], nil }

func (c *cluster) newUnit(id uint16) (*unit, error) {
	u := &unit{
		c: c, id: id, name: fmt.Sprintf("unit%d", id),
		lanIP:  netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + id)}),
		syncIP: netip.AddrFrom4([4]byte{198, 18, 1, byte(10 + id)}),
	}
	u.lan = c.lan.Attach(u.name+".lan", mac(1, byte(id)))
	u.sync = c.sync.Attach(u.name+".sync", mac(2, byte(id)))
	u.sync.SetLoss(c.cfg.loss)
	return u, u.boot()
}

// boot gives the unit a fresh member, as a (re)start does: an empty
// session table, a new heartbeat epoch, an election in its initial role.
func (u *unit) boot() error {
	c := u.c
	u.dead, u.guardLogged = false, false
	lan := newTap(u.lan, u.onLAN)
	sync := newTap(u.sync, nil)

	var err error
	if u.speaker, err = garp.NewDriver(&garp.Config{
		Clock: c.clk,
		Open: func(ifname string) (net.PacketConn, error) {
			if ifname != "lan" {
				return nil, fmt.Errorf("no interface %q", ifname)
			}
			return lan.conn(etherARP), nil
		},
	}); err != nil {
		return err
	}
	members := map[uint16][]net.HardwareAddr{}
	for i := 1; i <= c.cfg.units; i++ {
		members[uint16(i)] = nil // heartbeat source MACs follow the role
	}
	if u.guard, err = vmac.NewGuard(&vmac.GuardConfig{
		ClusterID: clusterID, Self: u.id, Members: members, VirtualMACs: []net.HardwareAddr{c.vmac},
	}); err != nil {
		return err
	}

	// Heartbeats on both; sync is a link only the cluster uses, so a local
	// fault there does not demote the unit.
	ifaces := []member.Interface{}
	for _, x := range []struct {
		name        string
		tap         *tap
		port        *simnet.Port
		ip          netip.Addr
		clusterOnly bool
	}{{"lan", lan, u.lan, u.lanIP, false}, {"sync", sync, u.sync, u.syncIP, true}} {
		pr, err := heartbeat.NewPacketProber(x.tap.conn(etherARP), x.port.HardwareAddr(), x.ip)
		if err != nil {
			return err
		}
		ifaces = append(ifaces, member.Interface{Name: x.name, Addr: x.ip, Prober: pr, ClusterOnly: x.clusterOnly,
			Conn: heartbeat.NewEthernetConn(x.tap.conn(heartbeat.DefaultEtherType), heartbeat.DefaultEtherType)})
	}
	s := &member.Sync{Table: statesync.NewTable(c.cfg.sessions), TickInterval: syncTick, MTU: 1500}
	var macs []net.HardwareAddr // one transport to every peer
	for p := 1; p <= c.cfg.units; p++ {
		if p != int(u.id) {
			macs = append(macs, mac(2, byte(p)))
			s.Peers = append(s.Peers, statesync.Peer{Unit: uint16(p), Addr: &packet.Addr{HardwareAddr: macs[len(macs)-1]}})
		}
	}
	s.Transport = statesync.NewEthernetTransport(sync.conn(etherSync), u.sync.HardwareAddr(), macs[0], 0, macs[1:]...)
	move := garp.Move{Interface: "lan", MAC: c.vmac, Addrs: []netip.Addr{c.vip}}
	u.d, err = member.New(&member.Config{
		ClusterID: clusterID, UnitID: u.id, Priority: uint8(200 - u.id), // unit 1 is preferred
		Unauthenticated: true, Keys: nil, // the simulated segments carry no attacker
		Interfaces: ifaces,
		Monitored:  []string{"lan", "sync"},
		LinkUp:     func(string) bool { return true }, // a cut cable keeps its carrier here
		Sync:       s,
		Steps:      []member.Step{member.Func("vmac", u.addVMAC, u.removeVMAC), member.Announce(u.speaker, move)},
		Heartbeat: &heartbeat.Config{
			Interval: c.cfg.interval, Misses: c.cfg.misses, ProbeWindow: c.cfg.probeWindow, Mode: c.cfg.mode,
			Neighbours: staticNeighbours{"lan": {c.client.ip, c.gw.ip}, "sync": {c.sw.ip}},
		},
		Clock:   c.clk,
		OnEvent: u.onEvent,
	})
	return err
}

// syncTick is how often replication ticks (the default is 1 ms; 5 ms keeps
// the simulation cheap and is well inside the protocol's timers).
const syncTick = 5 * time.Millisecond

func (u *unit) start() error { return u.d.Start() }

// kill fails the whole unit: its cables are cut and it stops.
func (u *unit) kill() {
	u.dead = true
	u.lan.Cut()
	u.sync.Cut()
	u.d.Close()
	u.speaker.Stop()
}

// restart brings a failed unit back with a fresh member and its cables in.
func (u *unit) restart() error {
	if err := u.boot(); err != nil {
		return err
	}
	u.lan.Heal()
	u.sync.Heal()
	return u.start()
}

func (u *unit) role() hakit.Role { return u.d.Role() }

func (u *unit) inSync() bool { return u.d.Status().InSync }

func (u *unit) table() *statesync.Table { return u.d.Table() }

// addVMAC and removeVMAC are the unit's own takeover step: the virtual MAC
// on the lan port.
func (u *unit) addVMAC(context.Context) error {
	if err := u.lan.AddHardwareAddr(u.c.vmac); err != nil {
		return err
	}
	u.guard.SetHolding(true)
	u.guardLogged = false
	u.c.log(u.name, fmt.Sprintf("vmac: %v on lan", u.c.vmac), "NetDefendOS scheme, cluster 7 port 0")
	return nil
}

func (u *unit) removeVMAC(context.Context) error {
	u.guard.SetHolding(false)
	err := u.lan.RemoveHardwareAddr(u.c.vmac)
	if !u.dead {
		u.c.log(u.name, "vmac: removed from lan, garp stopped", "no longer primary")
	}
	return err
}

// onEvent logs the member's events in the timeline and takes the
// measurements around the fault.
func (u *unit) onEvent(e member.Event) {
	c := u.c
	if u.dead {
		return // a failed unit says nothing
	}
	now := c.clk.Now()
	switch e.Kind {
	case member.EventHeartbeat:
		c.log(u.name, fmt.Sprintf("heartbeat: unit%d on %s %v", e.Peer, e.Interface, e.State), e.Reason)
		if e.State.Verdict() && !c.faultAt.IsZero() && c.verdictAt.IsZero() {
			c.verdictAt = now
			for _, p := range u.d.Status().Peers {
				for _, l := range p.Links {
					if p.Unit == e.Peer && l.Interface == e.Interface {
						c.sinceLast = now.Sub(l.LastHeard)
					}
				}
			}
		}
	case member.EventRoleChange:
		c.log(u.name, fmt.Sprintf("election: %v", e.To), e.Reason)
		if e.To == hakit.Primary && c.takeover.IsZero() && !c.faultAt.IsZero() {
			c.takeover = now
		}
	case member.EventSync:
		what := "statesync: in sync"
		if !e.InSync {
			what = "statesync: not in sync"
		}
		c.log(u.name, what, fmt.Sprintf("%d sessions in table", u.d.Table().Len()))
	case member.EventStep:
		switch {
		case e.Step == "sessions" && e.Action == member.Up:
			r := u.d.Status().Sync.LastCommit
			c.log(u.name, fmt.Sprintf("statesync: commit, %d sessions in table", u.d.Table().Len()),
				fmt.Sprintf("in sync %v, %d datagrams applied, %d lost", r.InSync, r.Applied, r.Lost))
		case e.Step == "announce" && e.Action == member.Up:
			c.log(u.name, fmt.Sprintf("garp: announce %v at %v", c.vip, c.vmac), "takeover")
		case e.Step == "announce" && e.Action == member.Reannounce:
			c.log(u.name, fmt.Sprintf("garp: announce %v at %v", c.vip, c.vmac), "re-announce after split brain")
		}
	case member.EventTakeover:
		c.log(u.name, "takeover complete", e.Takeover.String())
	case member.EventElection:
		c.log(u.name, "election: "+e.Election.String(), e.Reason)
	case member.EventSplitBrain:
		c.log(u.name, "election: split brain", e.Reason)
	default:
		if e.Kind != member.EventReleased {
			c.log(u.name, "member: "+e.Kind.String(), e.String())
		}
	}
}

// onLAN is the unit's "kernel" on the lan port: it checks every frame
// with the Guard and forwards the client's traffic while primary.
func (u *unit) onLAN(f []byte, src net.HardwareAddr) {
	if u.dead {
		return
	}
	c := u.c
	payload := f[simnet.HeaderLen:]
	switch binary.BigEndian.Uint16(f[12:14]) {
	case heartbeat.DefaultEtherType:
		var hb heartbeat.Frame
		if hb.UnmarshalBinary(payload) == nil && hb.UnitID != u.id {
			if err := u.guard.CheckHeartbeat("lan", hb.ClusterID, hb.UnitID, src); err != nil {
				c.log(u.name, "vmac guard", err.Error())
			}
		}
	case etherTraffic:
		u.traffic(payload, src)
	}
	if err := u.guard.CheckFrame("lan", src); err != nil && !u.guardLogged {
		u.guardLogged = true // once per takeover: the Guard counts the rest
		c.log(u.name, "vmac guard", err.Error())
	}
}

// traffic forwards one packet of the client's, as the primary's kernel
// would: a new session is stored and replicated, a packet of a known one
// forwarded, one of an unknown session dropped.
func (u *unit) traffic(p []byte, src net.HardwareAddr) {
	c := u.c
	if u.d.Role() != hakit.Primary || len(p) < 5 {
		return
	}
	i := int(binary.BigEndian.Uint32(p[1:5]))
	if i >= len(c.keys) {
		return
	}
	now := c.clk.Now()
	k := c.keys[i]
	switch p[0] {
	case pktNew:
		u.d.Upsert(statesync.Session{Key: k, State: 3 /* established */})
		b := make([]byte, 46)
		b[0] = pktAck
		copy(b[1:5], p[1:5])
		_, _ = u.lan.WriteTo(ethFrame(src, c.vmac, etherTraffic, b), nil)
		c.forwarded(now)
	case pktData:
		if _, ok := u.d.Table().Get(k); !ok {
			u.unknown++
			c.unknown++
			if u.unknown == 1 {
				c.log(u.name, "packet of an unknown session dropped", k.Src.String()+" -> "+k.Dst.String())
			}
			return
		}
		c.forwarded(now)
	}
}

// unitReport is a unit's state and counters at the end of a scenario.
type unitReport struct {
	Name        string             `json:"name"`
	Role        string             `json:"role"`
	Failed      bool               `json:"failed,omitempty"`
	Sessions    int                `json:"sessions_in_table"`
	Heartbeat   heartbeat.Counters `json:"heartbeat"`
	Member      member.Counters    `json:"member"`
	Sync        *member.SyncStatus `json:"sync"`
	GARP        garp.Stats         `json:"garp"`
	Guard       vmac.GuardStats    `json:"vmac_guard"`
	Takeover    *member.Takeover   `json:"last_takeover,omitempty"`
	UnknownPkts int                `json:"unknown_session_packets"`
}

func (u *unit) report() unitReport {
	st := u.d.Status()
	return unitReport{
		Name: u.name, Role: st.Role.String(), Failed: u.dead, Sessions: u.d.Table().Len(),
		Heartbeat: st.Heartbeat, Member: st.Counters, Sync: st.Sync, GARP: u.speaker.Stats(),
		Guard: u.guard.Stats(), Takeover: st.LastTakeover, UnknownPkts: u.unknown,
	}
}
