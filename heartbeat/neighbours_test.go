package heartbeat

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/simnet"
)

// slowNeighbours answers after a millisecond, as a kernel's table read
// under load may.
type slowNeighbours struct{ staticNeighbours }

func (s slowNeighbours) Neighbours(ifname string) ([]netip.Addr, error) {
	time.Sleep(time.Millisecond)
	return s.staticNeighbours.Neighbours(ifname)
}

// TestDriverFeedsNeighboursAtEachSuspicion: every interface on which EIFD
// starts has its neighbour list read just before, even when the peer's
// heartbeats stop on two interfaces 0.2 ms apart and reading a list takes
// longer than that.
func TestDriverFeedsNeighboursAtEachSuspicion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var segs [2]*simnet.Segment
		var mu sync.Mutex
		var reports []Report
		ns := staticNeighbours{}
		for i := range segs {
			segs[i] = simnet.New(&simnet.Config{Seed: int64(i)})
			ns[fmt.Sprint("eth", i)] = []netip.Addr{netip.AddrFrom4([4]byte{198, 18, byte(i), 254})}
		}
		var ports [2][2]*simnet.Port
		for u := range 2 {
			cfg := Config{ClusterID: 7, UnitID: uint16(u + 1), EtherType: DefaultEtherType, Neighbours: slowNeighbours{ns}}
			if u == 0 {
				cfg.OnReport = func(r Report) {
					mu.Lock()
					reports = append(reports, r)
					mu.Unlock()
				}
			}
			var ifaces []Interface
			for i := range segs {
				ports[u][i] = segs[i].Attach(fmt.Sprint("u", u, "eth", i), mac(byte(i+1), byte(u+1)))
				ports[u][i].SetLatency(time.Duration(i) * 100 * time.Microsecond) // eth1 heard a little later
				ifaces = append(ifaces, Interface{Name: fmt.Sprint("eth", i), Conn: NewEthernetConn(ports[u][i], DefaultEtherType)})
			}
			d, err := NewDriver(&cfg, ifaces...)
			require.NoError(t, err)
			require.NoError(t, d.Start())
			t.Cleanup(func() { d.Close() })
		}
		time.Sleep(10 * time.Second)
		ports[1][0].Cut()
		ports[1][1].Cut()
		time.Sleep(300 * ms)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		var suspects []string
		for _, r := range reports {
			if r.State == Suspect {
				suspects = append(suspects, r.Interface)
				require.True(t, strings.Contains(r.Reason, "probing 1 neighbours"), "%v", r)
			}
		}
		require.ElementsMatch(t, []string{"eth0", "eth1"}, suspects)
	})
}
