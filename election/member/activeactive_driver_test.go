package member_test

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// activeConfig returns unit id's configuration on s for an active-active
// unit: its heartbeat interface, its sync transport to every peer.
func (s *segment) activeConfig(id uint16) *member.Config {
	hbp := s.seg.Attach(fmt.Sprintf("hb%d", id), hw(1, byte(id)))
	arp := s.seg.Attach(fmt.Sprintf("arp%d", id), hw(2, byte(id)))
	addr := netip.AddrFrom4([4]byte{198, 18, 0, byte(id)})
	pr, err := heartbeat.NewPacketProber(arp, hw(2, byte(id)), addr)
	require.NoError(s.t, err)
	var peers []statesync.Peer
	var macs []net.HardwareAddr
	for peer := 1; peer <= s.n; peer++ {
		if peer != int(id) {
			macs = append(macs, hw(10+byte(peer), 0))
			peers = append(peers, statesync.Peer{Unit: uint16(peer), Addr: &packet.Addr{HardwareAddr: macs[len(macs)-1]}})
		}
	}
	p := s.sync.Attach(fmt.Sprintf("sync%d", id), hw(10+byte(id), 0))
	return &member.Config{
		ClusterID: 7, UnitID: id, Keys: s.keys,
		Interfaces: []member.Interface{{Name: "eth0", Addr: addr, Conn: heartbeat.NewEthernetConn(hbp, heartbeat.DefaultEtherType), Prober: pr}},
		Heartbeat:  &heartbeat.Config{Neighbours: neighbours{"eth0": {s.gw}}},
		Sync:       &member.Sync{Peers: peers, Transport: statesync.NewEthernetTransport(p, hw(10+byte(id), 0), macs[0], 0, macs[1:]...)},
	}
}

// TestActiveActiveUnitFails: three units share the buckets, each
// replicates its own sessions to the others; one dies, and only its
// buckets move, to the survivors, which hold its sessions.
func TestActiveActiveUnitFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSegment(t)
		s.n = 3
		var us []*member.ActiveActive
		var mu sync.Mutex
		shares := map[uint16][]member.Share{}
		for id := uint16(1); id <= 3; id++ {
			cfg := s.activeConfig(id)
			a, err := member.NewActiveActive(cfg, &member.ActiveActiveConfig{OnShare: func(sh member.Share) {
				mu.Lock()
				shares[id] = append(shares[id], sh)
				mu.Unlock()
			}})
			require.NoError(t, err)
			t.Cleanup(func() { a.Close() })
			us = append(us, a)
		}
		for _, a := range us {
			require.NoError(t, a.Start())
		}
		time.Sleep(2 * time.Second)
		three := us[0].Share()
		for _, a := range us {
			require.Equal(t, []uint16{1, 2, 3}, a.Share().Units)
			require.Equal(t, three.Owners, a.Share().Owners, "every unit computes the same owners")
		}
		// Each unit upserts the sessions it owns: every unit gets all.
		for i := range 300 {
			k := sessionKey(i)
			o := three.Owner(k)
			us[o-1].Upsert(statesync.Session{Key: k, State: 3})
		}
		time.Sleep(time.Second)
		for _, a := range us {
			require.Equal(t, 300, a.Table().Len(), "every unit holds the whole table")
		}

		require.NoError(t, us[2].Close())
		killed := time.Now()
		time.Sleep(time.Second)
		two := us[0].Share()
		require.Equal(t, []uint16{1, 2}, two.Units)
		require.Equal(t, two.Owners, us[1].Share().Owners)
		require.WithinDuration(t, killed, two.At, 300*time.Millisecond, "the early verdict")
		for b := range three.Owners {
			if three.Owners[b] != 3 {
				require.Equal(t, three.Owners[b], two.Owners[b], "bucket %d of a survivor moved", b)
			}
		}
		require.NotContains(t, two.Owners, uint16(3))
		for _, a := range us[:2] {
			require.Equal(t, 300, a.Table().Len(), "the dead unit's sessions are kept")
		}
		mu.Lock()
		defer mu.Unlock()
		got := shares[1]
		require.GreaterOrEqual(t, len(got), 2)
		require.Empty(t, got[0].Units, "the first share is nobody's")
		require.True(t, slices.Equal(got[len(got)-1].Units, []uint16{1, 2}))
		require.Contains(t, got[len(got)-1].Reason, "left: unit 3")
	})
}
