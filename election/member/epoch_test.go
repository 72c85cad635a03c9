package member_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

func TestBootEpoch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epoch")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e1, err := member.BootEpoch(path, now)
	require.NoError(t, err)
	require.Equal(t, uint64(now.UnixNano()), e1, "no file: the clock")
	e2, err := member.BootEpoch(path, now.Add(-time.Hour))
	require.NoError(t, err)
	require.Greater(t, e2, e1+1<<32-1, "the clock went back: above every epoch the first start may use")
	e3, err := member.BootEpoch(path, now.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, uint64(now.Add(time.Hour).UnixNano()), e3, "the clock is ahead of the counter again")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	stored, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	require.NoError(t, err)
	require.Equal(t, e3+1<<32, stored)

	require.NoError(t, os.WriteFile(path, []byte("not a number\n"), 0o600))
	_, err = member.BootEpoch(path, now)
	require.Error(t, err, "a damaged counter is an error, not a silent restart from the clock")
	_, err = member.BootEpoch(filepath.Join(t.TempDir(), "missing", "epoch"), now)
	require.Error(t, err)
}

// behind is the real clock (virtual in a synctest bubble) set back by d.
type behind time.Duration

func (b behind) Now() time.Time { return time.Now().Add(-time.Duration(b)) }

func (b behind) AfterFunc(d time.Duration, f func()) func() bool {
	return hakit.RealClock().AfterFunc(d, f)
}

// TestDriverRestartWithClockBehind: unit 1 is the standby, restarts, and
// comes back with its clock an hour behind (no real-time clock, an NTP
// step). With epochs from the clock alone its peer drops its heartbeats as
// stale and its sync acknowledgements as replays, for good; with
// BootEpoch it is heard again, and back in sync, within a second.
func TestDriverRestartWithClockBehind(t *testing.T) {
	for _, boot := range []bool{false, true} {
		t.Run(fmt.Sprint("boot epoch ", boot), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSegment(t)
				s.n = 2
				path := filepath.Join(t.TempDir(), "epoch")
				epoch := func(clk hakit.Clock) uint64 {
					if !boot {
						return 0
					}
					e, err := member.BootEpoch(path, clk.Now())
					require.NoError(t, err)
					return e
				}
				two := s.unit(2, nil)
				require.NoError(t, two.d.Start())
				time.Sleep(time.Second)
				run := func(r int, clk hakit.Clock) *member.Driver {
					d, err := member.New(restartConfig(s, 1, r, clk, epoch(clk)))
					require.NoError(t, err)
					t.Cleanup(func() { d.Close() })
					require.NoError(t, d.Start())
					return d
				}
				one := run(1, hakit.RealClock())
				time.Sleep(2 * time.Second)
				require.Equal(t, hakit.Primary, two.d.Role())
				require.True(t, one.Status().InSync)
				require.NoError(t, one.Close())
				time.Sleep(time.Second)

				one = run(2, behind(time.Hour))
				restarted := time.Now()
				heard := func() bool {
					for _, p := range two.d.Status().Peers {
						if p.Unit == 1 && p.Reachable {
							return true
						}
					}
					return false
				}
				for !heard() && time.Since(restarted) < 5*time.Second {
					time.Sleep(10 * time.Millisecond)
				}
				st := two.d.Status()
				if !boot {
					require.False(t, heard(), "the clock alone: unit 1 is not heard")
					require.NotZero(t, st.Heartbeat.Dropped.Stale)
					return
				}
				require.True(t, heard(), "unit 1 heard again")
				require.Less(t, time.Since(restarted), time.Second)
				for !one.Status().InSync && time.Since(restarted) < 5*time.Second {
					time.Sleep(10 * time.Millisecond)
				}
				require.True(t, one.Status().InSync, "unit 1's acknowledgements are taken")
				require.Less(t, time.Since(restarted), 2*time.Second)
				time.Sleep(time.Second) // past its initial wait
				require.Equal(t, hakit.Secondary, one.Role())
				require.Equal(t, hakit.Primary, two.d.Role())
			})
		})
	}
}

// restartConfig is unit id's configuration for its run r on s (ports of
// their own per run, the same MACs), with clk and epoch.
func restartConfig(s *segment, id uint16, r int, clk hakit.Clock, epoch uint64) *member.Config {
	hbp := s.seg.Attach(fmt.Sprintf("hb%d-run%d", id, r), hw(1, byte(id)))
	arp := s.seg.Attach(fmt.Sprintf("arp%d-run%d", id, r), hw(2, byte(id)))
	addr := netip.AddrFrom4([4]byte{198, 18, 0, byte(id)})
	pr, err := heartbeat.NewPacketProber(arp, hw(2, byte(id)), addr)
	require.NoError(s.t, err)
	cfg := &member.Config{
		ClusterID: 7, UnitID: id, Priority: uint8(200 - id), Keys: s.keys, Clock: clk, Epoch: epoch,
		Interfaces: []member.Interface{{Name: "eth0", Addr: addr, Conn: heartbeat.NewEthernetConn(hbp, heartbeat.DefaultEtherType), Prober: pr}},
		Heartbeat:  &heartbeat.Config{Neighbours: neighbours{"eth0": {s.gw}}},
		Sync:       &member.Sync{},
	}
	var macs []net.HardwareAddr // one transport to every peer
	for peer := 1; peer <= s.n; peer++ {
		if peer != int(id) {
			macs = append(macs, hw(10+byte(peer), 0))
			cfg.Sync.Peers = append(cfg.Sync.Peers, statesync.Peer{Unit: uint16(peer), Addr: &packet.Addr{HardwareAddr: macs[len(macs)-1]}})
		}
	}
	p := s.sync.Attach(fmt.Sprintf("sync%d-run%d", id, r), hw(10+byte(id), 0))
	cfg.Sync.Transport = statesync.NewEthernetTransport(p, hw(10+byte(id), 0), macs[0], 0, macs[1:]...)
	return cfg
}
