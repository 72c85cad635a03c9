package election

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hakit/hakit"
)

// Version is the wire format version of an encoded Candidate. Version 2
// carries the role as hakit.Role numbers (version 1 numbered secondary 2
// and primary 3); version 1 candidates are refused with ErrVersion.
const Version = 2

// CandidateLen is the length in bytes of an encoded Candidate (version 2).
// It is small enough to ride in every heartbeat's payload.
const CandidateLen = 28

// Sentinel errors wrapped by the errors this package returns. Configuration
// errors wrap hakit.ErrConfig.
var (
	// ErrInvalid reports a malformed or contradictory candidate, verdict or
	// call.
	ErrInvalid = errors.New("invalid")
	// ErrVersion reports a candidate encoded with an unknown version.
	ErrVersion = errors.New("unsupported version")
	// ErrUnitCollision reports a peer that claims this unit's own ID.
	ErrUnitCollision = errors.New("unit ID collision")
)

// Candidate is what one unit tells the others about itself in its
// heartbeats: the inputs of the order (see Order) and the state the
// negotiation needs. It is a comparable value type.
//
// Encoded (version 2, CandidateLen bytes, big endian):
//
//	0      version (2)
//	1      role (hakit.Role: 1 initial, 2 primary, 3 secondary)
//	2      flags: 0x01 InSync, 0x02 Maintenance, 0x04 Degraded,
//	       0x08 Yield, 0x10 Ready, 0x20 Reclaim; other bits must be zero
//	3      priority
//	4-5    unit ID (nonzero)
//	6-7    monitored interfaces up (count or weight sum)
//	8-9    handover partner (Peer), 0 for none
//	10-11  deposed unit (Deposes), 0 for none
//	12-19  age in milliseconds
//	20-27  tenure in milliseconds
type Candidate struct {
	// Unit is the unit's stable identifier, unique in the cluster; 0 is
	// invalid. It is the last tie-break of the order.
	Unit uint16
	// Role is the role the unit currently holds.
	Role hakit.Role
	// Priority is the configured preference; higher wins.
	Priority uint8
	// Monitored is the number (or weight sum) of the unit's monitored
	// interfaces that are up; more wins, before anything but health.
	Monitored uint16
	// InSync reports that the unit's session table is in sync with the
	// primary's. The primary always advertises it.
	InSync bool
	// Age is how long the unit has been running, carried with millisecond
	// resolution. Older wins when the difference exceeds the age margin.
	Age time.Duration
	// Tenure is how long the unit has held its current role, carried with
	// millisecond resolution. It settles split brains: the primary that held
	// the role longer keeps it.
	Tenure time.Duration
	// Maintenance reports that the unit asked not to be primary (a planned
	// handover); it ranks after every unit that did not.
	Maintenance bool
	// Degraded reports a local interface malfunction verdict in force, or a
	// failing witness; the unit ranks after every healthy unit.
	Degraded bool
	// Yield, with Peer, reports that the unit is handing the primary role to
	// unit Peer (a planned handover, a preemption or a reclaim) or, from a
	// unit that is no longer primary, that it stood down for unit Peer (a
	// handover done, or a split brain lost) in the last HandoverTimeout.
	Yield bool
	// Ready, with Peer, reports that the unit is ready to take the primary
	// role from unit Peer, which is yielding to it.
	Ready bool
	// Reclaim asks the current primary to hand the role back to this unit
	// (the end of a planned handover).
	Reclaim bool
	// Peer is the other side of a handover: the successor when Yield is set,
	// the yielding primary when Ready is set; 0 otherwise.
	Peer uint16
	// Deposes names the primary this unit holds a "peer interface
	// malfunction" verdict against; 0 for none. Every unit treats a deposed
	// unit as degraded.
	Deposes uint16
}

const (
	flagInSync = 1 << iota
	flagMaintenance
	flagDegraded
	flagYield
	flagReady
	flagReclaim
	flagMask = 1<<iota - 1
)

