package conntrack

import (
	"errors"

	"github.com/hakit/hakit/statesync"
)

// Errors wrapped by the errors this package returns. On systems without
// netfilter conntrack every call returns an error wrapping
// errors.ErrUnsupported.
var (
	// ErrUnsupportedFlow reports a flow or session that cannot be
	// converted (another protocol, mixed address families, a template).
	ErrUnsupportedFlow = errors.New("conntrack: unsupported flow")
	// ErrExpired reports a session whose deadline has passed, with no
	// grace period configured (Config.Grace < 0): injecting it would
	// create an entry the kernel times out at once.
	ErrExpired = errors.New("conntrack: session expired")
)

// IP protocol numbers.
const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoDCCP    = 33
	protoICMPv6  = 58
	protoSCTP    = 132
	protoUDPLite = 136
)

func hasPorts(proto uint8) bool {
	switch proto {
	case protoTCP, protoUDP, protoDCCP, protoSCTP, protoUDPLite:
		return true
	}
	return false
}

func isICMP(proto uint8) bool { return proto == protoICMP || proto == protoICMPv6 }

// icmpReplyType returns the ICMP type of the reply to a query of type t
// (the kernel's invmap in nf_conntrack_proto_icmp{,v6}.c), and whether t is
// a query conntrack tracks.
func icmpReplyType(proto, t uint8) (uint8, bool) {
	if proto == protoICMP {
		switch t {
		case 8: // echo → echo reply
			return 0, true
		case 0:
			return 8, true
		case 13, 15, 17: // timestamp, info, address mask
			return t + 1, true
		case 14, 16, 18:
			return t - 1, true
		}
		return 0, false
	}
	switch t {
	case 128, 139: // echo request, node information query
		return t + 1, true
	case 129, 140:
		return t - 1, true
	}
	return 0, false
}

// Sink receives a Follower's changes. *statesync.Table implements it, and
// so does *statesync.Driver, which stores each change in its table and
// sends it to the peer.
type Sink interface {
	Upsert(s statesync.Session) statesync.Session
	Delete(k statesync.Key) (statesync.Session, bool)
}

// ExpectSink receives a Follower's expectations. *statesync.Driver
// implements it (it stores and replicates them). When Config.Sink does
// not, the Follower writes them to its table only.
type ExpectSink interface {
	UpsertExpect(e statesync.Expectation) bool
	DeleteExpect(k statesync.Key) (statesync.Expectation, bool)
}
