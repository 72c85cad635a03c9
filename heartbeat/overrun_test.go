package heartbeat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOverrunHoldsPeerFault: while the kernel drops frames unread on an
// interface (a flood), the peer's silence there is no evidence that its
// interface failed: the PeerFault verdict waits, and comes once the drops
// stop. Without the drops it comes at the window.
func TestOverrunHoldsPeerFault(t *testing.T) {
	for _, overrun := range []bool{false, true} {
		t.Run(map[bool]string{false: "no drops", true: "kernel drops"}[overrun], func(t *testing.T) {
			h := newHarness(t, 2, earlyConfig(), 1, 2)
			warm(h)
			flood := 5 * time.Second
			start := h.clk.Now()
			if overrun {
				var feed func()
				feed = func() {
					if h.clk.Now().Sub(start) < flood {
						h.units[1].m.Overrun(h.clk.Now(), "eth1")
						h.clk.AfterFunc(50*time.Millisecond, feed)
					}
				}
				feed()
			}
			h.units[2].cut[1] = true // unit 2's eth1 is gone, or its frames drown
			h.clk.RunFor(flood + 10*time.Second)
			v := h.verdicts(1)
			require.NotEmpty(t, v)
			require.Equal(t, PeerFault, v[0].State, v[0].Reason)
			d := v[0].At.Sub(start)
			t.Logf("PeerFault %v after the cut: %s", d, v[0].Reason)
			if overrun {
				require.Greater(t, d, flood, "the verdict must wait while the kernel drops frames there")
			} else {
				require.Less(t, d, 2*time.Second)
			}
		})
	}
}
