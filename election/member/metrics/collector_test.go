package metrics_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/metrics"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/simnet"
	"github.com/hakit/hakit/statesync"
)

func hw(a, b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, a, b} }

type neighbours map[string][]netip.Addr

func (n neighbours) Neighbours(ifname string) ([]netip.Addr, error) { return n[ifname], nil }

// cluster is two units with session sync on simulated segments, each with
// a Collector fed by its Driver's events.
type cluster struct {
	units [2]*member.Driver
	regs  [2]*prometheus.Registry
}

func newCluster(t *testing.T) *cluster {
	seg, syn := simnet.New(&simnet.Config{Seed: 1}), simnet.New(&simnet.Config{Seed: 2})
	gw := netip.MustParseAddr("198.18.0.254")
	rp := seg.Attach("router", hw(3, 254))
	pr, err := heartbeat.NewPacketProber(rp, hw(3, 254), gw)
	require.NoError(t, err)
	go func() {
		for {
			if _, err := pr.ReadReply(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pr.Close() })
	c := &cluster{}
	for i := range c.units {
		id, peer := byte(i+1), byte(2-i)
		addr := netip.AddrFrom4([4]byte{198, 18, 0, id})
		pr, err := heartbeat.NewPacketProber(seg.Attach(fmt.Sprint("arp", id), hw(2, id)), hw(2, id), addr)
		require.NoError(t, err)
		sp := syn.Attach(fmt.Sprint("sync", id), hw(10+id, peer))
		var col *metrics.Collector
		cfg := &member.Config{
			ClusterID: 7, UnitID: uint16(id), Priority: 200 - id, Unauthenticated: true,
			Interfaces: []member.Interface{{Name: "eth0", Addr: addr, Prober: pr,
				Conn: heartbeat.NewEthernetConn(seg.Attach(fmt.Sprint("hb", id), hw(1, id)), heartbeat.DefaultEtherType)}},
			Heartbeat: &heartbeat.Config{Neighbours: neighbours{"eth0": {gw}}},
			Sync:      &member.Sync{Transport: statesync.NewEthernetTransport(sp, hw(10+id, peer), hw(10+peer, id), 0)},
			Steps:     []member.Step{member.Func("addresses", nil, nil), member.Func("announce", nil, nil)},
			OnEvent:   func(e member.Event) { col.Observe(e) },
		}
		d, err := member.New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		col = metrics.New(d, &metrics.Options{GARP: func() garp.Stats { return garp.Stats{SentARP: 3} }})
		c.units[i], c.regs[i] = d, prometheus.NewPedanticRegistry()
		c.regs[i].MustRegister(col)
	}
	return c
}

// gather returns reg's metric families by name.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// find returns the metric of family name whose labels include labels
// ("k=v" pairs), or nil.
func find(mfs map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := find(mfs, name, labels...)
	require.NotNil(t, m, "%s%v", name, labels)
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("%s: no value", name)
	return 0
}

// TestCollectorFailover: unit 1 is primary and dies; unit 2's metrics
// show one transition to primary because the primary was lost, one
// observation in each phase of its takeover, and the lost peer.
func TestCollectorFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t)
		for _, d := range c.units {
			require.NoError(t, d.Start())
		}
		time.Sleep(2 * time.Second)
		m1 := gather(t, c.regs[0])
		require.Equal(t, 2.0, value(t, m1, "hakit_role"))
		require.Equal(t, 1.0, value(t, m1, "hakit_is_primary"))
		require.Equal(t, 199.0, value(t, m1, "hakit_priority_configured"))
		require.Equal(t, 199.0, value(t, m1, "hakit_priority_effective"))
		require.Equal(t, 1.0, value(t, m1, "hakit_transitions_total", "to=primary", "reason=election"))
		require.Equal(t, 1.0, value(t, m1, "hakit_peer_reachable", "peer=2"))
		require.Equal(t, 1.0, value(t, m1, "hakit_peer_link_state", "peer=2", "interface=eth0"))
		require.Equal(t, 1.0, value(t, m1, "hakit_sync_sending", "sync_peer=0"))
		require.Equal(t, 0.0, value(t, m1, "hakit_sync_backlog_records", "sync_peer=0"), "every update acknowledged")
		require.Equal(t, 0.0, value(t, m1, "hakit_sync_lag_seconds", "sync_peer=0"))
		require.Equal(t, 3.0, value(t, m1, "hakit_garp_sent_total", "kind=arp"))
		require.Positive(t, value(t, m1, "hakit_heartbeats_sent_total"))
		m2 := gather(t, c.regs[1])
		require.Equal(t, 3.0, value(t, m2, "hakit_role"))
		require.Equal(t, 0.0, value(t, m2, "hakit_is_primary"))
		require.Equal(t, 1.0, value(t, m2, "hakit_sync_peer_in_sync", "sync_peer=0"))
		require.Nil(t, m2["hakit_failover_phase_seconds"].GetMetric(), "no takeover yet")

		require.NoError(t, c.units[0].Close())
		time.Sleep(time.Second)
		m2 = gather(t, c.regs[1])
		require.Equal(t, 1.0, value(t, m2, "hakit_is_primary"))
		require.Equal(t, 1.0, value(t, m2, "hakit_transitions_total", "to=primary", "reason=peer_lost"))
		require.Equal(t, 1.0, value(t, m2, "hakit_transitions_total", "to=secondary"))
		require.Equal(t, 1.0, value(t, m2, "hakit_takeovers_total"))
		require.Equal(t, 1.0, value(t, m2, "hakit_eifd_verdicts_total", "kind=peer_down"))
		var phases []string
		for _, m := range m2["hakit_failover_phase_seconds"].GetMetric() {
			require.Equal(t, uint64(1), m.Histogram.GetSampleCount())
			phases = append(phases, m.Label[0].GetValue())
		}
		sort.Strings(phases)
		require.Equal(t, []string{"addresses", "announce", "election", "replication", "sessions"}, phases)
		require.Equal(t, 1.0, value(t, m2, "hakit_failover_seconds"))
		h := find(m2, "hakit_failover_seconds").Histogram
		require.Less(t, h.GetSampleSum(), 0.3, "an early verdict: 0.225 s after the last heartbeat at most")
		require.Equal(t, 0.0, value(t, m2, "hakit_peer_reachable", "peer=1"))
		require.Equal(t, float64(heartbeat.PeerDown), value(t, m2, "hakit_peer_link_state", "peer=1", "interface=eth0"))
	})
}

