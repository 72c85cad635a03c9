package conntrack

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hakit/hakit/statesync"
)

// MaxExpectTimeout caps the time left on an injected expectation: the
// longest a kernel helper gives one (FTP's 5 minutes).
const MaxExpectTimeout = 5 * time.Minute

// CheckExpect checks a replicated expectation at now as Check checks a
// session: the addresses of the expected connection, of its master and of
// its translation must be forwarded hosts' (not loopback, multicast or
// this unit's own; the expected source may be unspecified when any is
// expected, and the translation's when only its port is kept), the master in the same zone, and the deadline is capped at
// now plus MaxExpectTimeout (or MaxTimeout if shorter). An expectation
// Guard refuses is left unchanged and an error wrapping ErrRefused says
// why. A nil *Guard is the zero Guard.
func (g *Guard) CheckExpect(now time.Time, e *statesync.Expectation) error {
	var z Guard
	if g == nil {
		g = &z
	}
	if e.Master.Zone != e.Key.Zone {
		return fmt.Errorf("conntrack: expectation %v: master in zone %d: %w", e.Key, e.Master.Zone, ErrRefused)
	}
	anySrc := !e.SrcMask.IsValid() || e.SrcMask.IsUnspecified()
	addrs := [...]netip.Addr{e.Key.Src.Addr(), e.Key.Dst.Addr(), e.Master.Src.Addr(), e.Master.Dst.Addr(), e.NATSrc.Addr()}
	for i, a := range addrs {
		unset := !a.IsValid() || a.Unmap().IsUnspecified()
		if i == 0 && anySrc && unset || i == 4 && unset {
			continue // any source; no translated address (a NAT helper may keep only the port)
		}
		if why := g.refuse(a); why != "" {
			return fmt.Errorf("conntrack: expectation %v: %s: %w", e.Key, why, ErrRefused)
		}
	}
	max := MaxExpectTimeout
	if g.MaxTimeout > 0 && g.MaxTimeout < max {
		max = g.MaxTimeout
	}
	if limit := statesync.Deadline(now.Add(max)); e.Expires == 0 || e.Expires > limit {
		e.Expires = limit
	}
	return nil
}
