package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/hbelect"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/link"
	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/vmac"
)

// EtherTypes on the simulated segments.
const (
	etherARP     = 0x0806
	etherSync    = statesync.EtherType
	etherTraffic = 0x88B5 // IEEE local experimental: the simulated client's packets
	clusterID    = 7
)

// Traffic packet kinds (first payload byte).
const (
	pktNew  = 1 // a new session (the first packet of a connection)
	pktData = 2 // a packet of an existing session
	pktAck  = 3 // the primary's answer to pktNew: the session is established
)

// config is what the flags set.
type config struct {
	units       int
	interval    time.Duration
	misses      int
	probeWindow time.Duration
	mode        heartbeat.Mode
	sessions    int
	seed        int64
	loss        float64
}

// event is one line of the timeline.
type event struct {
	At     float64 `json:"at_s"` // virtual seconds since the cluster started
	Unit   string  `json:"unit"`
	What   string  `json:"event"`
	Reason string  `json:"reason,omitempty"`
}

// cluster is the whole simulated world: two segments (lan, sync), the units,
// a client and a gateway on the lan and a switch address on the sync
// segment, all on one simulated clock.
type cluster struct {
	cfg   config
	clk   *clock.Sim
	start time.Time
	lan   *simnet.Segment
	sync  *simnet.Segment
	units []*unit

	client, gw, sw *host

	vmac net.HardwareAddr
	vip  netip.Addr

	timeline []event

	// Traffic and what it observed.
	keys         []statesync.Key
	established  []bool // answered by a primary
	nEstablished int
	created      int
	nextData     int
	lastForward  time.Time
	gaps         []gap // forwarding gaps longer than the sending period
	fdbPort      string

	// Measurements around the injected fault.
	faultAt   time.Time
	verdictAt time.Time // first verdict (or PeerLost) after the fault
	sinceLast time.Duration
	takeover  time.Time // first role change to primary after the fault
	unknown   int       // packets of unknown sessions that reached a primary
}

type gap struct{ from, to time.Time }

func newCluster(cfg config) (*cluster, error) {
	clk := clock.NewSim(time.Time{})
	c := &cluster{
		cfg:   cfg,
		clk:   clk,
		start: clk.Now(),
		lan:   simnet.New(&simnet.Config{Clock: clk, Seed: cfg.seed}),
		sync:  simnet.New(&simnet.Config{Clock: clk, Seed: cfg.seed + 1}),
		vip:   netip.MustParseAddr("198.18.0.1"),
	}
	var err error
	if c.vmac, err = vmac.NetDefendMAC(clusterID, 0); err != nil {
		return nil, err
	}
	c.client = c.newHost(c.lan, "client", mac(0, 100), netip.MustParseAddr("198.18.0.100"))
	c.gw = c.newHost(c.lan, "gw", mac(0, 254), netip.MustParseAddr("198.18.0.254"))
	c.sw = c.newHost(c.sync, "sw", mac(3, 254), netip.MustParseAddr("198.18.1.254"))
	for i := 1; i <= cfg.units; i++ {
		u, err := c.newUnit(uint16(i))
		if err != nil {
			return nil, err
		}
		c.units = append(c.units, u)
	}
	c.established = make([]bool, cfg.sessions)
	for i := range cfg.sessions {
		c.keys = append(c.keys, statesync.Key{
			Proto: 6,
			Src:   netip.AddrPortFrom(c.client.ip, uint16(10000+i%50000)),
			Dst:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i / 50000 >> 8), byte(i / 50000)}), 443),
		})
	}
	return c, nil
}

func mac(net, host byte) net.HardwareAddr { return []byte{0x02, 0, 0, 0, net, host} }

func (c *cluster) since() time.Duration { return c.clk.Now().Sub(c.start) }

func (c *cluster) log(who, what, reason string) {
	c.timeline = append(c.timeline, event{At: c.since().Seconds(), Unit: who, What: what, Reason: reason})
}

// primaries lists the running units that hold the primary role.
func (c *cluster) primaries() []*unit {
	var ps []*unit
	for _, u := range c.units {
		if !u.dead && u.role == hakit.Primary {
			ps = append(ps, u)
		}
	}
	return ps
}

