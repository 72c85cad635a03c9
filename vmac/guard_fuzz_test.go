package vmac

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// oneFrame is a PacketConn that delivers one frame, then is closed.
type oneFrame struct {
	net.PacketConn
	b    []byte
	done bool
}

func (c *oneFrame) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.done {
		return 0, nil, net.ErrClosed
	}
	c.done = true
	return copy(b, c.b), nil, nil
}

// FuzzGuardFrames: any frame read on a guarded interface is counted; a
// collision is reported exactly when this unit holds the virtual MACs and
// the frame's source is one of them; nothing panics.
func FuzzGuardFrames(f *testing.F) {
	vm, _ := NetDefendMAC(5, 0)
	f.Add(append(append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, vm...), 0x08, 0x06), true, uint16(5), uint16(2))
	f.Add([]byte{1, 2, 3}, true, uint16(5), uint16(2))
	f.Add(make([]byte, 60), false, uint16(6), uint16(1))
	f.Fuzz(func(t *testing.T, frame []byte, holding bool, cluster, unit uint16) {
		g := newTestGuard(t)
		var reports []*CollisionError
		d := NewGuardDriver(g, func(e *CollisionError) { reports = append(reports, e) }, nil)
		d.SetHolding(holding)
		if err := d.Serve("eth0", &oneFrame{b: frame}); err != nil {
			t.Fatal(err)
		}
		want := holding && len(frame) >= 14 && bytes.Equal(frame[6:12], vm)
		if got := len(reports) == 1; got != want || len(reports) > 1 {
			t.Fatalf("frame %x holding %v: %d reports", frame, holding, len(reports))
		}
		if d.Stats().Frames != 1 {
			t.Fatalf("frames counted: %d", d.Stats().Frames)
		}
		// The same bytes as a heartbeat's source: an alarm at most, never a panic.
		if len(frame) >= 12 {
			err := d.CheckHeartbeat("eth0", cluster, unit, net.HardwareAddr(frame[6:12]))
			var ce *CollisionError
			if err != nil && !errors.As(err, &ce) {
				t.Fatalf("CheckHeartbeat: %v", err)
			}
		}
	})
}
