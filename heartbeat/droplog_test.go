package heartbeat

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/internal/testlog"
)

// TestDriverDropWarnings: a peer with a key we do not hold sends ten
// frames a second (a key ID we hold with another secret is another
// cluster tag: see TestCollisionOtherKey); the unit warns about it once, then once every ten seconds with
// the number held back; frames of another cluster are only debug lines.
func TestDriverDropWarnings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seg := simnet.New(&simnet.Config{Seed: 1})
		gw := netip.MustParseAddr("198.18.0.254")
		simNeighbour(t, seg, "router", mac(3, 254), gw)
		ns := staticNeighbours{"eth0": {gw}}
		var log testlog.Buffer
		a := simDriver(t, seg, Config{ClusterID: 7, Keys: testRing(t), EtherType: DefaultEtherType,
			Logger: log.Logger(slog.LevelDebug)}, 1, ns)
		wrong := testRing(t, hakit.Key{ID: 2, Secret: []byte("another key, 16+ bytes")})
		b := simDriver(t, seg, Config{ClusterID: 7, Keys: wrong, EtherType: DefaultEtherType}, 2, ns)
		other := simDriver(t, seg, Config{ClusterID: 8, Keys: testRing(t), EtherType: DefaultEtherType}, 3, ns)
		for _, u := range []*simUnit{a, b, other} {
			require.NoError(t, u.node.Start())
		}
		time.Sleep(25 * time.Second)
		c := a.node.Counters()
		require.GreaterOrEqual(t, c.Dropped.Auth, uint64(250))
		var warned []string
		for _, line := range strings.Split(log.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "frame dropped") {
				_, held, _ := strings.Cut(line, "more_since_last_line=")
				warned = append(warned, held)
			}
		}
		require.Equal(t, []string{"0", "99", "99"}, warned, log.String())
		require.Contains(t, log.String(), "level=DEBUG msg=\"heartbeat: frame dropped\" interface=eth0 err=\"heartbeat: frame of cluster 8")
	})
}
