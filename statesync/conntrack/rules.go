package conntrack

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/statesync"
)

// Rules selects the sessions a Follower replicates by protocol, address and
// TCP state, as conntrackd's Filter section does. A nil *Rules, or a zero
// Rules, selects every session.
type Rules struct {
	// Protocols, if not empty, are the IP protocol numbers kept
	// (conntrackd: Protocol Accept), for example 6 (TCP) and 17 (UDP).
	Protocols []uint8
	// Addrs, if not empty, keeps only sessions whose original source or
	// destination is in one of these prefixes (conntrackd: Address
	// Accept).
	Addrs []netip.Prefix
	// IgnoreAddrs drops sessions with an endpoint in one of these
	// prefixes: original source or destination, or the reply's when
	// translated (conntrackd: Address Ignore), typically the units' own
	// addresses, whose sessions end on the unit and cannot move.
	IgnoreAddrs []netip.Prefix
	// TCPStates, if not empty, are the TCP states kept (conntrackd: State
	// Accept), for example statesync.TCPStateEstablished; sessions of
	// other protocols are not concerned. A session that moves to a state
	// not kept is removed from the table.
	TCPStates []uint8
}

// Validate reports an invalid prefix or a TCP state the kernel does not
// have, as an error wrapping hakit.ErrConfig.
func (r *Rules) Validate() error {
	if r == nil {
		return nil
	}
	for _, p := range slices.Concat(r.Addrs, r.IgnoreAddrs) {
		if !p.IsValid() {
			return fmt.Errorf("conntrack: rules: an invalid prefix: %w", hakit.ErrConfig)
		}
	}
	for _, st := range r.TCPStates {
		if st > statesync.TCPStateSynSent2 {
			return fmt.Errorf("conntrack: rules: TCP state %d does not exist: %w", st, hakit.ErrConfig)
		}
	}
	return nil
}

// Match reports whether the rules select s.
func (r *Rules) Match(s *statesync.Session) bool {
	if r == nil {
		return true
	}
	if len(r.Protocols) > 0 && !slices.Contains(r.Protocols, s.Key.Proto) {
		return false
	}
	if len(r.TCPStates) > 0 && s.Key.Proto == protoTCP && !slices.Contains(r.TCPStates, s.State) {
		return false
	}
	rs, rd := s.Reply()
	if len(r.IgnoreAddrs) > 0 && (in(r.IgnoreAddrs, s.Key.Src) || in(r.IgnoreAddrs, s.Key.Dst) ||
		s.NAT() && (in(r.IgnoreAddrs, rs) || in(r.IgnoreAddrs, rd))) {
		return false
	}
	if len(r.Addrs) > 0 && !in(r.Addrs, s.Key.Src) && !in(r.Addrs, s.Key.Dst) {
		return false
	}
	return true
}

func in(ps []netip.Prefix, a netip.AddrPort) bool {
	addr := a.Addr().Unmap()
	for _, p := range ps {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
