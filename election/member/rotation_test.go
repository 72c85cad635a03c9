package member_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/statesync"
)

// TestDriverKeyRotation rotates the shared key on a running pair, each
// unit's Keyring on its own as an operator would, in the three steps of
// hakit.Keyring, while the primary keeps adding sessions: no role change,
// the standby in sync throughout with every session, no frame or datagram
// dropped for its authentication.
func TestDriverKeyRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oldKey := hakit.Key{ID: 1, Secret: []byte("the old shared secret, 32 bytes!")}
		newKey := hakit.Key{ID: 2, Secret: []byte("the new shared secret, 32 bytes!")}
		s := newSegment(t)
		s.n = 2
		rings := map[uint16]*hakit.Keyring{}
		var us []*simUnit
		for id := uint16(1); id <= 2; id++ {
			ring, err := hakit.NewKeyring(oldKey)
			require.NoError(t, err)
			rings[id] = ring
			us = append(us, s.unit(id, func(c *member.Config) { c.Keys = ring }))
		}
		for _, u := range us {
			require.NoError(t, u.d.Start())
		}
		time.Sleep(2 * time.Second)
		require.Equal(t, []uint16{1}, primaries(us...))
		changes := func() int {
			n := 0
			for _, u := range us {
				n += len(u.rec.eventsOf(member.EventRoleChange))
			}
			return n
		}
		before := changes()

		n := 0
		// run adds a session every 10 ms for d, checking the standby.
		run := func(d time.Duration) {
			for end := time.Now().Add(d); time.Now().Before(end); {
				us[0].d.Upsert(statesync.Session{Key: sessionKey(n), State: 3})
				n++
				time.Sleep(10 * time.Millisecond)
				require.True(t, us[1].d.Status().InSync, "the standby stays in sync (session %d)", n)
			}
		}
		run(time.Second)
		steps := [][]hakit.Key{
			{oldKey, newKey}, // every unit accepts the new key
			{newKey, oldKey}, // every unit seals with it
			{newKey},         // the old key is dropped
		}
		for _, keys := range steps {
			for id := uint16(1); id <= 2; id++ {
				require.NoError(t, rings[id].Set(keys[0], keys[1:]...))
				run(500 * time.Millisecond)
			}
		}
		run(time.Second)

		require.Equal(t, before, changes(), "no role change")
		require.Equal(t, []uint16{1}, primaries(us...))
		tab := us[1].d.Table()
		require.Equal(t, n, tab.Len())
		for i := range n {
			_, ok := tab.Get(sessionKey(i))
			require.True(t, ok, "session %d replicated", i)
		}
		for _, u := range us {
			st := u.d.Status()
			require.Zero(t, st.Heartbeat.Dropped.Auth, "unit %d: heartbeats dropped for their authentication", u.id)
			for _, p := range st.Sync.Peers {
				require.Zero(t, p.Receiver.DropAuth, "unit %d: sync datagrams dropped for their authentication", u.id)
			}
		}
	})
}
