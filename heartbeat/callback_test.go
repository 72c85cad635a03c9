package heartbeat

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/simnet"
)

// everyMethod calls every method of d, as a callback may.
func everyMethod(d *Driver) {
	_ = d.SendNow()
	_ = d.SetRole(hakit.Primary)
	_ = d.SetPayload([]byte("from a callback"))
	_ = d.Reports()
	_ = d.Counters()
	_ = d.Peers()
	_ = d.Epoch()
	_ = d.Start() // already started: an error, not a hang
}

// TestCallbacksMayCallEveryMethod: callbacks (OnReport and OnHeard) run with
// no lock of the Driver held, so one may call any method of the Driver,
// Close included. It runs
// on the real clock so that a deadlock fails the test instead of hanging a
// synctest bubble.
func TestCallbacksMayCallEveryMethod(t *testing.T) {
	seg := simnet.New(nil)
	cfg := Config{ClusterID: 7, EtherType: DefaultEtherType, Interval: 10 * ms, ProbeWindow: 60 * ms}
	var drivers [2]*Driver
	var ports [2]*simnet.Port
	var calls, heard [2]atomic.Int64
	var closeNow [2]atomic.Bool
	closed := make(chan int, 2)
	for i := range drivers {
		c := cfg
		c.UnitID = uint16(i + 1)
		c.OnHeard = func(Heard) {
			everyMethod(drivers[i])
			heard[i].Add(1)
		}
		c.OnReport = func(Report) {
			d := drivers[i]
			everyMethod(d)
			calls[i].Add(1)
			if closeNow[i].Load() {
				require.NoError(t, d.Close())
				closed <- i
			}
		}
		ports[i] = seg.Attach(fmt.Sprint("u", i), mac(1, byte(i+1)))
		d, err := NewDriver(&c, Interface{Name: "eth0", Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), Conn: NewEthernetConn(ports[i], DefaultEtherType)})
		require.NoError(t, err)
		drivers[i] = d
		t.Cleanup(func() { d.Close() })
	}
	for _, d := range drivers {
		require.NoError(t, d.Start())
	}
	within := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the Driver is stuck (a callback deadlocked it)", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	within("first reports", func() bool { return calls[0].Load() > 0 && calls[1].Load() > 0 })
	within("payloads heard", func() bool { return heard[0].Load() > 3 && heard[1].Load() > 3 })
	// Both go on running: heartbeats still flow after the callbacks.
	sent := drivers[0].Counters().Sent
	within("heartbeats after the callbacks", func() bool { return drivers[0].Counters().Sent > sent+3 })

	// Unit 2 falls silent: unit 1's next report (Suspect) closes unit 1
	// from its callback.
	closeNow[0].Store(true)
	ports[1].Cut()
	within("Close from a callback", func() bool { return len(closed) > 0 })
	require.Equal(t, 0, <-closed)
	require.ErrorIs(t, drivers[0].SendNow(), ErrClosed)
}