// host is a plain station: it answers ARP for its address and, for the
// client, sends the traffic and watches gratuitous ARP.
type host struct {
	c    *cluster
	name string
	port *simnet.Port
	mac  net.HardwareAddr
	ip   netip.Addr
	seen string // the last announcement the client logged: MAC and port
}

func (c *cluster) newHost(seg *simnet.Segment, name string, hw net.HardwareAddr, ip netip.Addr) *host {
	h := &host{c: c, name: name, port: seg.Attach(name, hw), mac: hw, ip: ip}
	h.port.SetHandler(h.receive)
	return h
}

func (h *host) receive(frame []byte, src net.HardwareAddr) {
	if len(frame) < simnet.HeaderLen {
		return
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherARP:
	case etherTraffic:
		if p := frame[simnet.HeaderLen:]; h == h.c.client && len(p) >= 5 && p[0] == pktAck {
			if i := int(binary.BigEndian.Uint32(p[1:5])); i < len(h.c.established) && !h.c.established[i] {
				h.c.established[i] = true
				h.c.nEstablished++
				if h.c.nEstablished == len(h.c.keys) {
					h.c.log("client", fmt.Sprintf("%d sessions established", h.c.nEstablished), "every new session was answered by the primary")
				}
			}
		}
		return
	default:
		return
	}
	if a, err := garp.Parse(frame); err == nil && a.Addr == h.c.vip {
		// Log the first announcement of each move, as the client sees it.
		if seen := a.MAC.String() + " " + h.c.portOf(src); h.name == "client" && seen != h.seen {
			h.seen = seen
			h.c.log(h.name, fmt.Sprintf("gratuitous ARP: %v is-at %v", a.Addr, a.MAC), "the switch learnt it on "+h.c.portOf(src))
		}
		return
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(frame[simnet.HeaderLen:]); err != nil {
		return
	}
	if p.Operation == arp.OperationRequest && p.TargetIP == h.ip {
		writeARP(h.port, arp.OperationReply, h.mac, h.ip, p.SenderHardwareAddr, p.SenderIP)
	}
}

// portOf names the port the lan switch learnt src on.
func (c *cluster) portOf(src net.HardwareAddr) string {
	p, ok := c.lan.Lookup(src)
	if !ok {
		return "?"
	}
	return p
}

func writeARP(p *simnet.Port, op arp.Operation, srcHW net.HardwareAddr, srcIP netip.Addr, dstHW net.HardwareAddr, dstIP netip.Addr) {
	dst := dstHW
	if op == arp.OperationRequest {
		dst = link.Broadcast
	}
	if f, err := link.ARP(op, dst, srcHW, srcIP, dstHW, dstIP); err == nil {
		_, _ = p.WriteTo(f, nil)
	}
}

func ethFrame(dst, src net.HardwareAddr, etherType uint16, payload []byte) []byte {
	b := make([]byte, 0, simnet.HeaderLen+len(payload))
	b = append(b, dst...)
	b = append(b, src...)
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

// trafficTick is the client's sending period: it bounds the resolution of
// the measured forwarding gap.
const trafficTick = 2 * time.Millisecond

// startTraffic makes the client open the sessions over about two seconds,
// then send a packet of each session, round robin, so every session sends
// about every two seconds.
func (c *cluster) startTraffic() {
	perTick := (len(c.keys) + 999) / 1000
	var tick func()
	tick = func() {
		for range perTick {
			switch {
			case c.created < len(c.keys):
				c.sendPacket(pktNew, c.created)
				c.created++
				if c.created == len(c.keys) {
					c.log("client", fmt.Sprintf("%d sessions opened", c.created), "")
				}
			case len(c.keys) > 0:
				// Like TCP, a session that was never answered sends its
				// first packet again.
				kind := byte(pktData)
				if !c.established[c.nextData] {
					kind = pktNew
				}
				c.sendPacket(kind, c.nextData)
				c.nextData = (c.nextData + 1) % len(c.keys)
			}
		}
		if p, ok := c.lan.Lookup(c.vmac); ok && p != c.fdbPort {
			if c.fdbPort != "" {
				c.log("switch", fmt.Sprintf("FDB: virtual MAC %v moved %s -> %s", c.vmac, c.fdbPort, p), "learnt from a frame sent with it")
			} else {
				c.log("switch", fmt.Sprintf("FDB: virtual MAC %v on %s", c.vmac, p), "learnt from a frame sent with it")
			}
			c.fdbPort = p
		}
		c.clk.AfterFunc(trafficTick, tick)
	}
	c.clk.AfterFunc(0, tick)
}

func (c *cluster) sendPacket(kind byte, i int) {
	b := make([]byte, 5, 46)
	b[0] = kind
	binary.BigEndian.PutUint32(b[1:], uint32(i))
	b = b[:46]
	_, _ = c.client.port.WriteTo(ethFrame(c.vmac, c.client.mac, etherTraffic, b), nil)
}

// forwarded records that a primary forwarded a packet of a known session.
func (c *cluster) forwarded(now time.Time) {
	if !c.lastForward.IsZero() && now.Sub(c.lastForward) > 2*trafficTick {
		c.gaps = append(c.gaps, gap{c.lastForward, now})
	}
	c.lastForward = now
}

// unit is one cluster member: the real cores of every package, driven by
// its own timer on the simulated clock and by its ports' handlers.
type unit struct {
	c    *cluster
	id   uint16
	name string

	lan, sync       *simnet.Port
	lanIP, syncIP   netip.Addr
	mon             *heartbeat.Machine
	el              *election.Machine
	role            hakit.Role
	table           *statesync.Table
	recv            *statesync.Receiver
	recvFrom        uint16
	events          []statesync.Event
	senders         map[uint16]*statesync.Sender
	speaker         *garp.Driver
	guard           *vmac.Guard
	tracker         *hbelect.Tracker
	dead            bool
	holding         bool
	guardLogged     bool
	foreignStream   int
	syncPending     bool
	timerStop       func() bool
	timerAt         time.Time
	nextElect       time.Time
	nextSync        time.Time
	payload         []byte
	unknownSessions int
}

// nopClose keeps the garp Driver from closing a simulated port it borrows.
type nopClose struct{ *simnet.Port }

func (nopClose) Close() error { return nil }

func (c *cluster) newUnit(id uint16) (*unit, error) {
	now := c.clk.Now()
	u := &unit{
		c: c, id: id, name: fmt.Sprintf("unit%d", id),
		lanIP:  netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + id)}),
		syncIP: netip.AddrFrom4([4]byte{198, 18, 1, byte(10 + id)}),
	}
	u.lan = c.lan.Attach(u.name+".lan", mac(1, byte(id)))
	u.sync = c.sync.Attach(u.name+".sync", mac(2, byte(id)))
	u.sync.SetLoss(c.cfg.loss)
	if err := u.boot(now); err != nil {
		return nil, err
	}
	u.lan.SetHandler(func(f []byte, src net.HardwareAddr) { u.receive("lan", f, src) })
	u.sync.SetHandler(func(f []byte, src net.HardwareAddr) { u.receive("sync", f, src) })
	return u, nil
}