// fakeSource returns the status it holds.
type fakeSource struct{ s member.Status }

func (f *fakeSource) Status() member.Status { return f.s }

func fullStatus() member.Status {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return member.Status{Unit: 1, Priority: 150, Role: hakit.Primary, Since: now, LinksUp: 2, InSync: true,
		Effective: 140,
		Held:      []string{"sessions", "addresses"},
		Peers: []member.PeerStatus{
			{Unit: 2, Candidate: election.Candidate{Unit: 2, Role: hakit.Secondary, Priority: 100}, Reachable: true,
				Links: []heartbeat.LinkStatus{{Interface: "eth0", State: heartbeat.Alive, LastHeard: now, Loss: 0.01},
					{Interface: "eth1", State: heartbeat.Suspect, LastHeard: now}}},
			{Unit: 3, Links: []heartbeat.LinkStatus{{Interface: "eth0", State: heartbeat.PeerDown}}},
		},
		Sync: &member.SyncStatus{Sessions: 10, Sending: true, Peers: []statesync.PeerStatus{{Sent: 5, Total: 10},
			{Unit: 3, Backlog: statesync.Backlog{Records: 40, Datagrams: 2, Bytes: 2200, Lag: 1500 * time.Millisecond}}},
			Driver: statesync.DriverStats{Short: 1, Transport: statesync.TransportDrops{Kernel: 4}}},
		Checks: []member.CheckStatus{{Name: "gw-ping", Weight: 20, Known: true, Failing: true, Runs: 9, Failures: 4},
			{Name: "vrrp-script", Known: true, Runs: 9}},
		Heartbeat: heartbeat.Counters{Sent: 10, Received: 9, Dropped: heartbeat.Drops{Auth: 2}},
	}
}

