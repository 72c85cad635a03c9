package heartbeat

import (
	"net"

	"github.com/hakit/hakit"
)

// SourceMAC returns the Ethernet source address of heartbeats sent by unit
// with role r in cluster c: a locally administered unicast address
//
//	(0x02 | r<<4) : 0xC1 : c>>8 : c&0xFF : unit>>8 : unit&0xFF
//
// The low nibble 0x2 of the first octet sets the locally administered bit and
// clears the multicast bit, whatever the role (roles are below 16).
func SourceMAC(c, unit uint16, r hakit.Role) net.HardwareAddr {
	return net.HardwareAddr{0x02 | byte(r&0x0F)<<4, 0xC1, byte(c >> 8), byte(c), byte(unit >> 8), byte(unit)}
}

// GroupMAC returns the multicast group every unit of cluster c listens to:
// the locally administered multicast address 03:C1:4B:00:c>>8:c&0xFF.
func GroupMAC(c uint16) net.HardwareAddr {
	return net.HardwareAddr{0x03, 0xC1, 0x4B, 0x00, byte(c >> 8), byte(c)}
}

// Listener is a unit that receives heartbeats, as MAC derivation needs it.
type Listener struct {
	// Unit is the unit's ID.
	Unit uint16
	// Role is the role the unit advertises.
	Role hakit.Role
}

// DestinationMAC returns the Ethernet destination of heartbeats in cluster c
// given the units listening besides the sender: the one peer's SourceMAC when
// exactly one listens (a two-unit cluster: the address depends on the
// receiver's role), and GroupMAC(c) otherwise (more than two units, or peers
// not yet known).
func DestinationMAC(c uint16, peers ...Listener) net.HardwareAddr {
	if len(peers) == 1 {
		return SourceMAC(c, peers[0].Unit, peers[0].Role)
	}
	return GroupMAC(c)
}
