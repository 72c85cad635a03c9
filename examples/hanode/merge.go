package main

import (
	"time"

	"github.com/hakit/hakit/statesync"
)

// merged writes into the kernel the sessions that another unit, primary
// too during a split brain (a partition, or this unit's peer frozen and
// resumed), handed to this one before it stood down: the connections that
// went through it meanwhile carry on through this unit. The sessions are
// in the table already, as this unit's own; the injector's guard checks
// them as it checks a standby's.
func (d *daemon) merged(peer uint16, sessions []statesync.Session) {
	n, err := d.injector.Inject(time.Now(), sessions...)
	if err != nil {
		d.log.Error("conntrack: sessions taken in from a unit that was primary too, not all injected", "peer", peer, "injected", n, "of", len(sessions), "err", err)
		return
	}
	d.log.Info("conntrack: sessions taken in from a unit that was primary too, injected", "peer", peer, "injected", n)
}