// TestCollectorRemovedSeries: the series of a peer, an interface or a
// sync peer that left the status are gone from the next scrape.
func TestCollectorRemovedSeries(t *testing.T) {
	src := &fakeSource{fullStatus()}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.New(src, nil))
	m := gather(t, reg)
	require.NotNil(t, find(m, "hakit_peer_link_state", "peer=2", "interface=eth1"))
	require.NotNil(t, find(m, "hakit_peer_reachable", "peer=3"))
	require.NotNil(t, find(m, "hakit_sync_sending", "sync_peer=0"))
	require.Equal(t, 2.0, value(t, m, "hakit_heartbeats_dropped_total", "reason=auth"))
	require.Equal(t, 4.0, value(t, m, "hakit_sync_driver_dropped_total", "reason=kernel"))
	require.Equal(t, 1.0, value(t, m, "hakit_sync_driver_dropped_total", "reason=short"))
	require.Equal(t, 1.5, value(t, m, "hakit_sync_lag_seconds", "sync_peer=3"))
	require.Equal(t, 40.0, value(t, m, "hakit_sync_backlog_records", "sync_peer=3"))
	require.Equal(t, 2200.0, value(t, m, "hakit_sync_backlog_bytes", "sync_peer=3"))
	require.Equal(t, 0.0, value(t, m, "hakit_sync_lag_seconds", "sync_peer=0"))
	require.Equal(t, 1.0, value(t, m, "hakit_check_failing", "check=gw-ping"))
	require.Equal(t, 20.0, value(t, m, "hakit_check_weight", "check=gw-ping"))
	require.Equal(t, 4.0, value(t, m, "hakit_check_failures_total", "check=gw-ping"))
	require.Equal(t, 0.0, value(t, m, "hakit_check_failing", "check=vrrp-script"))
	require.Equal(t, 9.0, value(t, m, "hakit_check_runs_total", "check=vrrp-script"))

	src.s.Sync.Peers = src.s.Sync.Peers[:1]
	src.s.Checks = src.s.Checks[1:]
	m = gather(t, reg)
	require.Nil(t, find(m, "hakit_sync_lag_seconds", "sync_peer=3"), "a removed sync peer's series are gone")
	require.Nil(t, find(m, "hakit_sync_backlog_records", "sync_peer=3"))
	require.NotNil(t, find(m, "hakit_sync_lag_seconds", "sync_peer=0"))
	require.Nil(t, find(m, "hakit_check_failing", "check=gw-ping"), "a removed check's series are gone")
	require.NotNil(t, find(m, "hakit_check_failing", "check=vrrp-script"))

	src.s.Peers = src.s.Peers[:1]
	src.s.Peers[0].Links = src.s.Peers[0].Links[:1]
	src.s.Sync = nil
	m = gather(t, reg)
	require.NotNil(t, find(m, "hakit_peer_link_state", "peer=2", "interface=eth0"))
	require.Nil(t, find(m, "hakit_peer_link_state", "peer=2", "interface=eth1"))
	require.Nil(t, find(m, "hakit_peer_reachable", "peer=3"))
	require.Nil(t, find(m, "hakit_peer_link_state", "peer=3"))
	require.Nil(t, m["hakit_sync_sending"])
	require.Nil(t, m["hakit_sync_sessions"])
	require.Nil(t, m["hakit_sync_driver_dropped_total"])
}

// TestPromtool: the exposition passes `promtool check metrics` (its lint
// of names, units, suffixes and help). promtool comes with Debian's
// prometheus package; under CI=true it must be there.
func TestPromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (Debian package prometheus); CI=true requires it")
		}
		t.Skip("promtool not found: install Debian's prometheus package to run this test")
	}
	col := metrics.New(&fakeSource{fullStatus()}, &metrics.Options{GARP: func() garp.Stats { return garp.Stats{} }})
	now := time.Now()
	col.Observe(member.Event{Kind: member.EventRoleChange, From: hakit.Secondary, To: hakit.Primary, Cause: election.CausePeerLost, Reason: "primary unit 2 lost"})
	col.Observe(member.Event{Kind: member.EventHeartbeat, State: heartbeat.PeerDown})
	col.Observe(member.Event{Kind: member.EventTakeover, Takeover: &member.Takeover{Fault: now, Elected: now.Add(time.Millisecond),
		Steps: []member.StepTime{{Step: "sessions", Done: now.Add(2 * time.Millisecond)}}, Done: now.Add(2 * time.Millisecond)}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	CheckPromtool(t, path, reg)
}

// CheckPromtool fails t unless promtool accepts what g exposes.
func CheckPromtool(t *testing.T, promtool string, g prometheus.Gatherer) {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		require.NoError(t, enc.Encode(mf))
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s\n%s", out, buf.String())
}
