package vrrp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The mixed pairs: hanode (unit a, -protocol vrrp) and keepalived 2.2.7
// (unit b) on the bed, with the client probing the address every
// millisecond. keepalived 2.2.7 sends and accepts only the pseudo-header
// IPv4 checksum, so hanode sends that form here; the message-only form
// (keepalived's v3_checksum_as_v2, from 2.2.8 on) cannot be run against
// it. After every case exactly one unit is Master, holds the address and
// answers the client.

// TestHanodeKeepalivedIPv4 walks the cases over IPv4 multicast, hanode
// putting VRRP's virtual MAC (00-00-5E-00-01-33) on its interface.
func TestHanodeKeepalivedIPv4(t *testing.T) {
	b := newBed(t, false)
	defer b.printGaps()
	ka := b.startKeepalived(b.b, kaConf{priority: 100})
	ka.ready()
	hn := b.startHanode(b.a, b.hanodeVRRP(200, "-vmac", "interface")...)
	b.settled(b.a, hn, b.b, ka)
	require.Equal(t, "00:00:5e:00:01:33", b.a.host.Interface("eth0").HardwareAddr.String(), "VRRP's virtual MAC on the Master")
	ka.requireNoLog(t, "Invalid VRRPv3 checksum")

	// hanode stops cleanly (SIGTERM): its priority 0 advertisement makes
	// keepalived take over after its Skew_Time (61 ms at priority 100),
	// well inside Master_Down_Interval (361 ms).
	b.afterPriorityZero(ka, func() {
		b.failover("hanode master stops cleanly, keepalived takes over", b.b, ka, b.a, hn, hn.stop)
	})
	require.NotEqual(t, "00:00:5e:00:01:33", b.a.host.Interface("eth0").HardwareAddr.String(), "hanode put its own MAC back")

	// hanode returns with the higher priority and preempts keepalived; it
	// reports keepalived's checksum form.
	hn = b.startHanode(b.a, b.hanodeVRRP(200, "-vmac", "interface")...)
	b.failover("hanode returns with the higher priority and preempts keepalived", b.a, hn, b.b, ka, func() {})
	s, err := hn.status()
	require.NoError(t, err)
	require.Len(t, s.VRRP.Peers, 1)
	require.Equal(t, b.b.addr.String(), s.VRRP.Peers[0].Addr)
	require.Equal(t, "pseudo-header", s.VRRP.Peers[0].Checksum, "keepalived 2.2.7 sends the pseudo-header form")

	// hanode's master loses power: keepalived takes over after its
	// Master_Down_Interval.
	gap := b.failover("hanode master dies, keepalived takes over", b.b, ka, b.a, hn, hn.die)
	require.Greater(t, gap, MasterDownInterval(100, bedInterval)-bedInterval, "keepalived waited out Master_Down_Interval")
	hn.revive()

	// hanode returns with a lower priority (and puts back the MAC its
	// crashed run left); keepalived's master then loses power.
	hn = b.startHanode(b.a, b.hanodeVRRP(50, "-vmac", "interface")...)
	b.settled(b.b, ka, b.a, hn)
	b.failover("keepalived master dies, hanode takes over", b.a, hn, b.b, ka, ka.die)
	ka.revive()

	// keepalived returns with a higher priority and preempts hanode.
	ka = b.startKeepalived(b.b, kaConf{priority: 250})
	b.failover("keepalived returns with a higher priority and preempts hanode", b.b, ka, b.a, hn, func() {})
	ka.requireNoLog(t, "Invalid VRRPv3 checksum")
	s, err = hn.status()
	require.NoError(t, err)
	require.Zero(t, s.VRRP.Counters.DroppedChecksum+s.VRRP.Counters.AddrMismatch)
}

// TestHanodeKeepalivedStrict: keepalived with vrrp_strict (its RFC
// compliance mode: no unicast, no authentication, and traffic to the
// addresses dropped unless accept mode, set here because the bed's probe
// needs an answer) pairs with hanode over IPv4 as without it; hanode's
// -vrrp-nopreempt is tried here too. In 2.2.7 vrrp_strict does not change
// the checksum form.
func TestHanodeKeepalivedStrict(t *testing.T) {
	b := newBed(t, false)
	defer b.printGaps()
	strict := kaConf{priority: 100, global: "\tvrrp_strict\n", instance: "\taccept\n"}
	ka := b.startKeepalived(b.b, strict)
	ka.ready()
	hn := b.startHanode(b.a, b.hanodeVRRP(200, "-vmac", "off", "-vrrp-accept")...)
	b.settled(b.a, hn, b.b, ka)
	b.failover("vrrp_strict: hanode master dies, keepalived takes over", b.b, ka, b.a, hn, hn.die)
	hn.revive()

	// hanode returns, higher priority but -vrrp-nopreempt: it stays Backup.
	hn = b.startHanode(b.a, b.hanodeVRRP(200, "-vmac", "off", "-vrrp-accept", "-vrrp-nopreempt")...)
	mark, t0 := b.probe.mark(), time.Now()
	time.Sleep(5 * MasterDownInterval(200, bedInterval))
	b.settled(b.b, ka, b.a, hn)
	gap := b.probe.gapSince(mark, t0, time.Now())
	recordGap(t.Name()+"/hanode returns with nopreempt and stays Backup", gap)
	require.Less(t, gap, 50*time.Millisecond, "nothing moved")
	hn.stop()

	hn = b.startHanode(b.a, b.hanodeVRRP(200, "-vmac", "off", "-vrrp-accept")...)
	b.failover("vrrp_strict: hanode returns with the higher priority and preempts keepalived", b.a, hn, b.b, ka, func() {})
	b.afterPriorityZero(ka, func() {
		b.failover("vrrp_strict: hanode master stops cleanly, keepalived takes over", b.b, ka, b.a, hn, hn.stop)
	})
	ka.requireNoLog(t, "(?i)invalid|error")
}

