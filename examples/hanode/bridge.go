package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hakit/hakit/election/member"
)

// Transparent (bridging) mode: -bridge BR=PORT0,PORT1 makes the unit a
// transparent one. The unit bridges the two segments with the Linux
// bridge BR (created by the operator, ports enslaved, no address needed);
// only the primary's bridge forwards, the standby's ports are isolated
// from each other; the loop guard (member.LoopGuard) keeps a primary
// blocked while another bridge forwards (a split brain); the takeover
// makes the switches learn every MAC of the other side through the new
// primary's ports. The ports' links count in the election, as -iface's do.

// bridgePorts is one -bridge flag.
type bridgePorts struct {
	Bridge string
	Ports  [2]string
}

// bridgeFlagSet holds the transparent mode's flags until they are parsed.
type bridgeFlagSet struct {
	bridges listFlag
	probe   time.Duration
}

// bridgeFlags registers the transparent mode's flags.
func bridgeFlags(fs *flag.FlagSet) *bridgeFlagSet {
	b := &bridgeFlagSet{}
	fs.Var(&b.bridges, "bridge", "transparent mode: bridge BR=PORT0,PORT1 between two segments; only the primary's forwards (repeatable; every unit lists the same segment's port first)")
	fs.DurationVar(&b.probe, "bridge-probe-interval", 10*time.Millisecond, "transparent mode: the loop probes' interval; a takeover waits two of them, a bridge probe unheard for five counts as silent")
	return b
}

// parse checks the flags into c.
func (b *bridgeFlagSet) parse(c *config) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, a...))
	}
	if b.probe <= 0 || b.probe > time.Second {
		return bad("-bridge-probe-interval %v: want more than 0, at most 1s", b.probe)
	}
	c.BridgeProbe = b.probe
	for _, v := range b.bridges {
		br, ports, ok := strings.Cut(v, "=")
		p0, p1, ok2 := strings.Cut(ports, ",")
		names := []string{br, p0, p1}
		if !ok || !ok2 || slices.ContainsFunc(names, func(n string) bool { return n == "" || len(n) > 15 || strings.ContainsAny(n, "/ =,") }) || p0 == p1 {
			return bad("-bridge %q: want BRIDGE=PORT0,PORT1", v)
		}
		for _, o := range c.Bridges {
			if o.Bridge == br || slices.ContainsFunc(o.Ports[:], func(n string) bool { return n == p0 || n == p1 }) {
				return bad("-bridge %q: bridge or port given twice", v)
			}
		}
		for _, n := range names {
			if contains(c.Ifaces, n) || contains(c.vipIfaces(), n) {
				return bad("-bridge %q: %s is also an -iface or -vip interface (heartbeats go on a link of their own)", v, n)
			}
		}
		c.Bridges = append(c.Bridges, bridgePorts{Bridge: br, Ports: [2]string{p0, p1}})
	}
	return nil
}

// bridgePorts returns every bridge port: monitored interfaces.
func (c *config) bridgePorts() []string {
	var out []string
	for _, b := range c.Bridges {
		out = append(out, b.Ports[:]...)
	}
	return out
}

// bridgeSteps opens a bridge step for every -bridge and puts them into
// steps after the announcement (before the conntrack follower).
func (d *daemon) bridgeSteps(steps []member.Step) ([]member.Step, error) {
	at := len(steps)
	for i, s := range steps {
		if s.Name() == "announce" {
			at = i + 1
		}
	}
	for _, b := range d.cfg.Bridges {
		s, err := member.Bridge(&member.BridgeConfig{
			Bridge: b.Bridge, Ports: b.Ports, Announcer: d.speaker, Keys: d.cfg.Keys, Logger: d.log,
			Guard: &member.LoopGuardConfig{ClusterID: d.cfg.ClusterID, UnitID: d.cfg.UnitID, Priority: d.cfg.Priority, Interval: d.cfg.BridgeProbe},
		})
		if err != nil {
			return nil, err
		}
		d.bridges = append(d.bridges, s)
		steps = slices.Insert(steps, at, member.Step(s))
		at++
	}
	return steps, nil
}

// closeBridges stops the bridges' probes; they are left blocked.
func (d *daemon) closeBridges() {
	for _, b := range d.bridges {
		if err := b.Close(); err != nil {
			d.log.Error("closing the bridge step", "err", err)
		}
	}
	d.bridges = nil
}

// BridgeStatus is one transparent-mode bridge's state in the status.
type BridgeStatus struct {
	Bridge     string    `json:"bridge"`
	Ports      [2]string `json:"ports"`
	Forwarding bool      `json:"forwarding"`
	// Held says why a primary's bridge does not forward (another bridge
	// does).
	Held string `json:"held,omitempty"`
	// Learn counts, for each port, the MACs a takeover announces there.
	Learn       [2]int `json:"learn"`
	ProbesSent  uint64 `json:"probes_sent"`
	ProbesHeard uint64 `json:"probes_heard"`
	// Crossed counts this unit's probes heard back on its other port.
	Crossed   uint64 `json:"probes_crossed"`
	Yielded   uint64 `json:"yielded"`
	BadProbes uint64 `json:"bad_probes"`
}

func (d *daemon) bridgeStatus() []BridgeStatus {
	var out []BridgeStatus
	for i, b := range d.bridges {
		s := b.Stats()
		c := d.cfg.Bridges[i]
		out = append(out, BridgeStatus{Bridge: c.Bridge, Ports: c.Ports, Forwarding: s.Forwarding, Held: s.Held, Learn: s.Learn,
			ProbesSent: s.ProbesSent, ProbesHeard: s.ProbesHeard, Crossed: s.Crossed, Yielded: s.Yielded, BadProbes: s.BadProbes})
	}
	return out
}
