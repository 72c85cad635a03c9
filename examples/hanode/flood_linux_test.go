package main

import (
	"flag"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The forged flood's rate and length. CI runs it for 4 s; the acceptance
// run is
//
//	go test -run TestE2EForgedFlood -flood 60s ./examples/hanode
var (
	floodFor  = flag.Duration("flood", 4*time.Second, "how long TestE2EForgedFlood floods")
	floodRate = flag.Int("flood-rate", 100_000, "forged frames per second in TestE2EForgedFlood")
)

// defaultTarget is the failover target of the default profile (p99 of the
// UDP gap, see the README's figures).
const defaultTarget = 850 * time.Millisecond

// TestE2EForgedFlood needs root: with a key, an attacker on the client
// segment floods forged heartbeats (every unit ID, the largest epoch, the
// primary's ID among them, a primary's role) while A is primary and B its
// in-sync standby. Nothing changes: no role change, no session changed, each
// forged frame dropped and counted (Auth, or the kernel's receive queue).
// Halfway, A loses power: B takes over during the flood.
func TestE2EForgedFlood(t *testing.T) {
	p := newPair(t)
	key := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(key, []byte("an example shared key of 32 bytes\n"), 0o600))
	p.flags = []string{"-key-file", key}
	st := p.established()
	us := p.startUDP(time.Millisecond)
	p.flowing(st, 50)
	sa0, err := statusOf(p.a)
	require.NoError(t, err)
	sb0, err := statusOf(p.b)
	require.NoError(t, err)

	var fs *floodSender
	require.NoError(t, p.client.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		fs, err = newFloodSender(ifi, 1<<16)
		return err
	}))
	defer fs.Close()
	stop := make(chan struct{})
	ran := make(chan time.Duration, 1)
	go func() { ran <- fs.run(*floodRate, stop) }()
	sent := &fs.sent
	half := *floodFor / 2
	time.Sleep(half)
	sa, err := statusOf(p.a)
	require.NoError(t, err)
	sb, err := statusOf(p.b)
	require.NoError(t, err)
	require.Equal(t, "primary", sa.Role)
	require.Equal(t, "secondary", sb.Role)
	require.Equal(t, sa0.RoleLog, sa.RoleLog, "A: no role change under the flood")
	require.Equal(t, sb0.RoleLog, sb.RoleLog, "B: no role change under the flood")
	require.True(t, sb.Sync.InSync)
	require.Equal(t, sb0.Sync.Sessions, sb.Sync.Sessions, "no session changed")
	require.Len(t, sb.Peers, 1, "no forged peer")

	// A loses power during the flood.
	st.resetGap()
	us.resetGap()
	p.crash(p.a)
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 100)
	time.Sleep(*floodFor - half)
	close(stop)
	elapsed := <-ran
	gap, _ := us.gap()
	t.Logf("flood: %d forged frames in %v (%.0f/s, asked for %d/s); failover during it: UDP gap %v",
		sent.Load(), elapsed.Round(time.Millisecond), float64(sent.Load())/elapsed.Seconds(), *floodRate, gap.Round(time.Millisecond))
	p.report(st, "A loses power during the flood")

	time.Sleep(200 * time.Millisecond) // the last frames are read
	sb, err = statusOf(p.b)
	require.NoError(t, err)
	hb := sb.Counters.Heartbeat.Dropped
	counted := hb.Auth + hb.ClusterTag + sb.Counters.Transport.KernelDrops["eth0"]
	t.Logf("B: dropped %+v, kernel drops %v; %d of %d forged frames counted", hb, sb.Counters.Transport.KernelDrops, counted, sent.Load())
	require.NotNil(t, sb.Counters.SyncDriver, "the sync driver's drops in the status")
	t.Logf("B's sync driver: %+v", *sb.Counters.SyncDriver)
	require.Len(t, sb.RoleLog, len(sb0.RoleLog)+1, "B: one role change, the takeover")
	require.Len(t, sb.Peers, 1, "no forged peer")
	require.Zero(t, hb.Stale+hb.Own, "forged frames are refused for their tag, before their epoch is looked at")
	// Every forged frame is counted: refused for its tag, or dropped by
	// the kernel on the full receive queue. The kernel's drops may also
	// hold real frames of the heartbeat EtherType on eth0 (A's heartbeats,
	// B's own as the socket sees them leave, the echoes of a suspicion):
	// at most what B's heartbeat counters show went through meanwhile.
	require.GreaterOrEqual(t, counted, sent.Load(), "every forged frame counted")
	seen := func(s Status) uint64 {
		c := s.Counters.Heartbeat
		return c.Sent + c.Received + c.ProbesSent + c.ProbeReplies
	}
	require.LessOrEqual(t, counted, sent.Load()+seen(sb)-seen(sb0)+10, "no frame counted twice")
	// A reader starved by the flood reads the peer's echo replies late,
	// after their request was given up: dropped as replays, real frames.
	require.LessOrEqual(t, hb.Replay, seen(sb)-seen(sb0), "replays: only the real peer's late echo replies")
	if *floodFor >= time.Minute {
		require.LessOrEqual(t, gap, defaultTarget, "failover during the flood within the default target")
	}
}