// boot gives the unit fresh cores, as a (re)start does: an empty session
// table, a new heartbeat epoch, an election machine in its initial role.
func (u *unit) boot(now time.Time) error {
	c, id := u.c, u.id
	u.table = statesync.NewTable(c.cfg.sessions)
	u.senders = map[uint16]*statesync.Sender{}
	u.tracker, _ = hbelect.New(&hbelect.Config{Interfaces: []string{"lan", "sync"}}) // cannot fail: interfaces given
	u.role = hakit.Initial
	u.dead, u.holding, u.guardLogged, u.syncPending = false, false, false, false

	hc := heartbeat.DefaultConfig()
	hc.ClusterID = clusterID
	hc.UnitID = id
	hc.Role = hakit.Initial
	hc.Epoch = uint64(now.UnixNano())
	hc.Interval = c.cfg.interval
	hc.Misses = c.cfg.misses
	hc.ProbeWindow = c.cfg.probeWindow
	hc.ProbeInterval = 0
	hc.Mode = c.cfg.mode
	var err error
	u.mon, err = heartbeat.NewMachine(hc, heartbeat.Interface{Name: "lan", Addr: u.lanIP}, heartbeat.Interface{Name: "sync", Addr: u.syncIP})
	if err != nil {
		return err
	}
	// The units' static ARP cache: the stations EIFD probes.
	_ = u.mon.SetNeighbours("lan", []netip.Addr{c.client.ip, c.gw.ip})
	_ = u.mon.SetNeighbours("sync", []netip.Addr{c.sw.ip})

	ec := election.DefaultConfig()
	ec.Unit = id
	ec.Priority = uint8(200 - id) // unit 1 is preferred
	ec.Interval = c.cfg.interval
	ec.DetectTime = time.Duration(c.cfg.misses)*c.cfg.interval + c.cfg.probeWindow
	ec.InitialWait = ec.DetectTime
	ec.HandoverTimeout = max(ec.HandoverTimeout, 10*c.cfg.interval)
	if u.el, err = election.New(now, ec); err != nil {
		return err
	}

	u.speaker, err = garp.NewDriver(&garp.Config{
		Clock: c.clk,
		Open: func(ifname string) (net.PacketConn, error) {
			if ifname != "lan" {
				return nil, fmt.Errorf("no interface %q", ifname)
			}
			return nopClose{u.lan}, nil
		},
	})
	if err != nil {
		return err
	}

	members := map[uint16][]net.HardwareAddr{}
	for i := 1; i <= c.cfg.units; i++ {
		members[uint16(i)] = nil // heartbeat source MACs follow the role
	}
	if u.guard, err = vmac.NewGuard(&vmac.GuardConfig{
		ClusterID: clusterID, Self: id, Members: members,
		VirtualMACs: []net.HardwareAddr{c.vmac},
	}); err != nil {
		return err
	}

	u.newReceiver(now, 0)
	return nil
}

