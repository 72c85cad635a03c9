package member_test

import (
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
)

// twin starts unit id of a second cluster on s: the same cluster ID, unit
// IDs and key as s.unit's, but the cluster name given (and its own ports
// and addresses).
func (s *segment) twin(id uint16, name string) *simUnit {
	u := &simUnit{id: id, rec: &recorder{fail: map[string][]error{}}}
	hbp := s.seg.Attach(fmt.Sprintf("twin-hb%d", id), hw(4, byte(id)))
	arp := s.seg.Attach(fmt.Sprintf("twin-arp%d", id), hw(5, byte(id)))
	addr := netip.AddrFrom4([4]byte{198, 18, 0, 100 + byte(id)})
	pr, err := heartbeat.NewPacketProber(arp, hw(5, byte(id)), addr)
	require.NoError(s.t, err)
	u.d, err = member.New(&member.Config{
		ClusterID: 7, UnitID: id, Priority: uint8(200 - id), Keys: s.keys,
		Interfaces: []member.Interface{{Name: "eth0", Addr: addr, Conn: heartbeat.NewEthernetConn(hbp, heartbeat.DefaultEtherType), Prober: pr}},
		Heartbeat:  &heartbeat.Config{Neighbours: neighbours{"eth0": {s.gw}}, ClusterName: name},
		Steps:      []member.Step{u.rec.step("addresses")},
		OnEvent: func(e member.Event) {
			u.rec.mu.Lock()
			u.rec.events = append(u.rec.events, e)
			u.rec.mu.Unlock()
		},
	})
	require.NoError(s.t, err)
	s.t.Cleanup(func() { u.d.Close() })
	return u
}

// TestDriverClusterIDCollision: a second pair with the first's cluster
// ID, unit IDs and key but another cluster name starts on the segment
// while the first runs. Both pairs see it within a second (in the
// status), and neither changes a role over a minute of running side by
// side; a primary that then fails is still replaced by its own peer.
func TestDriverClusterIDCollision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		name := func(n string) func(*member.Config) {
			return func(c *member.Config) { c.Heartbeat.ClusterName = n }
		}
		a1, a2 := s.unit(1, name("a")), s.unit(2, name("a"))
		require.NoError(t, a1.d.Start())
		require.NoError(t, a2.d.Start())
		time.Sleep(2 * time.Second)
		require.Equal(t, []uint16{1}, primaries(a1, a2))

		b1, b2 := s.twin(1, "b"), s.twin(2, "b")
		started := time.Now()
		require.NoError(t, b1.d.Start())
		require.NoError(t, b2.d.Start())
		time.Sleep(time.Minute)
		require.Equal(t, []uint16{1}, primaries(a1, a2))
		require.Equal(t, []uint16{1}, primaries(b1, b2))
		for _, u := range []*simUnit{a1, a2, b1, b2} {
			require.Len(t, u.rec.eventsOf(member.EventRoleChange), 1, "unit %d: one role change, at its start", u.id)
			st := u.d.Status()
			require.Len(t, st.Collisions, 2, "unit %d: both units of the other pair", u.id)
			for _, c := range st.Collisions {
				require.Equal(t, heartbeat.OtherTag, c.Kind)
				require.Less(t, c.First.Sub(started), time.Second, "unit %d: %+v", u.id, c)
			}
			require.NotZero(t, st.Heartbeat.Dropped.ClusterTag)
			require.Len(t, st.Peers, 1, "unit %d hears its own peer only", u.id)
		}

		// A's primary dies: its own peer takes over, B is untouched.
		require.NoError(t, a1.d.Close())
		time.Sleep(2 * time.Second)
		require.Equal(t, hakit.Primary, a2.d.Role())
		require.Equal(t, []uint16{1}, primaries(b1, b2))
		for _, u := range []*simUnit{b1, b2} {
			require.Len(t, u.rec.eventsOf(member.EventRoleChange), 1, "unit %d of B", u.id)
		}
	})
}
