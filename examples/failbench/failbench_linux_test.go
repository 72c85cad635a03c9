package main

import (
	"testing"
	"time"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/stretchr/testify/require"
)

// TestGapOfScriptedMove measures, on the test bed and with the
// benchmark's own prober and waits, a failover scripted with ip(8): the
// virtual address leaves unit a, and after outage it appears on unit b
// and the client forgets a's MAC (what a gratuitous ARP would do). The
// gap measured must cover the scripted outage, come from b's answers, and
// not be absurdly long. No daemon is involved, so it needs no keepalived.
func TestGapOfScriptedMove(t *testing.T) {
	bed := testbed.New(t)
	b, err := newBench(bed, t.TempDir(), time.Millisecond)
	require.NoError(t, err)
	t.Cleanup(b.close)
	a, bu := b.units[0], b.units[1]
	vip := vipPrefix.String()
	ip := func(h *testbed.Host, args ...string) {
		t.Helper()
		require.NoError(t, runCmd("ip", append([]string{"-n", h.Namespace()}, args...)...))
	}

	ip(a.host, "addr", "add", vip, "dev", "eth0")
	act, err := b.waitActive(nil, 200*time.Millisecond, 10*time.Second)
	require.NoError(t, err)
	require.Same(t, a, act)
	require.True(t, a.holdsVIP())
	require.False(t, bu.holdsVIP())

	const outage = 150 * time.Millisecond
	m := b.probe.mark()
	before := b.probe.since(max(0, m-2000))
	t0 := time.Now()
	ip(a.host, "addr", "del", vip, "dev", "eth0")
	time.Sleep(outage)
	ip(bu.host, "addr", "add", vip, "dev", "eth0")
	ip(b.client, "neigh", "flush", "dev", "eth0", "to", vipPrefix.Addr().String())
	act, err = b.waitActive(bu, answeredFor, 10*time.Second)
	end := time.Now()
	require.NoError(t, err)
	require.Same(t, bu, act)
	after := b.probe.since(m)
	gap := failoverGap(before, after, t0, end)
	t.Logf("scripted outage %v: gap %v", outage, gap)
	// Answers stop when the address leaves a (a probe in flight may still
	// be answered a moment after), so the gap is at least the outage less
	// a little; the upper bound only rejects a broken measurement.
	require.GreaterOrEqual(t, gap, outage-20*time.Millisecond)
	require.Less(t, gap, outage+3*time.Second)
	require.Equal(t, byte(bu.conf.id), after[len(after)-1].unit)
}
