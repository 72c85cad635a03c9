package main

import (
	"context"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/vmac"
)

// maxGuardCollisions bounds the virtual MAC collisions the status lists.
const maxGuardCollisions = 32

// macGuard watches, on every interface that carries a virtual MAC, for
// frames that another station sends from it while this unit holds it:
// another cluster with our cluster ID (so our virtual MACs) on the
// segment, or a unit that died holding them. It is vmac's collision
// Guard; what it finds is logged (a warning: the heartbeats tell another
// cluster apart, at error level), counted and listed in the status. It
// changes no role.
type macGuard struct {
	drv   *vmac.GuardDriver
	conns []net.PacketConn
	wg    sync.WaitGroup

	mu    sync.Mutex
	found []CollisionStatus
}

// withGuard starts the guard (when virtual MACs are in use) and returns
// steps with one more after the addresses: the guard knows this unit holds
// the virtual MACs from the moment they are up until they go down.
func (d *daemon) withGuard(steps []member.Step) ([]member.Step, error) {
	var macs []net.HardwareAddr
	for _, t := range d.takeovers {
		if len(t.MAC) == 6 {
			macs = append(macs, t.MAC)
		}
	}
	if len(macs) == 0 {
		return steps, nil
	}
	g, err := vmac.NewGuard(&vmac.GuardConfig{ClusterID: d.cfg.ClusterID, Self: d.cfg.UnitID,
		Members: map[uint16][]net.HardwareAddr{d.cfg.UnitID: nil}, VirtualMACs: macs})
	if err != nil {
		return nil, err
	}
	mg := &macGuard{}
	mg.drv = vmac.NewGuardDriver(g, func(c *vmac.CollisionError) {
		mg.mu.Lock()
		if len(mg.found) < maxGuardCollisions {
			mg.found = append(mg.found, CollisionStatus{Kind: c.Kind.String(), Interface: c.Interface, Last: time.Now(),
				Reason: "another station sends from our virtual MAC " + c.MAC.String() +
					": another cluster with this cluster ID, or a unit that died holding it"})
			mg.found[len(mg.found)-1].First = mg.found[len(mg.found)-1].Last
		}
		mg.mu.Unlock()
	}, d.log.With("part", "vmac-guard"))
	d.guard = mg
	for _, t := range d.takeovers {
		if len(t.MAC) != 6 {
			continue
		}
		conn, err := vmac.ListenFrames(t.Interface, []net.HardwareAddr{t.MAC})
		if err != nil {
			return nil, err
		}
		mg.conns = append(mg.conns, conn)
		mg.wg.Add(1)
		go func() {
			defer mg.wg.Done()
			if err := mg.drv.Serve(t.Interface, conn); err != nil {
				d.log.Warn("virtual MAC guard stopped", "interface", t.Interface, "err", err)
			}
		}()
	}
	holding := member.Func("vmac guard",
		func(context.Context) error { mg.drv.SetHolding(true); return nil },
		func(context.Context) error { mg.drv.SetHolding(false); return nil })
	i := slices.IndexFunc(steps, func(s member.Step) bool { return s.Name() == "addresses" })
	return slices.Insert(steps, i+1, holding), nil
}

// collisions returns what the guard found, and its counters.
func (g *macGuard) collisions() ([]CollisionStatus, vmac.GuardStats) {
	if g == nil {
		return nil, vmac.GuardStats{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.found), g.drv.Stats()
}

// close stops the guard.
func (g *macGuard) close() {
	if g == nil {
		return
	}
	for _, c := range g.conns {
		c.Close()
	}
	g.wg.Wait()
}
