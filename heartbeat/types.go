package heartbeat

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hakit/hakit"
)

// State is the health of a peer as seen on one interface. The zero value is
// invalid.
type State uint8

// The states a Report carries.
const (
	// Alive: heartbeats arrive on the interface.
	Alive State = 1
	// Suspect: Misses intervals passed without a heartbeat; Early Interface
	// Failure Detection is probing the interface's neighbours and the peer.
	Suspect State = 2
	// LocalFault: verdict that this unit's interface is broken: no probed
	// neighbour answered within the probe window, or there was nothing to
	// probe (the Reason says which).
	LocalFault State = 3
	// PeerFault: verdict that the peer's interface is broken: neighbours
	// answer here but the peer's heartbeats do not arrive, while they still
	// arrive on another interface.
	PeerFault State = 4
	// PeerDown: verdict that the peer is down: silent on every interface
	// while this interface is confirmed healthy.
	PeerDown State = 5
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case LocalFault:
		return "local-fault"
	case PeerFault:
		return "peer-fault"
	case PeerDown:
		return "peer-down"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Verdict reports whether s is a verdict (LocalFault, PeerFault, PeerDown).
func (s State) Verdict() bool { return s >= LocalFault && s <= PeerDown }

// Report is a change of a peer's state on one interface.
type Report struct {
	// Peer is the peer's unit ID.
	Peer uint16
	// Interface is the name of the local interface.
	Interface string
	// State is the new state.
	State State
	// Reason explains the change in words.
	Reason string
	// At is when the change happened (the now passed to the Machine).
	At time.Time
}

// String formats the report for logs.
func (r Report) String() string {
	return fmt.Sprintf("peer %d on %s: %v (%s)", r.Peer, r.Interface, r.State, r.Reason)
}

// Transmit is a heartbeat frame to send.
type Transmit struct {
	// Interface is the interface's name and Index its position in the
	// list given to NewMachine.
	Interface string
	Index     int
	// Data is the encoded frame (the Ethernet payload).
	Data []byte
	// Echo marks an echo request or reply (see Echo) rather than a
	// heartbeat; both go out on the interface's Conn the same way.
	Echo bool
	// Src and Dst are the derived Ethernet addresses.
	Src, Dst net.HardwareAddr
}

// Probe is an EIFD probe to send: an ARP request (IPv4) or a neighbour
// solicitation (IPv6) for Target.
type Probe struct {
	// Interface is the interface's name and Index its position in the
	// list given to NewMachine.
	Interface string
	Index     int
	// Target is the address to resolve.
	Target netip.Addr
}

// Heard is a peer's heartbeat that carries its newest payload: the first
// frame of a send round of the peer to arrive on any interface. A frame of
// an older round, or another interface's copy of a round already heard, is
// counted as a heartbeat of its interface but not heard again, so a
// payload is never observed after a newer one (see the package
// documentation, Payloads).
type Heard struct {
	// Peer is the peer's unit ID.
	Peer uint16
	// Interface is the local interface the frame arrived on.
	Interface string
	// Role is the role the peer advertises.
	Role hakit.Role
	// Payload is the peer's payload (its election candidate, for
	// example). In an Output of a Machine it aliases the Machine's storage
	// and is valid until the next call of the Machine; a Driver's OnHeard
	// gets its own copy.
	Payload []byte
	// At is when the frame was accepted (the now passed to the Machine).
	At time.Time
}

// Output is what a Machine call asks its caller to do and tell.
type Output struct {
	// Frames are heartbeats, and echo requests and replies, to send now
	// on the interfaces' Conns.
	Frames []Transmit
	// Probes are EIFD probes (ARP, neighbour solicitation) to send now,
	// within the interface's probe budget.
	Probes []Probe
	// Reports are state changes, in order.
	Reports []Report
	// Heard is the peer's newest payload, from Receive: set when the frame
	// received is the newest of its peer (see Heard), else empty. It aliases
	// the Machine's storage until the next call.
	Heard []Heard
	// Collisions are signs, new or not reported for CollisionReportEvery,
	// that another cluster uses this cluster's ID (see Collision).
	Collisions []Collision
}

// Drops counts received frames dropped, by reason.
type Drops struct {
	// Malformed: truncated, oversized, bad version or inconsistent fields.
	Malformed uint64
	// OtherCluster: a valid frame of another cluster ID.
	OtherCluster uint64
	// ClusterTag: a frame of our cluster ID with another cluster's tag
	// (see ClusterTag): another cluster was given our ID.
	ClusterTag uint64
	// Auth: unauthenticated when keys are configured, authenticated when
	// none are, an unknown key ID, or a bad tag.
	Auth uint64
	// Replay: a sequence number not above the newest accepted in the
	// sender's current epoch on that interface.
	Replay uint64
	// Stale: an epoch older than the sender's newest on that interface.
	Stale uint64
	// StaleNonce (with keys): an authenticated frame of a start of its
	// sender not shown to be live, because it does not echo this unit's
	// nonce: recorded before this unit started and replayed, or one of the
	// first frames of a peer before the nonces were exchanged (one or two
	// at each start).
	StaleNonce uint64
	// Own: this unit's own unit ID (a looped-back frame, or a duplicate
	// unit ID in the cluster).
	Own uint64
	// UnknownInterface: a frame for an interface the Machine does not have.
	UnknownInterface uint64
	// WrongInterface: a frame sent on another of the sender's interfaces
	// than the one it arrived on (its Interface field is not this link's
	// index): relayed from another segment, which would hide a broken link.
	WrongInterface uint64
	// PeerLimit: a frame of a new unit when Config.MaxPeers are known.
	PeerLimit uint64
	// Unknown: an echo from a unit whose heartbeats never arrived here.
	Unknown uint64
}

// Counters are a Machine's (and Driver's) running totals.
type Counters struct {
	// Sent and Received count heartbeat frames (Received: accepted ones).
	Sent, Received uint64
	// Dropped counts rejected frames by reason.
	Dropped Drops
	// SendErrors counts frames or probes the transport failed to send
	// (Driver only).
	SendErrors uint64
	// ProbesSent and ProbeReplies count EIFD probes (ARP requests and
	// neighbour solicitations) and the replies to them; ProbesSuppressed
	// the probes the probe budget held back (see Config.ProbeBudget).
	ProbesSent, ProbeReplies, ProbesSuppressed uint64
	// EchoRequests counts echo requests sent, EchoReplies the replies to
	// them accepted, EchoAnswered the requests of other units answered.
	EchoRequests, EchoReplies, EchoAnswered uint64
	// Suspicions counts Alive→Suspect changes, Recoveries suspicions ended
	// by heartbeats before a verdict.
	Suspicions, Recoveries uint64
	// Verdicts counts LocalFault, PeerFault and PeerDown reports;
	// EarlyVerdicts the PeerDown verdicts reached before the window ended.
	Verdicts, EarlyVerdicts uint64
	// Withdrawn counts LocalFault verdicts withdrawn because the interface
	// was shown to work (reported Suspect, EIFD running again).
	Withdrawn uint64
	// ReadErrors counts failed reads of a Conn or Prober that the Driver
	// retried (Driver only).
	ReadErrors uint64
	// Collisions counts the frames that showed another cluster using
	// this cluster's ID (see Collision), whatever drop counted them.
	Collisions uint64
}

// PeerStatus is what a Machine knows of one peer.
type PeerStatus struct {
	// Unit is the peer's unit ID, Role the role it advertises.
	Unit uint16
	Role hakit.Role
	// Payload is a copy of the payload of its newest frame (see Heard).
	Payload []byte
	// Links is its state on each local interface, in interface order.
	Links []LinkStatus
}

// LinkStatus is a peer's state on one interface.
type LinkStatus struct {
	// Interface is the local interface's name.
	Interface string
	// State is the current state.
	State State
	// Addr is the peer's advertised address there (may be the zero Addr).
	Addr netip.Addr
	// LastHeard is when the newest frame was accepted (zero if never).
	LastHeard time.Time
	// Loss is the share of the peer's recent heartbeats that did not
	// arrive, from sequence gaps over the last lossWindowLen frames.
	Loss float64
}
