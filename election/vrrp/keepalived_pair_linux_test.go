package vrrp

import "testing"

// TestKeepalivedPair measures a pair of keepalived 2.2.7 units on the same
// bed and probe, for comparison with the mixed pairs: its Master dies, a
// higher priority returns, its Master stops cleanly.
func TestKeepalivedPair(t *testing.T) {
	b := newBed(t, false)
	defer b.printGaps()
	ka := b.startKeepalived(b.a, kaConf{priority: 200})
	kb := b.startKeepalived(b.b, kaConf{priority: 100})
	b.settled(b.a, ka, b.b, kb)

	b.failover("keepalived pair: master dies, backup takes over", b.b, kb, b.a, ka, ka.die)
	ka.revive()
	ka = b.startKeepalived(b.a, kaConf{priority: 200})
	b.failover("keepalived pair: higher priority returns and preempts", b.a, ka, b.b, kb, func() {})
	b.failover("keepalived pair: master stops cleanly, backup takes over", b.b, kb, b.a, ka, ka.stop)
}