// Validate reports whether c is a candidate a unit may send: a nonzero unit
// ID, a valid role, a non-negative age, and handover flags that agree with
// Peer.
func (c Candidate) Validate() error {
	switch {
	case c.Unit == 0:
		return fmt.Errorf("election: candidate: unit ID 0: %w", ErrInvalid)
	case !c.Role.Valid():
		return fmt.Errorf("election: candidate: unit %d: %v: %w", c.Unit, c.Role, ErrInvalid)
	case c.Age < 0 || c.Tenure < 0:
		return fmt.Errorf("election: candidate: unit %d: negative age %v or tenure %v: %w", c.Unit, c.Age, c.Tenure, ErrInvalid)
	case c.Yield && c.Ready:
		return fmt.Errorf("election: candidate: unit %d: both yielding and ready: %w", c.Unit, ErrInvalid)
	case (c.Yield || c.Ready) != (c.Peer != 0):
		return fmt.Errorf("election: candidate: unit %d: handover peer %d without yield or ready, or the reverse: %w", c.Unit, c.Peer, ErrInvalid)
	case c.Ready && c.Role == hakit.Primary:
		return fmt.Errorf("election: candidate: unit %d: primary ready to take over: %w", c.Unit, ErrInvalid)
	case c.Peer == c.Unit && c.Peer != 0, c.Deposes == c.Unit:
		return fmt.Errorf("election: candidate: unit %d names itself: %w", c.Unit, ErrInvalid)
	}
	return nil
}

// AppendBinary appends the encoding of c to b. It fails only if c is not
// valid (see Validate).
func (c Candidate) AppendBinary(b []byte) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return b, err
	}
	var f byte
	for _, x := range [...]struct {
		set  bool
		flag byte
	}{
		{c.InSync, flagInSync}, {c.Maintenance, flagMaintenance}, {c.Degraded, flagDegraded},
		{c.Yield, flagYield}, {c.Ready, flagReady}, {c.Reclaim, flagReclaim},
	} {
		if x.set {
			f |= x.flag
		}
	}
	b = append(b, Version, byte(c.Role), f, c.Priority)
	b = binary.BigEndian.AppendUint16(b, c.Unit)
	b = binary.BigEndian.AppendUint16(b, c.Monitored)
	b = binary.BigEndian.AppendUint16(b, c.Peer)
	b = binary.BigEndian.AppendUint16(b, c.Deposes)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Age/time.Millisecond))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Tenure/time.Millisecond))
	return b, nil
}

// MarshalBinary returns the encoding of c.
func (c Candidate) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, CandidateLen))
}

// maxAgeMillis keeps a decoded age representable as a time.Duration.
const maxAgeMillis = uint64(1<<63-1) / uint64(time.Millisecond)

// UnmarshalBinary decodes a candidate from b, which must hold exactly one
// encoded candidate. Short input returns io.ErrUnexpectedEOF; an unknown
// version ErrVersion; anything else malformed ErrInvalid. On error c is left
// unchanged. Nothing of b is retained.
func (c *Candidate) UnmarshalBinary(b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("election: candidate: empty: %w", io.ErrUnexpectedEOF)
	}
	if b[0] != Version {
		return fmt.Errorf("election: candidate: version %d: %w", b[0], ErrVersion)
	}
	if len(b) < CandidateLen {
		return fmt.Errorf("election: candidate: %d bytes, want %d: %w", len(b), CandidateLen, io.ErrUnexpectedEOF)
	}
	if len(b) > CandidateLen {
		return fmt.Errorf("election: candidate: %d trailing bytes: %w", len(b)-CandidateLen, ErrInvalid)
	}
	f := b[2]
	if f&^flagMask != 0 {
		return fmt.Errorf("election: candidate: unknown flags %#02x: %w", f&^flagMask, ErrInvalid)
	}
	ms, ts := binary.BigEndian.Uint64(b[12:20]), binary.BigEndian.Uint64(b[20:28])
	if ms > maxAgeMillis || ts > maxAgeMillis {
		return fmt.Errorf("election: candidate: age %d ms or tenure %d ms out of range: %w", ms, ts, ErrInvalid)
	}
	d := Candidate{
		Role:        hakit.Role(b[1]),
		InSync:      f&flagInSync != 0,
		Maintenance: f&flagMaintenance != 0,
		Degraded:    f&flagDegraded != 0,
		Yield:       f&flagYield != 0,
		Ready:       f&flagReady != 0,
		Reclaim:     f&flagReclaim != 0,
		Priority:    b[3],
		Unit:        binary.BigEndian.Uint16(b[4:6]),
		Monitored:   binary.BigEndian.Uint16(b[6:8]),
		Peer:        binary.BigEndian.Uint16(b[8:10]),
		Deposes:     binary.BigEndian.Uint16(b[10:12]),
		Age:         time.Duration(ms) * time.Millisecond,
		Tenure:      time.Duration(ts) * time.Millisecond,
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = d
	return nil
}
