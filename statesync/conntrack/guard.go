package conntrack

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hakit/hakit/statesync"
)

// ErrRefused reports a replicated session the Guard refused to inject.
var ErrRefused = errors.New("conntrack: session refused")

// MaxKernelTimeout is the longest timeout the kernel gives an entry by
// default: an established TCP connection's 5 days
// (nf_conntrack_tcp_timeout_established). Guard caps injected timeouts at it.
const MaxKernelTimeout = 5 * 24 * time.Hour

// Guard is what a standby checks of each replicated session before the
// Injector writes it into the kernel. Replicated sessions come from the
// peer: a broken or forged peer must not be able to open a hole in this
// unit's firewall (a session to the unit itself), pin an entry for decades,
// or set marks that the unit's own rules act on.
//
// The zero Guard refuses sessions with loopback, unspecified or multicast
// addresses, caps timeouts at MaxKernelTimeout and clears marks.
type Guard struct {
	// Local reports whether addr is one of this unit's own addresses
	// (addr is unmapped, without a zone); a session with one of them in
	// its original or reply tuple is refused: it would let traffic to the
	// unit itself through as an established connection. Nil treats only
	// loopback addresses as local. Virtual addresses that the cluster
	// forwards with destination NAT appear as the original destination
	// and are not local in this sense: leave them out.
	Local func(addr netip.Addr) bool
	// MaxTimeout caps the time left on an injected session (zero:
	// MaxKernelTimeout). A session expiring later is injected with this
	// timeout.
	MaxTimeout time.Duration
	// KeepMarks carries the sessions' connection marks into the kernel.
	// Off by default: the peer's marks then cannot steer this unit's rules
	// (policy routing, nftables meta mark).
	KeepMarks bool
}

// Check checks s at now and fits it for injection: its deadline capped at
// now plus MaxTimeout (a session that never expires gets that deadline
// too), its mark cleared unless KeepMarks. A session Guard refuses is left
// unchanged and an error wrapping ErrRefused says why. A nil *Guard is the
// zero Guard.
func (g *Guard) Check(now time.Time, s *statesync.Session) error {
	var z Guard
	if g == nil {
		g = &z
	}
	src, dst := s.Reply()
	for _, ap := range [...]netip.AddrPort{s.Key.Src, s.Key.Dst, src, dst} {
		if why := g.refuse(ap.Addr()); why != "" {
			return fmt.Errorf("conntrack: session %v: %s: %w", s.Key, why, ErrRefused)
		}
	}
	max := g.MaxTimeout
	if max <= 0 {
		max = MaxKernelTimeout
	}
	if limit := statesync.Deadline(now.Add(max)); s.Expires == 0 || s.Expires > limit {
		s.Expires = limit
	}
	if !g.KeepMarks {
		s.Mark = 0
	}
	return nil
}

// refuse returns why a replicated address is refused, "" if it is not:
// missing, not a forwarded host's (loopback, unspecified, multicast,
// broadcast) or this unit's own.
func (g *Guard) refuse(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return "no address"
	case a.IsLoopback(), a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Sprintf("address %v is not a forwarded host's", a)
	case g.Local != nil && g.Local(a):
		return fmt.Sprintf("address %v is this unit's own", a)
	}
	return ""
}
