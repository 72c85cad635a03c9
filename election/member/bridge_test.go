package member

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/internal/auth"
)

// fakeBridge is a bridgeOS that logs what the step does, and hears what
// the test queues.
type fakeBridge struct {
	mu     sync.Mutex
	log    []string
	fwd    bool
	queued [2][][]byte
	table  [2][][6]byte
	closed bool
}

func (f *fakeBridge) macs() [2]net.HardwareAddr {
	return [2]net.HardwareAddr{{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}}
}

func (f *fakeBridge) setForwarding(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fwd = on
	if on {
		f.log = append(f.log, "forward")
	} else {
		f.log = append(f.log, "block")
	}
	return nil
}

func (f *fakeBridge) send(int, []byte) error { return nil }

func (f *fakeBridge) read(side int, buf []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queued[side]) == 0 {
		return 0, nil
	}
	n := copy(buf, f.queued[side][0])
	f.queued[side] = f.queued[side][1:]
	return n, nil
}

func (f *fakeBridge) fdb() ([2][][6]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.table, nil
}

func (f *fakeBridge) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeBridge) hear(side int, p LoopProbe) {
	b, _ := p.AppendBinary(make([]byte, 14))
	f.mu.Lock()
	f.queued[side] = append(f.queued[side], b)
	f.mu.Unlock()
}

func (f *fakeBridge) state() (bool, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fwd, append([]string(nil), f.log...)
}

// The step's order: blocked from the start; Up forwards, then announces
// each side's MACs on the other; Down blocks, then withdraws; Close leaves
// the bridge blocked.
func TestBridgeStepOrder(t *testing.T) {
	f := &fakeBridge{}
	rec := &garp.Recorder{}
	g, err := NewLoopGuard(&LoopGuardConfig{ClusterID: 7, UnitID: 2})
	require.NoError(t, err)
	s, err := newBridgeStep(&BridgeConfig{Bridge: "br0", Ports: [2]string{"eth0", "eth1"}, Announcer: rec}, g, f)
	require.NoError(t, err)
	_, log := f.state()
	require.Equal(t, []string{"block"}, log)

	// The old primary's probes list a MAC of each side.
	hl, hr := [6]byte{2, 9, 0, 0, 0, 1}, [6]byte{2, 9, 0, 0, 0, 2}
	f.hear(0, LoopProbe{ClusterID: 7, UnitID: 1, Want: true, Forwarding: true, Learn: [][6]byte{hr}})
	f.hear(1, LoopProbe{ClusterID: 7, UnitID: 1, Want: true, Forwarding: true, Learn: [][6]byte{hl}, Side: 1})
	require.Eventually(t, func() bool { return s.Stats().Learn == [2]int{1, 1} }, time.Second, time.Millisecond)
	// It stops: its last probe says so.
	f.hear(0, LoopProbe{ClusterID: 7, UnitID: 1, Seq: 1})

	require.NoError(t, s.Up(context.Background()))
	// Up waits for the decision (at most Listen+Quiet+Interval): on a
	// loaded machine the ticker may come later.
	require.Eventually(t, func() bool { return len(rec.Calls()) == 2 }, 5*time.Second, time.Millisecond)
	fwd, _ := f.state()
	require.True(t, fwd, "announced before forwarding")
	calls := rec.Calls()
	require.Len(t, calls, 2)
	require.Equal(t, garp.Move{Interface: "eth0", Learn: []net.HardwareAddr{hr[:]}}, calls[0].Move)
	require.Equal(t, garp.Move{Interface: "eth1", Learn: []net.HardwareAddr{hl[:]}}, calls[1].Move)

	require.NoError(t, s.Down(context.Background()))
	fwd, log = f.state()
	require.False(t, fwd)
	require.Equal(t, []string{"block", "forward", "block"}, log)
	require.Empty(t, rec.Announced(), "withdrawn")

	require.NoError(t, s.Close())
	fwd, _ = f.state()
	require.False(t, fwd)
	require.True(t, f.closed)
}

// With keys, a probe without a valid tag is dropped and counted; a sealed
// one counts.
func TestBridgeStepAuth(t *testing.T) {
	ring, err := hakit.NewKeyring(hakit.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	require.NoError(t, err)
	f := &fakeBridge{}
	g, err := NewLoopGuard(&LoopGuardConfig{ClusterID: 7, UnitID: 2})
	require.NoError(t, err)
	s, err := newBridgeStep(&BridgeConfig{Bridge: "br0", Ports: [2]string{"eth0", "eth1"}, Keys: ring}, g, f)
	require.NoError(t, err)
	defer s.Close()
	p := LoopProbe{ClusterID: 7, UnitID: 1, Want: true, Forwarding: true, Learn: [][6]byte{{2, 9, 0, 0, 0, 1}}}
	f.hear(0, p) // no tag
	forged, _ := p.AppendBinary(make([]byte, 14))
	forged = append(append(forged, 1), make([]byte, auth.TagLen)...)
	f.mu.Lock()
	f.queued[0] = append(f.queued[0], forged)
	f.mu.Unlock()
	require.Eventually(t, func() bool { return s.Stats().BadProbes == 2 }, time.Second, time.Millisecond)
	require.Zero(t, s.Stats().ProbesHeard)

	sealed, _ := p.AppendBinary(make([]byte, 14))
	sealed = append(sealed, 1)
	sealed = append(sealed, auth.New(ring, probeAuthInfo).Tag(1, sealed[:14], sealed[14:])...)
	sealed = append(sealed, make([]byte, 10)...) // Ethernet padding
	f.mu.Lock()
	f.queued[0] = append(f.queued[0], sealed)
	f.mu.Unlock()
	require.Eventually(t, func() bool { return s.Stats().ProbesHeard == 1 }, time.Second, time.Millisecond)
	require.Equal(t, [2]int{1, 0}, s.Stats().Learn)
}
