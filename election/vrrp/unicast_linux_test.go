package vrrp

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInteropUnicast pairs this package (unit a) with keepalived (unit b)
// with unicast peers (keepalived's unicast_src_ip and unicast_peer), IPv4
// and IPv6: advertisements go to the peer's own address, sealed for it,
// and neither side joins the group.
func TestInteropUnicast(t *testing.T) {
	unicastBeds(t, func(t *testing.T, b *bed, ka *keepalived) {
		cfg := Config{VRID: 51, Priority: 200, Primary: b.a.addr, Peers: []netip.Addr{b.b.addr}}
		if b.v6 {
			// keepalived sends IPv6 unicast advertisements with the
			// kernel's default hop limit unless unicast_ttl is set.
			cfg.MinUnicastTTL = 64
		}
		us := b.startOurs(b.a, cfg, &ListenConfig{NoJoin: true, Source: b.a.addr})
		b.settled(b.a, us, b.b, ka)
		ka.requireNoLog(t, "Invalid VRRPv3 checksum")

		// Our master loses power: keepalived takes over.
		b.failover("our master dies, keepalived takes over", b.b, ka, b.a, us, us.die)
		us.revive()
		us = b.startOurs(b.a, Config{VRID: 51, Priority: 200, Primary: b.a.addr, Peers: []netip.Addr{b.b.addr},
			NoPreempt: true, MinUnicastTTL: cfg.MinUnicastTTL}, &ListenConfig{NoJoin: true, Source: b.a.addr})
		b.settled(b.b, ka, b.a, us)
		b.waitFor(2*bedInterval+MasterDownInterval(200, bedInterval), "an advertisement from keepalived", func() bool {
			return len(us.d.Status().Peers) > 0
		})
		s := us.d.Status()
		require.Len(t, s.Peers, 1)
		require.Equal(t, b.b.addr, s.Peers[0].Addr)
		require.Zero(t, s.Counters.DroppedTTL+s.Counters.DroppedChecksum+s.Counters.DroppedSource)

		// keepalived's master loses power: ours takes over.
		b.failover("keepalived master dies, ours takes over", b.a, us, b.b, ka, ka.die)
		ka.revive()
	})
}

// unicastBeds runs f on an IPv4 bed and an IPv6 one, each with keepalived
// on unit b at priority 100 with unicast_peer (unit a), ready.
func unicastBeds(t *testing.T, f func(t *testing.T, b *bed, ka *keepalived)) {
	for _, v6 := range []bool{false, true} {
		name := "ipv4"
		if v6 {
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			b := newBed(t, v6)
			defer b.printGaps()
			ka := b.startKeepalived(b.b, kaConf{priority: 100, unicast: true})
			ka.ready()
			f(t, b, ka)
		})
	}
}
