package vrrp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInteropIPv6 pairs this package (unit a) with keepalived (unit b) over
// IPv6 multicast (ff02::12, link-local sources, hop limit 255, the
// pseudo-header checksum), advertising a link-local address first (RFC
// 9568 section 5.2.9) and the probed global one.
func TestInteropIPv6(t *testing.T) {
	b := newBed(t, true)
	defer b.printGaps()
	ka := b.startKeepalived(b.b, kaConf{priority: 200})
	us := b.startOurs(b.a, Config{VRID: 51, Priority: 100}, nil)
	b.settled(b.b, ka, b.a, us)
	peers := us.d.Status().Peers
	require.Len(t, peers, 1)
	require.Equal(t, b.b.ll, peers[0].Addr, "keepalived advertises from its link-local address")
	require.Zero(t, us.d.Status().Counters.AddrMismatch, "the same address list")

	// keepalived's master loses power: ours takes over.
	b.failover("keepalived master dies, ours takes over", b.a, us, b.b, ka, ka.die)
	ka.revive()

	// keepalived returns with the higher priority and preempts.
	ka = b.startKeepalived(b.b, kaConf{priority: 200})
	b.failover("keepalived returns with the higher priority and preempts ours", b.b, ka, b.a, us, func() {})

	// keepalived stops cleanly (SIGTERM: priority 0): ours takes over
	// after its Skew_Time.
	b.afterPriorityZero(us, func() {
		b.failover("keepalived master stops cleanly, ours takes over", b.a, us, b.b, ka, ka.stop)
	})

	// And the other way round.
	ka = b.startKeepalived(b.b, kaConf{priority: 50})
	ka.ready()
	b.settled(b.a, us, b.b, ka)
	b.afterPriorityZero(ka, func() {
		b.failover("our master stops cleanly, keepalived takes over", b.b, ka, b.a, us, func() {
			require.NoError(t, us.d.Shutdown())
			<-us.d.Done()
		})
	})
	ka.requireNoLog(t, "(?i)invalid|error")
}
