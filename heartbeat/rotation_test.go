package heartbeat

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/simnet"
)

// TestDriverKeyRotation: two running Drivers rotate their key in the documented
// order (the new key verifies everywhere, then seals everywhere, then the
// old one is dropped), each unit a moment after the other, and not one
// heartbeat is dropped or lost, no report but the first is made, and the
// frames end up sealed with the new key.
func TestDriverKeyRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := hakit.Key{ID: 1, Secret: []byte("the old shared secret")}
		next := hakit.Key{ID: 2, Secret: []byte("the next shared secret")}
		ra, rb := testRing(t, old), testRing(t, old)

		seg := simnet.New(&simnet.Config{Seed: 1})
		gw := netip.MustParseAddr("198.18.0.254")
		simNeighbour(t, seg, "router", mac(3, 254), gw)
		ns := staticNeighbours{"eth0": {gw}}
		cfg := Config{ClusterID: 7, EtherType: DefaultEtherType}
		cfg.Keys = ra
		a := simDriver(t, seg, cfg, 1, ns)
		cfg.Keys = rb
		b := simDriver(t, seg, cfg, 2, ns)

		// A station on the segment notes the key ID of every heartbeat.
		var mu sync.Mutex
		keyIDs := map[uint8]int{}
		sniff := seg.Attach("sniff", mac(4, 1))
		sniff.SetPromiscuous(true)
		sniff.SetHandler(func(frame []byte, _ net.HardwareAddr) {
			var f Frame
			if len(frame) > 14 && f.UnmarshalBinary(frame[14:]) == nil {
				mu.Lock()
				keyIDs[f.KeyID]++
				mu.Unlock()
			}
		})
		require.NoError(t, a.node.Start())
		require.NoError(t, b.node.Start())
		time.Sleep(time.Second)

		steps := [][]hakit.Key{{old, next}, {next, old}, {next}}
		for _, s := range steps {
			require.NoError(t, ra.Set(s[0], s[1:]...))
			time.Sleep(230 * ms)
			require.NoError(t, rb.Set(s[0], s[1:]...))
			time.Sleep(340 * ms)
		}
		mu.Lock()
		clear(keyIDs)
		mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()

		for _, u := range []*simUnit{a, b} {
			c := u.node.Counters()
			// First contact: at most the peer's first two frames, sent
			// before it heard this unit's nonce.
			require.LessOrEqual(t, c.Dropped.StaleNonce, uint64(2))
			c.Dropped.StaleNonce = 0
			require.Equal(t, Drops{}, c.Dropped)
			require.Equal(t, []string{"eth0:alive"}, states(u.node.Reports()))
			require.Zero(t, u.node.Peers()[0].Links[0].Loss)
		}
		ca, cb := a.node.Counters(), b.node.Counters()
		require.Equal(t, ca.Sent, cb.Received+cb.Dropped.StaleNonce)
		require.Equal(t, cb.Sent, ca.Received+ca.Dropped.StaleNonce)
		mu.Lock()
		require.Equal(t, map[uint8]int{2: 20}, keyIDs, "ten heartbeats of each unit, sealed with the new key")
		mu.Unlock()
	})
}