// restart brings a failed unit back with fresh cores and its cables in.
func (u *unit) restart() error {
	if err := u.boot(u.c.clk.Now()); err != nil {
		return err
	}
	u.lan.Heal()
	u.sync.Heal()
	u.start()
	return nil
}

func (u *unit) newReceiver(now time.Time, from uint16) {
	u.recvFrom = from
	r, err := statesync.NewReceiver(now, &statesync.ReceiverConfig{
		Table: u.table,
		Epoch: uint64(now.UnixNano()),
	})
	if err != nil {
		panic(err) // the config is static and valid
	}
	u.recv = r
}

// start runs the unit from now.
func (u *unit) start() {
	now := u.c.clk.Now()
	u.nextElect, u.nextSync = now, now
	u.wake()
}

// kill fails the whole unit: it stops running and its cables are cut.
func (u *unit) kill() {
	u.dead = true
	if u.timerStop != nil {
		u.timerStop()
		u.timerStop = nil
	}
	u.speaker.Stop()
	u.lan.Cut()
	u.sync.Cut()
}

func (u *unit) schedule() {
	if u.dead {
		return
	}
	next := u.mon.Next()
	if u.nextElect.Before(next) {
		next = u.nextElect
	}
	if u.nextSync.Before(next) {
		next = u.nextSync
	}
	if u.timerStop != nil {
		if !u.timerAt.After(next) {
			return
		}
		u.timerStop()
	}
	u.timerAt = next
	u.timerStop = u.c.clk.AfterFunc(next.Sub(u.c.clk.Now()), func() {
		u.timerStop = nil
		u.wake()
	})
}

// syncTick is how often the replication cores tick (they ask for about 1 ms;
// 5 ms keeps the simulation cheap and is well inside their timers).
const syncTick = 5 * time.Millisecond

func (u *unit) wake() {
	if u.dead {
		return
	}
	now := u.c.clk.Now()
	if !now.Before(u.mon.Next()) {
		u.setPayload(now)
		u.heartbeat(now, u.mon.Tick(now))
		if u.syncPending && u.role == hakit.Primary {
			u.startSenders(now)
		}
	}
	if !now.Before(u.nextSync) {
		u.nextSync = now.Add(syncTick)
		u.recv.Tick(now)
		for _, p := range u.c.units {
			if s := u.senders[p.id]; s != nil {
				s.Tick(now)
			}
		}
		u.flushSync()
	}
	if !now.Before(u.nextElect) {
		u.nextElect = now.Add(u.c.cfg.interval)
	}
	u.elect(now)
	u.schedule()
}

