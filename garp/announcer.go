package garp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
)

// Announcer tells the network that addresses moved to this unit. The ARP/NDP
// implementation is Driver; a cloud implementation updates a route table or
// moves a secondary IP through the provider's API instead (see the package
// documentation). Implementations must be safe for concurrent use.
type Announcer interface {
	// Announce makes the network send traffic for m's addresses (and, in
	// transparent mode, m's Learn MACs) to this unit through m.Interface.
	// It returns once the announcement is under way; an announcer that
	// keeps repeating it (Driver does) repeats until Withdraw.
	Announce(ctx context.Context, m Move) error
	// Withdraw stops announcing m, at once: an announcer that repeats
	// sends nothing for m after Withdraw returns. It is not an error to
	// withdraw a move that is not being announced.
	Withdraw(ctx context.Context, m Move) error
}

// Move is what moved to this unit on one interface.
type Move struct {
	// Interface is the name of the interface the addresses are now
	// reached through.
	Interface string
	// MAC is the hardware address the addresses now answer at: the
	// cluster's virtual MAC, or the interface's own MAC when the addresses
	// move between units with different MACs. The Driver requires a
	// unicast 6-byte MAC when Addrs is not empty, and announces one Move
	// per interface and MAC: announcing again replaces the addresses.
	// Cloud announcers may ignore it.
	MAC net.HardwareAddr
	// Addrs are the virtual addresses, IPv4 and IPv6.
	Addrs []netip.Addr
	// Learn lists, for transparent (bridge) mode, the MACs known on the
	// other segments (from a bridge forwarding table or a neighbour
	// table) that the switches behind Interface must learn through it.
	Learn []net.HardwareAddr
}

// ErrMove is wrapped by the errors for moves that cannot be announced.
var ErrMove = errors.New("invalid move")

// normalize returns a copy of m with its addresses unmapped, unzoned and
// deduplicated, or an error naming what is wrong with it.
func (m Move) normalize() (Move, error) {
	if m.Interface == "" {
		return Move{}, fmt.Errorf("garp: move without an interface: %w", ErrMove)
	}
	if len(m.Addrs) == 0 && len(m.Learn) == 0 {
		return Move{}, fmt.Errorf("garp: move on %s has nothing to announce: %w", m.Interface, ErrMove)
	}
	out := Move{Interface: m.Interface}
	if len(m.Addrs) > 0 || m.MAC != nil {
		if err := checkMAC(m.MAC); err != nil {
			return Move{}, fmt.Errorf("garp: move on %s: %w: %w", m.Interface, err, ErrMove)
		}
		out.MAC = bytes.Clone(m.MAC)
	}
	for _, a := range m.Addrs {
		a = a.Unmap().WithZone("")
		if err := checkAddr(a); err != nil {
			return Move{}, fmt.Errorf("garp: move on %s: %w: %w", m.Interface, err, ErrMove)
		}
		if !slices.Contains(out.Addrs, a) {
			out.Addrs = append(out.Addrs, a)
		}
	}
	for _, mac := range m.Learn {
		if err := checkMAC(mac); err != nil {
			return Move{}, fmt.Errorf("garp: move on %s: learn: %w: %w", m.Interface, err, ErrMove)
		}
		if !slices.ContainsFunc(out.Learn, func(x net.HardwareAddr) bool { return bytes.Equal(x, mac) }) {
			out.Learn = append(out.Learn, bytes.Clone(mac))
		}
	}
	return out, nil
}

// clone returns a deep copy of m.
func (m Move) clone() Move {
	c := Move{Interface: m.Interface, MAC: bytes.Clone(m.MAC), Addrs: slices.Clone(m.Addrs)}
	for _, mac := range m.Learn {
		c.Learn = append(c.Learn, bytes.Clone(mac))
	}
	return c
}

// Op names an Announcer method in a Recorder's log.
type Op string

// The Announcer methods.
const (
	OpAnnounce Op = "announce"
	OpWithdraw Op = "withdraw"
)

// Call is one call a Recorder saw.
type Call struct {
	Op   Op
	Move Move
	// Err is what the call returned.
	Err error
}

// Recorder is an Announcer that records its calls, for tests of code that
// announces. It is safe for concurrent use; the zero value is ready to use.
type Recorder struct {
	// Fail, when set, decides what each call returns (nil: success). It is
	// called with the Recorder's lock held and must not call back into it.
	Fail func(op Op, m Move) error

	mu    sync.Mutex
	calls []Call
}

var _ Announcer = (*Recorder)(nil)

// Announce records the call.
func (r *Recorder) Announce(ctx context.Context, m Move) error {
	return r.record(ctx, OpAnnounce, m)
}

// Withdraw records the call.
func (r *Recorder) Withdraw(ctx context.Context, m Move) error {
	return r.record(ctx, OpWithdraw, m)
}

func (r *Recorder) record(ctx context.Context, op Op, m Move) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := ctx.Err()
	if err == nil && r.Fail != nil {
		err = r.Fail(op, m)
	}
	r.calls = append(r.calls, Call{Op: op, Move: m.clone(), Err: err})
	return err
}

// Calls returns a copy of the calls so far, oldest first.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Call, len(r.calls))
	for i, c := range r.calls {
		out[i] = Call{Op: c.Op, Move: c.Move.clone(), Err: c.Err}
	}
	return out
}

// Announced returns the moves announced successfully and not withdrawn
// since, in the order they were announced; a move is identified by its
// interface and MAC.
func (r *Recorder) Announced() []Move {
	r.mu.Lock()
	defer r.mu.Unlock()
	var live []Move
	for _, c := range r.calls {
		if c.Err != nil {
			continue
		}
		i := slices.IndexFunc(live, func(x Move) bool {
			return x.Interface == c.Move.Interface && bytes.Equal(x.MAC, c.Move.MAC)
		})
		if i >= 0 {
			live = slices.Delete(live, i, i+1)
		}
		if c.Op == OpAnnounce {
			live = append(live, c.Move.clone())
		}
	}
	return live
}

// Reset forgets the calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}
