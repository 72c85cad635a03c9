package heartbeat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Three units on the same interfaces: evidence from every unit.

// TestThirdUnitIsEvidence: unit 2 has an empty neighbour cache (it just
// restarted) when unit 1 loses power; unit 3 is still heard, and its
// answers to unit 2's echo requests show that unit 2's interfaces work:
// the early verdict 0.225 s after unit 1's last heartbeat, as with a
// neighbour, where it waited out the window (0.8 s) and blamed its own
// interfaces.
func TestThirdUnitIsEvidence(t *testing.T) {
	for _, nifs := range []int{1, 2} {
		t.Run(string(rune('0'+nifs))+" interfaces", func(t *testing.T) {
			h := newHarness(t, nifs, earlyConfig(), 1, 2, 3)
			h.units[2].neigh = staticNeighbours{}
			start := warm(h)
			h.clk.RunFor(30 * ms)
			h.units[1].down = true
			h.clk.RunFor(2 * time.Second)
			for i := range nifs {
				last := h.lastFrom(2, 1, i)
				require.True(t, last.After(start))
				var got []Report
				for _, r := range h.reportsSince(2, last.Add(1)) {
					if r.Interface == h.ifnames[i] {
						got = append(got, r)
					}
				}
				require.Equal(t, []string{h.ifnames[i] + ":suspect", h.ifnames[i] + ":peer-down"}, states(got))
				require.Equal(t, 225*ms, got[1].At.Sub(last), got[1].Reason)
				require.Equal(t, PeerDown, got[1].State)
				require.Contains(t, got[0].Reason, "probing 0 neighbours")
			}
			for _, r := range h.reportsSince(3, start) {
				require.Equal(t, uint16(1), r.Peer, "unit 3 sees nothing wrong with unit 2: %v", r)
			}
		})
	}
}

// TestLocalFaultWithdrawn: unit 2's own cable on eth0 is pulled: unit 2
// reports LocalFault about both peers on eth0 (right: nothing answers
// there). While it is out, unit 1 loses power (PeerDown on eth1). When the cable is back,
// unit 3's first heartbeat proves the interface works: the LocalFault
// about unit 1 is withdrawn at once and becomes PeerDown, without waiting
// for unit 1 to come back. When unit 1 comes back, unit 2 reports nothing
// but unit 1 alive on each interface: no LocalFault left to flap.
func TestLocalFaultWithdrawn(t *testing.T) {
	h := newHarness(t, 2, earlyConfig(), 1, 2, 3)
	warm(h)
	u2 := h.units[2]
	u2.cut[0] = true
	h.clk.RunFor(time.Second)
	h.units[1].down = true
	h.clk.RunFor(2 * time.Second)
	local := 0
	for _, r := range u2.reports {
		if r.State == LocalFault {
			require.Equal(t, "eth0", r.Interface, "%v", r)
			local++
		}
	}
	require.Equal(t, 2, local, "a local fault about both peers on eth0")
	require.Equal(t, LocalFault, h.linkState(2, 1, 0))
	require.Equal(t, PeerDown, h.linkState(2, 1, 1))

	back := h.clk.Now()
	u2.cut[0] = false
	h.clk.RunFor(time.Second)
	var withdrawn, down Report
	for _, r := range h.reportsSince(2, back) {
		switch {
		case r.Peer == 1 && r.State == Suspect:
			withdrawn = r
		case r.Peer == 1 && r.State == PeerDown:
			down = r
		}
		require.NotEqual(t, LocalFault, r.State, "%v", r)
	}
	require.Contains(t, withdrawn.Reason, "local fault withdrawn")
	require.Less(t, withdrawn.At.Sub(back), 101*ms, "unit 3's next heartbeat")
	require.Less(t, down.At.Sub(withdrawn.At), 30*ms, "one probe round")
	require.Equal(t, PeerDown, h.linkState(2, 1, 0))
	require.Equal(t, Alive, h.linkState(2, 3, 0))
	require.NotZero(t, u2.m.Counters().Withdrawn)

	// Unit 1 comes back.
	rejoin := h.clk.Now()
	h.restart(1)
	h.clk.RunFor(2 * time.Second)
	for _, id := range []uint16{2, 3} {
		require.Equal(t, []string{"eth0:alive", "eth1:alive"}, states(h.reportsSince(id, rejoin)), "unit %d", id)
	}
}

// linkState returns unit id's state of peer on interface i.
func (h *harness) linkState(id, peer uint16, i int) State {
	for _, p := range h.units[id].m.Peers() {
		if p.Unit == peer {
			return p.Links[i].State
		}
	}
	return 0
}
