package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"

	"github.com/hakit/hakit"
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
		if !u.dead && u.role() == hakit.Primary {
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