// receive handles one frame from a port.
func (u *unit) receive(ifname string, f []byte, src net.HardwareAddr) {
	if u.dead || len(f) < simnet.HeaderLen {
		return
	}
	now := u.c.clk.Now()
	payload := f[simnet.HeaderLen:]
	switch binary.BigEndian.Uint16(f[12:14]) {
	case heartbeat.DefaultEtherType:
		out, err := u.mon.Receive(now, ifname, payload)
		if err != nil {
			return // counted by the Machine
		}
		var hb heartbeat.Frame
		if hb.UnmarshalBinary(payload) == nil && hb.UnitID != u.id {
			if err := u.guard.CheckHeartbeat(ifname, hb.ClusterID, hb.UnitID, src); err != nil {
				u.c.log(u.name, "vmac guard", err.Error())
			}
		}
		for _, h := range out.Heard { // the peer's newest candidate
			if err := u.el.ObserveBinary(now, h.Payload); err != nil {
				u.c.log(u.name, "election: candidate refused", err.Error())
			}
		}
		u.heartbeat(now, out)
	case etherARP:
		var p arp.Packet
		if p.UnmarshalBinary(payload) != nil {
			return
		}
		own := u.lanIP
		port := u.lan
		if ifname == "sync" {
			own, port = u.syncIP, u.sync
		}
		switch {
		case p.Operation == arp.OperationRequest && p.TargetIP == own:
			writeARP(port, arp.OperationReply, port.HardwareAddr(), own, p.SenderHardwareAddr, p.SenderIP)
		case p.Operation == arp.OperationReply && p.TargetIP == own:
			u.heartbeat(now, u.mon.ProbeReply(now, ifname, p.SenderIP))
		}
	case etherSync:
		from, ok := unitOf(src)
		if !ok || len(payload) < 4 {
			return
		}
		if payload[3] == 2 { // an acknowledgement, for one of our senders
			if s := u.senders[from]; s != nil {
				_ = s.Step(now, payload) // errors are counted by the Sender
			}
		} else {
			if u.role == hakit.Primary {
				u.foreignStream++ // a primary's table is not a replica (split brain): ignore
				return
			}
			if from != u.recvFrom {
				u.newReceiver(now, from)
			}
			_ = u.recv.Step(now, payload) // errors are counted by the Receiver
		}
		u.flushSync()
	case etherTraffic:
		if u.role != hakit.Primary || len(payload) < 5 {
			return
		}
		i := int(binary.BigEndian.Uint32(payload[1:5]))
		if i >= len(u.c.keys) {
			return
		}
		k := u.c.keys[i]
		switch payload[0] {
		case pktNew:
			s := u.table.Upsert(statesync.Session{Key: k, State: 3 /* established */})
			for _, snd := range u.senders {
				snd.Upsert(now, s)
			}
			b := make([]byte, 46)
			b[0] = pktAck
			copy(b[1:5], payload[1:5])
			_, _ = u.lan.WriteTo(ethFrame(src, u.c.vmac, etherTraffic, b), nil)
			u.c.forwarded(now)
		case pktData:
			if _, ok := u.table.Get(k); !ok {
				u.unknownSessions++
				u.c.unknown++
				if u.unknownSessions == 1 {
					u.c.log(u.name, "packet of an unknown session dropped", k.Src.String()+" -> "+k.Dst.String())
				}
				return
			}
			u.c.forwarded(now)
		}
	}
	if ifname == "lan" {
		if err := u.guard.CheckFrame(ifname, src); err != nil && !u.guardLogged {
			u.guardLogged = true // once per takeover: the Guard counts the rest
			u.c.log(u.name, "vmac guard", err.Error())
		}
	}
	u.elect(now)
	u.schedule()
}

// unitOf maps a unit's port MAC to its ID.
func unitOf(hw net.HardwareAddr) (uint16, bool) {
	if len(hw) != 6 || hw[0] != 0x02 || hw[1] != 0 || hw[2] != 0 || hw[3] != 0 || (hw[4] != 1 && hw[4] != 2) {
		return 0, false
	}
	return uint16(hw[5]), true
}