// TestHanodeKeepalivedIPv6: the same over IPv6 multicast (ff02::12,
// link-local sources), advertising the link-local virtual address first.
func TestHanodeKeepalivedIPv6(t *testing.T) {
	b := newBed(t, true)
	defer b.printGaps()
	ka := b.startKeepalived(b.b, kaConf{priority: 200})
	ka.ready()
	hn := b.startHanode(b.a, b.hanodeVRRP(100, "-vmac", "off")...)
	b.settled(b.b, ka, b.a, hn)

	b.failover("keepalived master dies, hanode takes over", b.a, hn, b.b, ka, ka.die)
	ka.revive()
	ka = b.startKeepalived(b.b, kaConf{priority: 200})
	b.failover("keepalived returns with a higher priority and preempts hanode", b.b, ka, b.a, hn, func() {})
	b.afterPriorityZero(hn, func() {
		b.failover("keepalived master stops cleanly, hanode takes over", b.a, hn, b.b, ka, ka.stop)
	})

	ka = b.startKeepalived(b.b, kaConf{priority: 50})
	ka.ready()
	b.settled(b.a, hn, b.b, ka)
	b.afterPriorityZero(ka, func() {
		b.failover("hanode master stops cleanly, keepalived takes over", b.b, ka, b.a, hn, hn.stop)
	})
	hn = b.startHanode(b.a, b.hanodeVRRP(100, "-vmac", "off")...)
	b.failover("hanode returns with a higher priority and preempts keepalived", b.a, hn, b.b, ka, func() {})
	gap := b.failover("hanode master dies, keepalived takes over", b.b, ka, b.a, hn, hn.die)
	require.Greater(t, gap, MasterDownInterval(50, bedInterval)-bedInterval, "keepalived waited out Master_Down_Interval")
	ka.requireNoLog(t, "(?i)invalid|error")
}

// TestHanodeKeepalivedUnicast: unicast peers (keepalived's unicast_src_ip
// and unicast_peer), IPv4 and IPv6.
func TestHanodeKeepalivedUnicast(t *testing.T) {
	unicastBeds(t, func(t *testing.T, b *bed, ka *keepalived) {
		flags := func(p int) []string {
			f := b.hanodeVRRP(p, "-vmac", "off", "-vrrp-unicast-src", b.a.addr.String(), "-vrrp-unicast-peer", b.b.addr.String())
			if b.v6 {
				// keepalived sends IPv6 unicast advertisements with the
				// kernel's default hop limit unless unicast_ttl is set.
				f = append(f, "-vrrp-min-unicast-ttl", "64")
			}
			return f
		}
		hn := b.startHanode(b.a, flags(200)...)
		b.settled(b.a, hn, b.b, ka)
		ka.requireNoLog(t, "Invalid VRRPv3 checksum")

		b.failover("hanode master dies, keepalived takes over", b.b, ka, b.a, hn, hn.die)
		hn.revive()
		// Unicast needs keepalived's neighbour entry for unit a again, which
		// the kernel resolves with its next probe, up to a second after the
		// cable is back: until then hanode hears nothing and may become a
		// second Master, until keepalived's first advertisement reaches it.
		hn = b.startHanode(b.a, flags(50)...)
		var s hanodeStatus
		b.waitFor(5*time.Second, "hanode hearing keepalived", func() bool {
			var err error
			s, err = hn.status()
			return err == nil && len(s.VRRP.Peers) > 0
		})
		b.settled(b.b, ka, b.a, hn)
		require.Len(t, s.VRRP.Peers, 1)
		require.Equal(t, b.b.addr.String(), s.VRRP.Peers[0].Addr)
		require.Zero(t, s.VRRP.Counters.DroppedTTL+s.VRRP.Counters.DroppedChecksum+s.VRRP.Counters.DroppedSource)
		b.failover("keepalived master dies, hanode takes over", b.a, hn, b.b, ka, ka.die)
		ka.revive()
	})
}

