package main

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/vmac"
)

// pinVMAC makes both LAN bridges send the virtual MACs to u's ports, and
// only there, whatever they learn (a static, sticky entry): the frames of
// a new connection then reach u's kernel, as they would when a switch
// learnt u's port last. unpinVMAC lets the bridges learn again.
func (p *pair) pinVMAC(u *unit) {
	p.t.Helper()
	for i, l := range []*testbed.Link{u.client, u.server} {
		mac, err := vmac.LocalMAC(7, i)
		require.NoError(p.t, err)
		out, err := exec.Command("bridge", "-n", l.Bridge().Namespace(), "fdb", "replace", mac.String(), "dev", l.Peer(), "master", "static", "sticky").CombinedOutput()
		require.NoError(p.t, err, "bridge fdb: %s", out)
	}
}

func (p *pair) unpinVMAC(u *unit) {
	p.t.Helper()
	for i, l := range []*testbed.Link{u.client, u.server} {
		mac, err := vmac.LocalMAC(7, i)
		require.NoError(p.t, err)
		out, err := exec.Command("bridge", "-n", l.Bridge().Namespace(), "fdb", "del", mac.String(), "dev", l.Peer(), "master").CombinedOutput()
		require.NoError(p.t, err, "bridge fdb: %s", out)
	}
}

// onePrimary waits until exactly one of A and B is active, each hearing
// the other, and returns it.
func (p *pair) onePrimary(what string) *unit {
	p.t.Helper()
	var winner *unit
	require.Eventually(p.t, func() bool {
		sa, errA := statusOf(p.a)
		sb, errB := statusOf(p.b)
		if errA != nil || errB != nil || sa.Active == sb.Active || len(sa.Peers) == 0 || len(sb.Peers) == 0 {
			return false
		}
		winner = p.a
		if sb.Active {
			winner = p.b
		}
		return true
	}, 15*time.Second, 20*time.Millisecond, what)
	return winner
}

// threeUnits starts A (the primary), B and C, with a TCP stream through A.
func (p *pair) threeUnits() (*unit, *stream) {
	c := p.addThird()
	p.start(p.a, 200)
	p.waitStatus(p.a, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.start(p.b, 150)
	p.start(c, 100)
	st := p.startStreamTo(netip.AddrPortFrom(serverAddr.Addr(), 8080))
	p.flowing(st, 100)
	return c, st
}

// TestE2EPartitionSessions needs root: every path between the units is
// cut (heartbeats everywhere and the sync link), both go active, and a new
// TCP stream is opened through each of them. When the partition heals,
// the loser hands its sessions to the winner before it stands down, and
// the winner writes them into its kernel: every stream goes on, exactly one
// unit is primary, one role changes.
func TestE2EPartitionSessions(t *testing.T) {
	p := newPair(t)
	st := p.established()
	streams := []*stream{st}
	m := testbed.Match{EtherType: heartbeat.DefaultEtherType}
	heals := []func(){p.y.Loss(1), p.c.LossMatch(m, 1), p.s.LossMatch(m, 1)}
	p.waitStatus(p.b, "primary during the partition", func(s Status) bool { return s.Role == "primary" && s.Active })
	for i, u := range []*unit{p.a, p.b} {
		p.pinVMAC(u)
		s := p.startStreamTo(netip.AddrPortFrom(serverAddr.Addr(), uint16(8090+i)))
		p.flowing(s, 50)
		streams = append(streams, s)
		p.unpinVMAC(u)
	}
	// The client's and server's traffic goes to whichever unit the bridges
	// learnt last: each unit forwards the streams it knows, and drops the
	// other's.
	before := roleChanges(t, p.a) + roleChanges(t, p.b)
	for _, s := range streams {
		s.resetGap()
	}
	for _, heal := range heals {
		heal()
	}
	winner := p.onePrimary("one primary after the heal")
	t.Logf("after the heal %s is primary", winner.name)
	for i, s := range streams {
		p.flowing(s, 200)
		p.report(s, "healed: stream "+string(rune('1'+i)))
	}
	time.Sleep(time.Second) // long enough for any further role change
	require.Equal(t, uint64(1), roleChanges(t, p.a)+roleChanges(t, p.b)-before, "one role changes after the heal: the loser's")
	for _, s := range streams {
		p.onlyForwarder(s, winner)
	}
}