// heartbeat sends what the heartbeat Machine asks and feeds its reports to the
// election.
func (u *unit) heartbeat(now time.Time, out heartbeat.Output) {
	for _, t := range out.Frames {
		port := u.lan
		if t.Interface == "sync" {
			port = u.sync
		}
		_, _ = port.WriteTo(ethFrame(t.Dst, t.Src, heartbeat.DefaultEtherType, t.Data), nil)
	}
	for _, p := range out.Probes {
		port, own := u.lan, u.lanIP
		if p.Interface == "sync" {
			port, own = u.sync, u.syncIP
		}
		writeARP(port, arp.OperationRequest, port.HardwareAddr(), own, net.HardwareAddr{0, 0, 0, 0, 0, 0}, p.Target)
	}
	for _, r := range out.Reports {
		u.c.log(u.name, fmt.Sprintf("heartbeat: unit%d on %s %v", r.Peer, r.Interface, r.State), r.Reason)
		if r.State.Verdict() && !u.c.faultAt.IsZero() && u.c.verdictAt.IsZero() {
			u.c.verdictAt = now
			for _, p := range u.mon.Peers() {
				if p.Unit != r.Peer {
					continue
				}
				for _, l := range p.Links {
					if l.Interface == r.Interface {
						u.c.sinceLast = now.Sub(l.LastHeard)
					}
				}
			}
		}
		in := u.tracker.Report(r)
		for _, v := range in.Verdicts {
			if err := u.el.Verdict(now, v); err != nil {
				u.c.log(u.name, "election: verdict refused", err.Error())
			}
		}
		if in.Lost {
			u.el.PeerLost(now, in.Peer)
		}
	}
}

// elect ticks the election and acts on its output.
func (u *unit) elect(now time.Time) {
	inSync := u.recv.InSync() || u.role == hakit.Primary
	u.el.Local(now, election.Status{Monitored: 2, InSync: inSync})
	out := u.el.Tick(now)
	for _, e := range out.Events {
		if e.Kind == election.EventRoleChange {
			continue // logged below with the action taken
		}
		u.c.log(u.name, "election: "+e.Kind.String(), e.Reason)
	}
	if out.Changed {
		u.c.log(u.name, fmt.Sprintf("election: %v", out.Role), out.Reason)
		u.role = out.Role
		switch out.Role {
		case hakit.Primary:
			u.takeover(now)
		case hakit.Secondary:
			u.release(now)
		}
	}
	if out.ReAnnounce && u.role == hakit.Primary {
		u.announce("re-announce after split brain")
	}
	if out.Send {
		// The candidate or role changed: the others hear it now.
		u.setPayload(now)
		u.heartbeat(now, u.mon.SendNow(now))
		if u.syncPending && u.role == hakit.Primary {
			u.startSenders(now)
		}
	}
}

// setPayload puts the election's current candidate in the heartbeats.
func (u *unit) setPayload(now time.Time) {
	u.payload = u.el.AppendCandidate(u.payload[:0], now)
	if err := u.mon.SetPayload(u.payload); err != nil {
		u.c.log(u.name, "heartbeat payload refused", err.Error())
	}
}

// takeover follows the ordering contract: commit the replicated sessions,
// then put the virtual MAC on the interface, then announce.
func (u *unit) takeover(now time.Time) {
	if u.c.takeover.IsZero() && !u.c.faultAt.IsZero() {
		u.c.takeover = now
	}
	res := u.recv.Commit(now)
	u.c.log(u.name, fmt.Sprintf("statesync: commit, %d sessions in table", u.table.Len()),
		fmt.Sprintf("in sync %v, %d datagrams applied, %d lost", res.InSync, res.Applied, res.Lost))
	if err := u.lan.AddHardwareAddr(u.c.vmac); err != nil {
		u.c.log(u.name, "vmac: add failed", err.Error())
	}
	u.holding, u.guardLogged = true, false
	u.guard.SetHolding(true)
	u.c.log(u.name, fmt.Sprintf("vmac: %v on lan", u.c.vmac), "NetDefendOS scheme, cluster 7 port 0")
	_ = u.mon.SetRole(hakit.Primary)
	u.announce("takeover")
	u.syncPending = true
}

