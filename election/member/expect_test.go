package member_test

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/statesync"
)

// TestDriverReplicatesExpectations: an expectation the primary stores
// reaches every secondary, with the sessions, and its removal too.
func TestDriverReplicatesExpectations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		s.n = 3
		us := []*simUnit{s.unit(1, nil), s.unit(2, nil), s.unit(3, nil)}
		for _, u := range us {
			require.NoError(t, u.d.Start())
		}
		time.Sleep(2 * time.Second)
		require.Equal(t, []uint16{1}, primaries(us...))
		master := statesync.Session{Key: sessionKey(1), State: 3, Helper: "ftp"}
		us[0].d.Upsert(master)
		e := statesync.Expectation{
			Key:    statesync.Key{Proto: 6, Src: netip.AddrPortFrom(master.Key.Src.Addr(), 0), Dst: netip.AddrPortFrom(master.Key.Dst.Addr(), 40000)},
			Master: master.Key, SrcMask: netip.MustParseAddr("255.255.255.255"), Helper: "ftp",
			Expires: statesync.Deadline(time.Now().Add(5 * time.Minute)),
		}
		require.True(t, us[0].d.UpsertExpect(e))
		time.Sleep(time.Second)
		for _, u := range us[1:] {
			require.Equal(t, []statesync.Expectation{e}, u.d.Table().Expectations(nil), "unit %d", u.id)
		}
		_, ok := us[0].d.DeleteExpect(e.Key)
		require.True(t, ok)
		time.Sleep(time.Second)
		for _, u := range us[1:] {
			require.Zero(t, u.d.Table().ExpectLen(), "unit %d", u.id)
		}
	})
}
