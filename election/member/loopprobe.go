package member

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// LoopProbeEtherType is the EtherType of the loop probes a transparent
// unit sends out of its bridge's ports (see Bridge): the IEEE's second
// local experimental EtherType.
const LoopProbeEtherType = 0x88B6

// LoopProbeVersion is the version of the LoopProbe wire format.
const LoopProbeVersion = 1

// MaxProbeLearn is the most MACs one LoopProbe carries: 200 MACs keep the
// frame under 1,300 bytes.
const MaxProbeLearn = 200

// loopProbeHeaderLen is the length of a LoopProbe without its MACs.
const loopProbeHeaderLen = 14

// A LoopProbe is the frame a transparent unit that wants to forward sends
// out of each of its bridge's ports, every probe interval. Its wire
// format, in network byte order:
//
//	offset  size  field
//	0       1     Version (1)
//	1       1     flags: bit 0 Want, bit 1 Forwarding
//	2       2     ClusterID
//	4       2     UnitID
//	6       1     Priority
//	7       1     Side: the index of the port it was sent out of (0 or 1)
//	8       4     Seq
//	12      2     n, the number of MACs (at most MaxProbeLearn)
//	14      6n    Learn
//
// The Ethernet frame around it goes from the sending port's own MAC to the
// sender's ProbeMAC, which no interface sends from: no switch learns it,
// so the probe is flooded and every unit on the segment hears it; a bridge
// that forwards between the two segments carries it to the sender's other
// port, where the sender's own bridge, which holds ProbeMAC as a local
// address, takes it as a frame for itself and forwards it no further. With
// keys (BridgeConfig.Keys) the key ID and a 16-byte HMAC-SHA256 tag over
// the Ethernet header, the probe and the key ID follow the probe.
type LoopProbe struct {
	// Want is set while the sender is primary and wants to forward.
	Want bool
	// Forwarding is set while the sender's bridge forwards.
	Forwarding bool
	// ClusterID and UnitID identify the sender.
	ClusterID, UnitID uint16
	// Priority is the sender's election priority: with UnitID, its rank
	// when two units forward at once (the lower-ranked one yields).
	Priority uint8
	// Side is the index of the sender's port the probe was sent out of.
	Side uint8
	// Seq counts the sender's probes.
	Seq uint32
	// Learn lists MACs the sender's bridge knows on its other side: the
	// MACs a unit taking over must announce on the segment the probe was
	// heard on. A long table is sent in pages, one per probe.
	Learn [][6]byte
}

// errProbe is wrapped by the errors for malformed probes.
var errProbe = errors.New("malformed loop probe")

// AppendBinary appends the probe's wire form to b.
func (p LoopProbe) AppendBinary(b []byte) ([]byte, error) {
	if len(p.Learn) > MaxProbeLearn {
		return b, fmt.Errorf("member: loop probe: %d MACs, more than %d: %w", len(p.Learn), MaxProbeLearn, errProbe)
	}
	if p.Side > 1 {
		return b, fmt.Errorf("member: loop probe: side %d: %w", p.Side, errProbe)
	}
	var flags byte
	if p.Want {
		flags |= 1
	}
	if p.Forwarding {
		flags |= 2
	}
	b = append(b, LoopProbeVersion, flags)
	b = binary.BigEndian.AppendUint16(b, p.ClusterID)
	b = binary.BigEndian.AppendUint16(b, p.UnitID)
	b = append(b, p.Priority, p.Side)
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Learn)))
	for _, m := range p.Learn {
		b = append(b, m[:]...)
	}
	return b, nil
}

// MarshalBinary returns the probe's wire form.
func (p LoopProbe) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, loopProbeHeaderLen+6*len(p.Learn)))
}

// UnmarshalBinary parses a probe; on error p is unchanged. It reuses the
// capacity of p.Learn, so that a reader that parses into one LoopProbe
// does not allocate; it never aliases b.
func (p *LoopProbe) UnmarshalBinary(b []byte) error {
	if len(b) < loopProbeHeaderLen {
		return io.ErrUnexpectedEOF
	}
	if b[0] != LoopProbeVersion {
		return fmt.Errorf("member: loop probe: version %d: %w", b[0], errProbe)
	}
	if b[1]&^3 != 0 || b[7] > 1 {
		return fmt.Errorf("member: loop probe: flags %#x, side %d: %w", b[1], b[7], errProbe)
	}
	n := int(binary.BigEndian.Uint16(b[12:]))
	if n > MaxProbeLearn {
		return fmt.Errorf("member: loop probe: %d MACs: %w", n, errProbe)
	}
	if len(b) < loopProbeHeaderLen+6*n {
		return io.ErrUnexpectedEOF
	}
	p.Want, p.Forwarding = b[1]&1 != 0, b[1]&2 != 0
	p.ClusterID = binary.BigEndian.Uint16(b[2:])
	p.UnitID = binary.BigEndian.Uint16(b[4:])
	p.Priority, p.Side = b[6], b[7]
	p.Seq = binary.BigEndian.Uint32(b[8:])
	p.Learn = p.Learn[:0]
	for i := range n {
		p.Learn = append(p.Learn, [6]byte(b[loopProbeHeaderLen+6*i:]))
	}
	return nil
}

// mac6 returns hw as an array; ok is false unless hw is 6 bytes.
func mac6(hw net.HardwareAddr) (m [6]byte, ok bool) {
	if len(hw) != 6 {
		return m, false
	}
	return [6]byte(hw), true
}

// ProbeMAC returns the destination of the loop probes of a unit: the
// locally administered unicast MAC 0a:4b:CC:CC:UU:UU, from the cluster ID
// (CC) and the unit ID (UU).
func ProbeMAC(cluster, unit uint16) net.HardwareAddr {
	return net.HardwareAddr{0x0a, 0x4b, byte(cluster >> 8), byte(cluster), byte(unit >> 8), byte(unit)}
}