// startSenders starts a replication stream to every other unit. The unit
// calls it once its first heartbeat as primary is out, so that the others
// hear the claim before the stream that would put them in sync.
func (u *unit) startSenders(now time.Time) {
	u.syncPending = false
	for _, p := range u.c.units {
		if p.id == u.id {
			continue
		}
		s, err := statesync.NewSender(now, &statesync.SenderConfig{
			Table: u.table, MTU: 1500, Epoch: uint64(now.UnixNano()),
		})
		if err != nil {
			panic(err) // the config is static and valid
		}
		u.senders[p.id] = s
	}
	u.flushSync()
}

func (u *unit) announce(why string) {
	err := u.speaker.Announce(context.Background(), garp.Move{Interface: "lan", MAC: u.c.vmac, Addrs: []netip.Addr{u.c.vip}})
	if err != nil {
		u.c.log(u.name, "garp: announce failed", err.Error())
		return
	}
	u.c.log(u.name, fmt.Sprintf("garp: announce %v at %v", u.c.vip, u.c.vmac), why)
}

func (u *unit) release(now time.Time) {
	_ = u.mon.SetRole(hakit.Secondary)
	clear(u.senders)
	u.syncPending = false
	u.newReceiver(now, 0) // a committed receiver takes no more datagrams
	if !u.holding {
		return
	}
	u.holding = false
	u.guard.SetHolding(false)
	_ = u.speaker.Withdraw(context.Background(), garp.Move{Interface: "lan", MAC: u.c.vmac, Addrs: []netip.Addr{u.c.vip}})
	_ = u.lan.RemoveHardwareAddr(u.c.vmac)
	u.c.log(u.name, "vmac: removed from lan, garp stopped", "no longer primary")
}

func (u *unit) flushSync() {
	for _, e := range u.recv.Events(u.events[:0]) {
		switch e.Kind {
		case statesync.EventInSync, statesync.EventOutOfSync, statesync.EventResync:
			u.c.log(u.name, "statesync: "+e.String(), fmt.Sprintf("stream from unit%d, %d sessions in table", u.recvFrom, u.table.Len()))
		}
	}
	for _, p := range u.c.units { // in unit order, so runs are reproducible
		s := u.senders[p.id]
		if s == nil {
			continue
		}
		dst := mac(2, byte(p.id))
		for _, b := range s.Output(nil) {
			_, _ = u.sync.WriteTo(ethFrame(dst, u.sync.HardwareAddr(), etherSync, b), nil)
		}
	}
	if u.recvFrom != 0 {
		dst := mac(2, byte(u.recvFrom))
		for _, b := range u.recv.Output(nil) {
			_, _ = u.sync.WriteTo(ethFrame(dst, u.sync.HardwareAddr(), etherSync, b), nil)
		}
	}
}

// unitReport is a unit's state and counters at the end of a scenario.
type unitReport struct {
	Name          string                  `json:"name"`
	Role          string                  `json:"role"`
	Failed        bool                    `json:"failed,omitempty"`
	Sessions      int                     `json:"sessions_in_table"`
	Heartbeat     heartbeat.Counters      `json:"heartbeat"`
	Election      election.Counters       `json:"election"`
	GARP          garp.Stats              `json:"garp"`
	Guard         vmac.GuardStats         `json:"vmac_guard"`
	Receiver      statesync.ReceiverStats `json:"statesync_receiver"`
	ForeignStream int                     `json:"sync_datagrams_ignored_as_primary"`
	UnknownPkts   int                     `json:"unknown_session_packets"`
}

func (u *unit) report() unitReport {
	return unitReport{
		Name: u.name, Role: u.role.String(), Failed: u.dead, Sessions: u.table.Len(),
		Heartbeat: u.mon.Counters(), Election: u.el.Counters(), GARP: u.speaker.Stats(),
		Guard: u.guard.Stats(), Receiver: u.recv.Stats(),
		ForeignStream: u.foreignStream, UnknownPkts: u.unknownSessions,
	}
}
