package vrrp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChecksumFormsOnTheWire runs both IPv4 checksum forms on the bed. Two
// units of this package, one sending RFC 9568's form (message only) and
// one the pseudo-header form, accept each other and report each other's
// form; they also give the failover figures of a pair of this package.
// Then keepalived 2.2.7, which knows only the pseudo-header form, meets
// RFC 9568's form: it refuses every advertisement and becomes Master too,
// which is why Config.Checksum must stay the pseudo-header form with it.
func TestChecksumFormsOnTheWire(t *testing.T) {
	b := newBed(t, false)
	defer b.printGaps()
	rfc := b.startOurs(b.a, Config{VRID: 51, Priority: 200, Checksum: ChecksumMessageOnly}, nil)
	ph := b.startOurs(b.b, Config{VRID: 51, Priority: 100, Checksum: ChecksumPseudoHeader}, nil)
	b.settled(b.a, rfc, b.b, ph)
	require.Equal(t, ChecksumMessageOnly, ph.d.Status().Peers[0].Checksum)
	require.NotZero(t, ph.d.Status().Counters.ReceivedMessageOnly)

	// A pair of this package: the Master dies, and stops cleanly.
	b.failover("hakit pair: master dies, backup takes over", b.b, ph, b.a, rfc, rfc.die)
	rfc.revive()
	rfc = b.startOurs(b.a, Config{VRID: 51, Priority: 200, Checksum: ChecksumMessageOnly}, nil)
	b.failover("hakit pair: higher priority returns and preempts", b.a, rfc, b.b, ph, func() {})
	s := rfc.d.Status()
	require.Equal(t, ChecksumPseudoHeader, s.Peers[0].Checksum, "the RFC 9568 unit reports its peer's pseudo-header form")
	require.NotZero(t, s.Counters.ReceivedPseudoHeader)
	b.afterPriorityZero(ph, func() {
		b.failover("hakit pair: master stops cleanly, backup takes over", b.b, ph, b.a, rfc, func() {
			require.NoError(t, rfc.d.Shutdown())
			<-rfc.d.Done()
		})
	})
	require.NoError(t, ph.d.Shutdown())
	<-ph.d.Done()

	// keepalived 2.2.7 and RFC 9568's form: refused.
	ka := b.startKeepalived(b.b, kaConf{priority: 100})
	ka.ready()
	rfc = b.startOurs(b.a, Config{VRID: 51, Priority: 200, Checksum: ChecksumMessageOnly}, nil)
	b.waitFor(5*MasterDownInterval(100, bedInterval), "keepalived refusing the RFC 9568 checksum and taking the role", func() bool {
		return rfc.state() == Master && ka.state() == Master && strings.Contains(ka.logText(), "Invalid VRRPv3 checksum")
	})
	// keepalived's own advertisements reach us and we count them, but we
	// have the higher priority and stay Master: two Masters. Stop ours.
	b.waitFor(time.Second, "keepalived's advertisements", func() bool { return len(rfc.d.Status().Peers) > 0 })
	require.Equal(t, ChecksumPseudoHeader, rfc.d.Status().Peers[0].Checksum)
	require.NoError(t, rfc.d.Shutdown())
	<-rfc.d.Done()
	b.settled(b.b, ka, b.a, rfc)
}
