package statesync

import (
	"net/netip"
	"sync"
	"time"
)

// Expectation is a connection a conntrack helper expects: an FTP data
// connection announced on the control connection (PORT, PASV), or the
// media streams a SIP call's SDP announced. The kernel lets the first
// packet of a connection that matches an expectation through as related to
// its master session, and then forgets the expectation. A unit that takes
// over needs the expectations pending at the takeover, or the connections
// they announced fail there.
//
// An expected connection matches when its protocol, destination address
// and port equal the expectation's, and its source address and port equal
// Key.Src under SrcMask and SrcPortMask (the kernel's struct
// nf_conntrack_expect; the destination always matches exactly).
type Expectation struct {
	// Key is the expected connection's zone, protocol and endpoints. It
	// identifies the expectation; the source port is 0 when any is
	// expected (SrcPortMask 0).
	Key Key
	// Master is the key of the session that announced the connection
	// (in Key's zone): the standby creates the expectation on its copy.
	Master Key
	// SrcMask holds the bits of Key.Src's address that must match (all
	// ones for an exact address); the zero Addr matches any.
	SrcMask netip.Addr
	// SrcPortMask is 0xffff when the source port must match, 0 when any
	// port does.
	SrcPortMask uint16
	// Expires is the absolute deadline after which the kernel forgets the
	// expectation, in Unix seconds (as Session.Expires).
	Expires uint32
	// Helper names the helper that created the expectation ("ftp",
	// "sip"; at most MaxHelperLen bytes).
	Helper string
	// Fn names the function the kernel runs when the expected connection
	// arrives ("nat-follow-master" for a NAT helper's data connection,
	// "sip" for SIP media through NAT; at most MaxExpectFnLen bytes),
	// empty for none.
	Fn string
	// Class is the helper's class of the expectation (SIP: signalling,
	// audio, video).
	Class uint32
	// Flags are the kernel's expectation flags (NF_CT_EXPECT_PERMANENT,
	// NF_CT_EXPECT_INACTIVE).
	Flags uint32
	// NATDir and NATSrc are the address translation the expected
	// connection gets (the kernel's saved address and port, and the
	// direction of the master they come from): zero for none.
	NATDir uint8
	NATSrc netip.AddrPort
}

// MaxExpectFnLen is the longest Expectation.Fn.
const MaxExpectFnLen = 31

// MaxExpectations is the most expectations a Table holds: the kernel's
// own default limit (nf_conntrack_expect_max) is of the same order. When
// it is full, an expectation that has not expired yet is refused
// (Table.UpsertExpect reports false; a Receiver counts it in
// ReceiverStats.DropExpect).
const MaxExpectations = 4096

// expectSet is a Table's expectations: few and short-lived (seconds to
// minutes), so a map under one lock.
type expectSet struct {
	mu sync.Mutex
	m  map[Key]expectEntry
}

type expectEntry struct {
	e           Expectation
	origin, gen uint8
}

func normalExpect(e Expectation) Expectation {
	e.Key = canonKey(e.Key)
	e.Master = canonKey(e.Master)
	e.SrcMask = e.SrcMask.Unmap().WithZone("")
	e.NATSrc = canonAP(e.NATSrc)
	return e
}

// UpsertExpect stores e at now (the owner's side; a Driver replicates
// it): it replaces an expectation with the same key. When the table holds
// MaxExpectations, the expired ones are removed first; if none has, e is
// refused and UpsertExpect returns false.
func (t *Table) UpsertExpect(now time.Time, e Expectation) bool {
	return t.storeExpect(now, normalExpect(e), 0, t.curGen(0))
}

func (t *Table) storeExpect(now time.Time, e Expectation, origin, gen uint8) bool {
	x := &t.exp
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = make(map[Key]expectEntry)
	}
	if _, ok := x.m[e.Key]; !ok && len(x.m) >= MaxExpectations {
		x.expireLocked(now, nil)
		if len(x.m) >= MaxExpectations {
			return false
		}
	}
	x.m[e.Key] = expectEntry{e: e, origin: origin, gen: gen}
	return true
}

// DeleteExpect removes the expectation with key k and returns it.
func (t *Table) DeleteExpect(k Key) (Expectation, bool) {
	x := &t.exp
	k = canonKey(k)
	x.mu.Lock()
	defer x.mu.Unlock()
	en, ok := x.m[k]
	delete(x.m, k)
	return en.e, ok
}

// Expectations appends the table's expectations to dst, in no order.
func (t *Table) Expectations(dst []Expectation) []Expectation {
	x := &t.exp
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, en := range x.m {
		dst = append(dst, en.e)
	}
	return dst
}

// ownExpectations appends the expectations this unit stored itself
// (UpsertExpect, origin 0), not those received from peers: what a bulk
// sync sends.
func (t *Table) ownExpectations(dst []Expectation) []Expectation {
	x := &t.exp
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, en := range x.m {
		if en.origin == 0 {
			dst = append(dst, en.e)
		}
	}
	return dst
}

// ExpectLen returns the number of expectations in the table.
func (t *Table) ExpectLen() int {
	x := &t.exp
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.m)
}

// ExpireExpects removes the expectations whose deadline has passed at now,
// calling fn (if not nil) with each, and returns how many it removed.
func (t *Table) ExpireExpects(now time.Time, fn func(Expectation)) int {
	x := &t.exp
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.expireLocked(now, fn)
}

func (x *expectSet) expireLocked(now time.Time, fn func(Expectation)) int {
	n := 0
	sec := now.Unix()
	for k, en := range x.m {
		if en.e.Expires != 0 && int64(en.e.Expires) <= sec {
			delete(x.m, k)
			n++
			if fn != nil {
				fn(en.e)
			}
		}
	}
	return n
}

// sweepExpects removes the expectations written by origin in another
// generation than gen (stale after a bulk sync).
func (t *Table) sweepExpects(origin, gen uint8) {
	x := &t.exp
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, en := range x.m {
		if en.origin == origin && en.gen != gen {
			delete(x.m, k)
		}
	}
}
