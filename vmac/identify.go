package vmac

import (
	"bytes"
	"fmt"
	"net"
)

// Scheme is a virtual MAC derivation scheme. The zero value is invalid.
type Scheme int

// Schemes, one per derivation function.
const (
	SchemeNetDefend Scheme = iota + 1 // NetDefendMAC
	SchemeFortiGate                   // FortiGateMAC
	SchemeVRRP                        // VRRPMAC (also CARP)
	SchemeVRRPv6                      // VRRPv6MAC
	SchemeLocal                       // LocalMAC
)

// String names the scheme.
func (s Scheme) String() string {
	switch s {
	case SchemeNetDefend:
		return "netdefend"
	case SchemeFortiGate:
		return "fortigate"
	case SchemeVRRP:
		return "vrrp"
	case SchemeVRRPv6:
		return "vrrp6"
	case SchemeLocal:
		return "local"
	default:
		return fmt.Sprintf("Scheme(%d)", int(s))
	}
}

// Identity is what a virtual MAC encodes: the inputs of the derivation that
// produces it.
type Identity struct {
	Scheme Scheme
	// Cluster is the cluster ID (NetDefend, Local), the HA group ID
	// (FortiGate) or the VRID (VRRP).
	Cluster uint16
	// VCluster is the FortiGate virtual cluster (1 or 2); 0 otherwise.
	VCluster int
	// Index is the port (NetDefend), interface index (FortiGate) or
	// interface number (Local); 0 for VRRP.
	Index int
}

// MAC derives the address id describes.
func (id Identity) MAC() (net.HardwareAddr, error) {
	switch id.Scheme {
	case SchemeNetDefend:
		return NetDefendMAC(id.Cluster, id.Index)
	case SchemeFortiGate:
		return FortiGateMAC(id.Cluster, id.VCluster, id.Index)
	case SchemeVRRP:
		return VRRPMAC(int(id.Cluster))
	case SchemeVRRPv6:
		return VRRPv6MAC(int(id.Cluster))
	case SchemeLocal:
		return LocalMAC(id.Cluster, id.Index)
	default:
		return nil, fmt.Errorf("vmac: scheme %v: %w", id.Scheme, ErrInvalid)
	}
}

// Identify reports which scheme produced mac and with what inputs, so a
// collision can be logged as "FortiGate group 88" rather than as hex. It
// reports false for addresses no scheme produces. A LocalMAC is any
// locally-administered unicast address starting with 02:00:00, so other
// software's addresses (containers, VMs) of that form are "identified" too:
// treat a SchemeLocal answer as a hint unless the segment is known to be
// ours.
func Identify(mac net.HardwareAddr) (Identity, bool) {
	if len(mac) != 6 {
		return Identity{}, false
	}
	switch {
	case bytes.Equal(mac[:5], []byte{0x10, 0x00, 0x00, 0xc1, 0x4a}):
		return Identity{Scheme: SchemeNetDefend, Cluster: uint16(mac[5] >> 2), Index: int(mac[5] & 3)}, true
	case bytes.Equal(mac[:4], []byte{0x00, 0x09, 0x0f, 0x09}),
		bytes.Equal(mac[:3], []byte{0xe0, 0x23, 0xff}) && mac[3] >= 0xfc && mac[3] <= 0xfe:
		group := uint16(mac[4])
		if mac[0] == 0xe0 {
			group += uint16(mac[3]-0xfb) << 8
		}
		return Identity{Scheme: SchemeFortiGate, Cluster: group, VCluster: 1 + int(mac[5]>>7), Index: int(mac[5] & 0x7f)}, true
	case bytes.Equal(mac[:5], []byte{0x00, 0x00, 0x5e, 0x00, 0x01}) && mac[5] != 0:
		return Identity{Scheme: SchemeVRRP, Cluster: uint16(mac[5])}, true
	case bytes.Equal(mac[:5], []byte{0x00, 0x00, 0x5e, 0x00, 0x02}) && mac[5] != 0:
		return Identity{Scheme: SchemeVRRPv6, Cluster: uint16(mac[5])}, true
	case mac[0] == 0x02 && mac[1] == 0 && mac[2] == 0:
		return Identity{Scheme: SchemeLocal, Cluster: uint16(mac[3])<<8 | uint16(mac[4]), Index: int(mac[5])}, true
	}
	return Identity{}, false
}
