package vmac

import (
	"errors"
	"fmt"
	"net"
)

// ErrOutOfRange is wrapped by every derivation error: an input outside the
// range the scheme can encode. Derivations never wrap around.
var ErrOutOfRange = errors.New("out of range")

// NetDefendOS (D-Link NetDefendOS, Clavister cOS Core) shared hardware
// addresses have the form 10:00:00:c1:4a:nn. The manual says nn is "derived by
// combining the Cluster ID ... with the hardware bus/slot/port of the
// interface" without giving the formula. This package uses
//
//	nn = clusterID<<2 | port    clusterID 0..63, port 0..3
//
// so that every (cluster, port) pair gets its own address and the cluster ID
// range matches the vendor's (0..63). Clusters needing more than four
// interfaces per cluster should use LocalMAC.
const (
	// NetDefendMaxCluster is the largest cluster ID NetDefendMAC accepts.
	NetDefendMaxCluster = 63
	// NetDefendMaxPort is the largest interface (bus/slot/port) number
	// NetDefendMAC accepts.
	NetDefendMaxPort = 3
)

// NetDefendMAC returns the NetDefendOS-style shared MAC 10:00:00:c1:4a:nn for
// cluster ID clusterID (0..63) on interface port (0..3), with
// nn = clusterID<<2 | port.
func NetDefendMAC(clusterID uint16, port int) (net.HardwareAddr, error) {
	if err := inRange("NetDefendOS cluster ID", int(clusterID), 0, NetDefendMaxCluster); err != nil {
		return nil, err
	}
	if err := inRange("NetDefendOS port", port, 0, NetDefendMaxPort); err != nil {
		return nil, err
	}
	return net.HardwareAddr{0x10, 0x00, 0x00, 0xc1, 0x4a, byte(int(clusterID)<<2 | port)}, nil
}

// FortiGate FGCP virtual MACs, from Fortinet's "Technical Tip: HA Cluster
// virtual MAC addresses" (community.fortinet.com, article 194239, edited
// 2025) and FortiOS 7.0.2 "Extended HA VMAC address range"
// (docs.fortinet.com/document/fortigate/7.0.0/new-features/370977):
//
//	<group-prefix>:<group-id mod 256>:<vcluster_integer + idx>
//
//	group IDs    0-255   prefix 00:09:0f:09
//	group IDs  256-511   prefix e0:23:ff:fc
//	group IDs  512-767   prefix e0:23:ff:fd
//	group IDs  768-1023  prefix e0:23:ff:fe
//
// vcluster_integer is 0 for virtual cluster 1 and 0x80 for virtual cluster 2
// (the article's worked example: "add 80 in hexadecimal: 00 -> 80"; the older
// FortiOS 5.0 handbook wrote the formula as the digits <vcluster><idx>, which
// this package does not follow). idx is the interface's index in the
// FortiGate's interface map, from 0; Fortinet's example for group 256 is
// e0:23:ff:fc:00:02 on the interface with index 2.
const (
	// FortiGateMaxGroup is the largest HA group ID (FortiOS 7.0.2 and later).
	FortiGateMaxGroup = 1023
	// FortiGateMaxIndex is the largest interface index: the index shares
	// the last byte with the virtual cluster's 0x80.
	FortiGateMaxIndex = 0x7f
)

// FortiGateMAC returns the FortiGate FGCP HA virtual MAC for HA group ID
// group (FortiGate's cluster ID, 0..1023), virtual cluster vcluster (1 or 2)
// and interface index idx (0..127).
func FortiGateMAC(group uint16, vcluster, idx int) (net.HardwareAddr, error) {
	if err := inRange("FortiGate group ID", int(group), 0, FortiGateMaxGroup); err != nil {
		return nil, err
	}
	if err := inRange("FortiGate virtual cluster", vcluster, 1, 2); err != nil {
		return nil, err
	}
	if err := inRange("FortiGate interface index", idx, 0, FortiGateMaxIndex); err != nil {
		return nil, err
	}
	mac := net.HardwareAddr{0x00, 0x09, 0x0f, 0x09, byte(group), byte(idx)}
	if group > 255 {
		copy(mac, []byte{0xe0, 0x23, 0xff, 0xfb + byte(group>>8)})
	}
	if vcluster == 2 {
		mac[5] |= 0x80
	}
	return mac, nil
}

// VRRPMAC returns the IPv4 VRRP virtual router MAC 00:00:5e:00:01:{VRID}
// (RFC 5798 section 7.3; RFC 3768), also used by CARP for its VHID. vrid must
// be 1..255.
func VRRPMAC(vrid int) (net.HardwareAddr, error) {
	if err := inRange("VRRP VRID", vrid, 1, 255); err != nil {
		return nil, err
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, byte(vrid)}, nil
}

// VRRPv6MAC returns the IPv6 VRRP virtual router MAC 00:00:5e:00:02:{VRID}
// (RFC 5798 section 7.3). vrid must be 1..255.
func VRRPv6MAC(vrid int) (net.HardwareAddr, error) {
	if err := inRange("VRRP VRID", vrid, 1, 255); err != nil {
		return nil, err
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x02, byte(vrid)}, nil
}

// LocalMAC returns a locally administered unicast MAC for cluster IDs the
// vendor schemes cannot hold:
//
//	02:00:00:<clusterID, 2 bytes big-endian>:<iface>
//
// The first byte 0x02 sets the locally-administered bit and clears the
// multicast bit. Every (clusterID, iface) pair maps to a distinct address;
// iface must be 0..255.
func LocalMAC(clusterID uint16, iface int) (net.HardwareAddr, error) {
	if err := inRange("interface number", iface, 0, 255); err != nil {
		return nil, err
	}
	return net.HardwareAddr{0x02, 0, 0, byte(clusterID >> 8), byte(clusterID), byte(iface)}, nil
}

func inRange(what string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("vmac: %s %d not in %d..%d: %w", what, v, lo, hi, ErrOutOfRange)
	}
	return nil
}
