package vrrp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestInteropIPv4 pairs this package (unit a) with keepalived (unit b) over
// IPv4 multicast, pseudo-header checksums (the only form keepalived 2.2.7
// accepts), and walks through the cases one after the other. After each,
// exactly one unit is Master, holds the address and answers the client.
func TestInteropIPv4(t *testing.T) {
	b := newBed(t, false)
	defer b.printGaps()
	ka := b.startKeepalived(b.b, kaConf{priority: 100})
	us := b.startOurs(b.a, Config{VRID: 51, Priority: 200}, nil)
	b.settled(b.a, us, b.b, ka)

	// keepalived accepts our advertisements (a Backup is silent: we
	// learn its checksum form below, once it is Master).
	ka.requireNoLog(t, "Invalid VRRPv3 checksum")
	ka.requireLog(t, `Entering BACKUP STATE`)
	require.Empty(t, us.d.Status().Peers)

	// Our unit stops cleanly: its priority 0 advertisement makes
	// keepalived take over after its Skew_Time (61 ms at priority 100),
	// well inside its Master_Down_Interval (361 ms).
	b.afterPriorityZero(ka, func() {
		b.failover("our master stops cleanly, keepalived takes over", b.b, ka, b.a, us, func() {
			require.NoError(t, us.d.Shutdown())
			<-us.d.Done()
		})
	})

	// Ours returns with the higher priority and preempts; it heard
	// keepalived's advertisements meanwhile, and reports their form.
	us = b.startOurs(b.a, Config{VRID: 51, Priority: 200}, nil)
	b.failover("ours returns with the higher priority and preempts keepalived", b.a, us, b.b, ka, func() {})
	peers := us.d.Status().Peers
	require.Len(t, peers, 1)
	require.Equal(t, b.b.addr, peers[0].Addr)
	require.Equal(t, ChecksumPseudoHeader, peers[0].Checksum, "keepalived 2.2.7 sends the pseudo-header form")
	require.Equal(t, uint8(100), peers[0].Priority)

	// Our master loses power: keepalived takes over after its
	// Master_Down_Interval.
	gap := b.failover("our master dies, keepalived takes over", b.b, ka, b.a, us, us.die)
	require.Greater(t, gap, MasterDownInterval(100, bedInterval)-bedInterval, "keepalived waited out Master_Down_Interval")
	us.revive()

	// Ours returns, higher priority but nopreempt: it stays Backup.
	us = b.startOurs(b.a, Config{VRID: 51, Priority: 200, NoPreempt: true}, nil)
	mark, t0 := b.probe.mark(), time.Now()
	time.Sleep(5 * MasterDownInterval(200, bedInterval))
	b.settled(b.b, ka, b.a, us)
	gap = b.probe.gapSince(mark, t0, time.Now())
	recordGap(t.Name()+"/ours returns with nopreempt and stays Backup", gap)
	require.Less(t, gap, 50*time.Millisecond, "nothing moved")

	// keepalived's master loses power: ours takes over.
	b.failover("keepalived master dies, ours takes over", b.a, us, b.b, ka, ka.die)
	ka.revive()

	// keepalived returns with a higher priority and preempts us.
	ka = b.startKeepalived(b.b, kaConf{priority: 250})
	b.failover("keepalived returns with a higher priority and preempts ours", b.b, ka, b.a, us, func() {})
	ka.requireNoLog(t, "Invalid VRRPv3 checksum")
	require.Zero(t, us.d.Status().Counters.DroppedChecksum)
}
