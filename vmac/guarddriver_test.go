package vmac_test

import (
	"net"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/vmac"
)

// ethFrame builds a minimal frame: broadcast destination, source src,
// EtherType 0x0806 and a short payload.
func ethFrame(src net.HardwareAddr) []byte {
	f := make([]byte, 60)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], src)
	f[12], f[13] = 0x08, 0x06
	return f
}

type reports struct {
	mu  sync.Mutex
	got []*vmac.CollisionError
}

func (r *reports) add(ce *vmac.CollisionError) {
	r.mu.Lock()
	r.got = append(r.got, ce)
	r.mu.Unlock()
}

func (r *reports) list() []*vmac.CollisionError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*vmac.CollisionError(nil), r.got...)
}

func TestGuardDriverSimnet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		vm, _ := vmac.NetDefendMAC(5, 0)
		macA := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
		macB := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
		macC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0c}

		seg := simnet.New(nil)
		a := seg.Attach("a", macA) // our primary
		b := seg.Attach("b", macB) // our standby
		c := seg.Attach("c", macC) // another cluster, same ID

		g, err := vmac.NewGuard(&vmac.GuardConfig{
			ClusterID:   5,
			Self:        1,
			Members:     map[uint16][]net.HardwareAddr{1: {macA}, 2: {macB}},
			VirtualMACs: []net.HardwareAddr{vm},
		})
		require.NoError(t, err)
		var r reports
		m := vmac.NewGuardDriver(g, r.add, nil)
		done := make(chan error, 1)
		go func() { done <- m.Serve("eth0", a) }()

		// Not holding: frames from the virtual MAC are our primary's.
		_, err = c.WriteTo(ethFrame(vm), nil)
		require.NoError(t, err)
		synctest.Wait()
		require.Empty(t, r.list())

		m.SetHolding(true)
		_, err = b.WriteTo(ethFrame(macB), nil) // ordinary traffic
		require.NoError(t, err)
		for range 3 { // reported once, counted thrice
			_, err = c.WriteTo(ethFrame(vm), nil)
			require.NoError(t, err)
		}
		synctest.Wait()
		got := r.list()
		require.Len(t, got, 1)
		require.Equal(t, vmac.ForeignVirtualMAC, got[0].Kind)
		require.Equal(t, vm.String(), got[0].MAC.String())
		require.Equal(t, "eth0", got[0].Interface)

		// Heartbeats from the other cluster's unit 3.
		require.ErrorIs(t, m.CheckHeartbeat("eth0", 5, 3, macC), vmac.ErrCollision)
		require.ErrorIs(t, m.CheckHeartbeat("eth0", 5, 3, macC), vmac.ErrCollision)
		require.NoError(t, m.CheckHeartbeat("eth0", 5, 2, macB))
		got = r.list()
		require.Len(t, got, 2)
		require.Equal(t, vmac.ForeignUnit, got[1].Kind)

		st := m.Stats()
		require.Equal(t, uint64(5), st.Frames)
		require.Equal(t, uint64(3), st.ForeignMAC)
		require.Equal(t, uint64(2), st.ForeignUnits)

		require.NoError(t, a.Close())
		require.NoError(t, <-done)
	})
}