// TestHanodePair is the hakit-only pair on the same bed and probe, for
// comparison: two hanode units with hakit's heartbeats at their defaults
// (100 ms, 2 misses, the 0.6 s probe window, early verdicts; the bed has
// no neighbour but the client for the probes): its primary dies, the dead
// one returns as the secondary, the primary stops cleanly (SIGTERM: a
// planned handover). hakit has no quick preemption to compare: a better
// unit waits the election's PreemptDelay (10 s) and the primary's
// HoldDown (1 min) before it takes the role.
func TestHanodePair(t *testing.T) {
	b := newBed(t, false)
	defer b.printGaps()
	flags := func(p string) []string { return []string{"-cluster-id", "51", "-priority", p, "-vmac", "off"} }
	ha := b.startHanode(b.a, flags("200")...)
	hb := b.startHanode(b.b, flags("100")...)
	b.settled(b.a, ha, b.b, hb)

	b.failover("hanode pair: primary dies, secondary takes over", b.b, hb, b.a, ha, ha.die)
	ha.revive()
	ha = b.startHanode(b.a, flags("200")...)
	b.settled(b.b, hb, b.a, ha)
	b.failover("hanode pair: primary stops cleanly, secondary takes over", b.a, ha, b.b, hb, hb.stop)
}

// TestHanodeVRRPPair: two hanode units that both speak VRRP (as two
// keepalived units would), with hakit's session sync between them over
// UDP: the Master replicates its table, the Backup holds it in sync and
// commits it when it takes over. Its Master dies, returns and preempts,
// stops cleanly.
func TestHanodeVRRPPair(t *testing.T) {
	b := newBed(t, false)
	defer b.printGaps()
	flags := func(p int, peer *unit) []string {
		return b.hanodeVRRP(p, "-vmac", "off", "-sync-peer", peer.addr.String()+":7946")
	}
	ha := b.startHanode(b.a, flags(200, b.b)...)
	hb := b.startHanode(b.b, flags(100, b.a)...)
	b.settled(b.a, ha, b.b, hb)
	inSync := func(h *hanode, sending bool) func() bool {
		return func() bool {
			s, err := h.status()
			return err == nil && s.Sync != nil && s.Sync.InSync && s.Sync.Sending == sending
		}
	}
	b.waitFor(10*time.Second, "b holds a's session table in sync", inSync(hb, false))

	b.failover("hanode VRRP pair: master dies, backup takes over", b.b, hb, b.a, ha, ha.die)
	ha.revive()
	ha = b.startHanode(b.a, flags(200, b.b)...)
	b.failover("hanode VRRP pair: higher priority returns and preempts", b.a, ha, b.b, hb, func() {})
	b.waitFor(10*time.Second, "a replicates to b again", inSync(ha, true))
	b.failover("hanode VRRP pair: master stops cleanly, backup takes over", b.b, hb, b.a, ha, ha.stop)
}

// afterPriorityZero runs stop, a clean stop of the Master, and requires
// that backup took over as RFC 9568 has it after a priority 0
// advertisement: after its Skew_Time, not Master_Down_Interval. The new
// Master says so itself (keepalived's log: "Backup received priority 0
// advertisement"; hanode's and this package's reason: "took over after
// Skew_Time"), which a loaded machine cannot blur as it can the client's
// gap.
func (b *bed) afterPriorityZero(backup stater, stop func()) {
	b.t.Helper()
	n := priorityZeroTakeovers(backup)
	stop()
	require.Equal(b.t, n+1, priorityZeroTakeovers(backup), "the new Master took over after the priority 0 advertisement")
}

// priorityZeroTakeovers counts the times u took over after a priority 0
// advertisement.
func priorityZeroTakeovers(u stater) int {
	switch x := u.(type) {
	case *keepalived:
		return strings.Count(x.logText(), "Backup received priority 0 advertisement")
	case *hanode:
		n := 0 // the unit's role change line (the VRRP instance's own says it too)
		for _, l := range strings.Split(x.logText(), "\n") {
			if strings.Contains(l, `msg="member: role change"`) && strings.Contains(l, "took over after Skew_Time") {
				n++
			}
		}
		return n
	case *ours:
		x.mu.Lock()
		defer x.mu.Unlock()
		n := 0
		for _, t := range x.ts {
			if t.To == Master && strings.Contains(t.Reason, "took over after Skew_Time") {
				n++
			}
		}
		return n
	}
	panic(fmt.Sprintf("priorityZeroTakeovers(%T)", u))
}

// TestTsharkHanode captures hanode's own advertisements (-protocol vrrp,
// the address owner, Master at once) on the bed and decodes them with
// tshark: IPv4 in both checksum forms and IPv6, good checksums, no
// expert warning.
func TestTsharkHanode(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("tshark is not installed (apt-get install tshark)")
	}
	for _, tt := range []struct {
		name     string
		v6       bool
		checksum string
		asV2     *bool // as in TestTshark
	}{
		{"ipv4 pseudo-header", false, "pseudo-header", new(false)},
		{"ipv4 message-only", false, "message-only", new(true)},
		{"ipv6", true, "pseudo-header", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(t, tt.v6)
			file := filepath.Join(b.dir, "hanode.pcap")
			tsharkCapture(t, b.client, file, tt.v6, func() (stop func()) {
				h := b.startHanode(b.a, b.hanodeVRRP(255, "-vmac", "off", "-vrrp-checksum", tt.checksum)...)
				return h.stop
			})
			tsharkDecode(t, file, tt.asV2, 255, len(b.addrs))
		})
	}
}
