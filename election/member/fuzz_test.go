package member_test

import (
	"testing"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/heartbeat"
)

// FuzzMachineInput feeds a settled pair's primary what a peer's frames
// can carry: a payload claimed by any unit, and a heartbeat report. A
// payload it refuses changes nothing; nothing panics.
func FuzzMachineInput(f *testing.F) {
	c := election.Candidate{Unit: 2, Role: hakit.Primary, Priority: 255, InSync: true}
	valid, _ := c.MarshalBinary()
	f.Add(uint16(2), valid, "lan", uint8(heartbeat.Alive))
	f.Add(uint16(3), valid, "lan", uint8(heartbeat.PeerDown))
	f.Add(uint16(1), []byte("hello"), "nope", uint8(0))
	f.Fuzz(func(t *testing.T, unit uint16, payload []byte, iface string, state uint8) {
		b, a, _ := startPair(t)
		if err := a.m.Payload(b.now, unit, payload); err != nil {
			a.tick()
			if a.role != hakit.Primary {
				t.Fatalf("a refused payload (%v) changed the role to %v", err, a.role)
			}
		}
		a.m.Report(b.now, heartbeat.Report{Peer: unit, Interface: iface, State: heartbeat.State(state)})
		a.tick()
	})
}
