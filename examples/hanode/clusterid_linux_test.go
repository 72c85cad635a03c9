package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// The bed of the cluster ID collision: two pairs, both given cluster ID 7
// and unit IDs 1 and 2, on one segment (bridge lan) with a client.
var (
	collisionClient = netip.MustParsePrefix("198.18.1.200/24")
	vipA            = netip.MustParsePrefix("198.18.1.101/24")
	vipB            = netip.MustParsePrefix("198.18.1.102/24")
)

// TestE2EClusterIDCollision needs root: pair A (virtual MAC on the
// interface, as pair B) runs; pair B, a copy of A's configuration and key given
// another -cluster-name but not another cluster ID, starts on the same
// segment (with the same key and no name, heartbeats used to mix: a unit
// of one pair was taken for its namesake in the other). Every unit of A
// detects it within a second, logs it at error level, shows it in the
// status and in /metrics, and counts it; B's units see A the same way.
// Neither pair changes a role, each hears only its own peer, and each
// address is answered by its own pair's primary, with its own virtual MAC
// (derived from the cluster name too). Then a station sends from A's
// virtual MAC, as a cluster with one ID and no names would: A's primary's
// virtual MAC guard reports it.
func TestE2EClusterIDCollision(t *testing.T) {
	t.Parallel()
	bed := testbed.New(t)
	lan := bed.Bridge("lan")
	client := bed.Host("client")
	bed.Link(client, lan, "eth0")
	client.AddAddr("eth0", collisionClient)
	dir := t.TempDir()
	key := func(name, secret string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(secret+"\n"), 0o600))
		return path
	}
	keyFile := key("key", "both clusters' shared key 32 byte")

	newUnit := func(name string, id, host int) *unit {
		h := bed.Host(name)
		u := &unit{name: name, n: id, h: h, client: bed.Link(h, lan, "eth0"),
			log: filepath.Join(t.TempDir(), name+".log"), status: "127.0.0.1:9100", stateDir: t.TempDir()}
		h.AddAddr("eth0", netip.MustParsePrefix(fmt.Sprintf("198.18.1.%d/24", host)))
		t.Cleanup(func() {
			if t.Failed() || os.Getenv("HANODE_E2E_LOGS") != "" {
				b, _ := os.ReadFile(u.log)
				t.Logf("%s's log:\n%s", u.name, b)
			}
		})
		return u
	}
	start := func(u *unit, priority int, name string, vip netip.Prefix, vmacMode string) {
		t.Helper()
		f, err := os.OpenFile(u.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		require.NoError(t, err)
		defer f.Close()
		u.cmd = u.h.Command(hanodeBinary(t), "-cluster-id", "7", "-unit-id", strconv.Itoa(u.id()),
			"-priority", strconv.Itoa(priority), "-vip", "eth0="+vip.String(), "-vmac", vmacMode, "-iface", "eth0",
			"-key-file", keyFile, "-cluster-name", name, "-status", u.status, "-state-dir", u.stateDir,
			"-epoch-file", filepath.Join(u.stateDir, "epoch"), "-log-level", "debug")
		u.cmd.Stdout, u.cmd.Stderr = f, f
		require.NoError(t, u.cmd.Start())
	}
	wait := func(u *unit, what string, ok func(Status) bool) Status {
		t.Helper()
		var last Status
		require.Eventually(t, func() bool {
			s, err := statusOf(u)
			last = s
			return err == nil && ok(s)
		}, 15*time.Second, 20*time.Millisecond, "%s: %s; last status %+v", u.name, what, last)
		return last
	}
	primary := func(s Status) bool { return s.Role == "primary" && s.Active }
	secondary := func(s Status) bool { return s.Role == "secondary" && len(s.Peers) == 1 }

	a1, a2 := newUnit("a1", 1, 11), newUnit("a2", 2, 12)
	b1, b2 := newUnit("b1", 1, 21), newUnit("b2", 2, 22)
	start(a1, 200, "edge-a", vipA, vmacInterface)
	wait(a1, "primary", primary)
	start(a2, 100, "edge-a", vipA, vmacInterface)
	wait(a2, "secondary", secondary)
	time.Sleep(time.Second)
	before := map[string][]string{}
	for _, u := range []*unit{a1, a2} {
		s, err := statusOf(u)
		require.NoError(t, err)
		require.Empty(t, s.Collisions, u.name)
		before[u.name] = s.RoleLog
	}

	// Pair B starts while A runs.
	startB := time.Now()
	start(b1, 200, "edge-b", vipB, vmacInterface)
	for _, u := range []*unit{a1, a2} {
		s := wait(u, "sees the other cluster", func(s Status) bool { return len(s.Collisions) > 0 })
		c := s.Collisions[0]
		require.Equal(t, heartbeat.OtherTag.String(), c.Kind, "%s: %+v", u.name, c)
		// b1's daemon needs a moment to start: its first frame is the
		// collision's first sign.
		require.Less(t, c.First.Sub(startB), time.Second, "%s: detected within a second of the other pair's start: %+v", u.name, c)
		t.Logf("%s: %s %v after the other pair started", u.name, c.Reason, c.First.Sub(startB).Round(time.Millisecond))
	}
	wait(b1, "primary", primary)
	start(b2, 100, "edge-b", vipB, vmacInterface)
	wait(b2, "secondary", secondary)
	time.Sleep(3 * time.Second) // both pairs run side by side

	vmacA, err := (&config{ClusterID: 7, ClusterName: "edge-a"}).localMAC(0)
	require.NoError(t, err)
	vmacB, err := (&config{ClusterID: 7, ClusterName: "edge-b"}).localMAC(0)
	require.NoError(t, err)
	for _, u := range []*unit{a1, a2, b1, b2} {
		s, err := statusOf(u)
		require.NoError(t, err)
		hb := s.Counters.Heartbeat
		require.NotZero(t, hb.Collisions, u.name)
		require.Equal(t, hb.Collisions, hb.Dropped.ClusterTag, "%s: every frame of the other pair dropped for its tag", u.name)
		require.Zero(t, hb.Dropped.Own+hb.Dropped.Stale+hb.Dropped.Replay+hb.Dropped.Auth, "%s: %+v", u.name, hb.Dropped)
		require.Len(t, s.Peers, 1, "%s hears its own peer only", u.name)
		require.Len(t, s.Collisions, 2, "%s: both units of the other pair: %+v", u.name, s.Collisions)
		if before[u.name] != nil {
			require.Equal(t, before[u.name], s.RoleLog, "%s: no role change", u.name)
		} else {
			require.Len(t, s.RoleLog, 1, "%s: one role change, at its start: %q", u.name, s.RoleLog)
		}
		m, err := get(u, "/metrics")
		require.NoError(t, err)
		v, ok := sample(m, "hakit_cluster_id_collisions_total")
		require.True(t, ok && v > 0, "%s: hakit_cluster_id_collisions_total %v", u.name, v)
		b, err := os.ReadFile(u.log)
		require.NoError(t, err)
		require.True(t, slices.ContainsFunc(strings.Split(string(b), "\n"), func(line string) bool {
			return strings.Contains(line, `level=ERROR msg="heartbeat: another cluster uses this cluster ID"`) &&
				strings.Contains(line, "kind=other-cluster-tag")
		}), "%s: the error line", u.name)
	}

	// Each address is answered by its own pair's primary, every time.
	for _, x := range []struct {
		vip netip.Prefix
		mac net.HardwareAddr
	}{{vipA, vmacA}, {vipB, vmacB}} {
		out, err := client.Run("ping", "-c", "20", "-i", "0.05", "-W", "1", x.vip.Addr().String())
		require.NoError(t, err, out)
		require.Contains(t, out, "20 received", out)
		neigh, err := client.Run("ip", "neigh", "show", x.vip.Addr().String())
		require.NoError(t, err)
		require.Contains(t, neigh, x.mac.String(), "%v answered by its own pair's primary", x.vip)
	}
	for _, u := range []*unit{a2, b2} {
		out, err := u.h.Run("ip", "-o", "addr", "show", "dev", "eth0")
		require.NoError(t, err)
		require.False(t, strings.Contains(out, vipA.Addr().String()+"/") || strings.Contains(out, vipB.Addr().String()+"/"),
			"%s, a secondary, holds no address: %s", u.name, out)
	}

	// A station sends from A's virtual MAC: A's primary's guard sees it.
	require.NoError(t, client.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		conn, err := heartbeat.ListenEthernet(ifi, 0x88B5) // a local experimental EtherType
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.WriteFrame(make([]byte, 46), vmacA, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}))
	s := wait(a1, "the guard's report", func(s Status) bool { return s.Counters.VMACGuard.ForeignMAC > 0 })
	require.True(t, slices.ContainsFunc(s.Collisions, func(c CollisionStatus) bool {
		return c.Kind == vmac.ForeignVirtualMAC.String() && c.Interface == "eth0"
	}), "%+v", s.Collisions)
	require.Equal(t, before["a1"], s.RoleLog, "a1: no role change")
}
