package main

import (
	"flag"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
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

	var sent atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var conn heartbeat.Conn
	var src net.HardwareAddr
	require.NoError(t, p.client.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		src = ifi.HardwareAddr
		conn, err = heartbeat.ListenEthernet(ifi, heartbeat.DefaultEtherType)
		return err
	}))
	defer conn.Close()
	wg.Add(1)
	go func() { // paced: a batch every millisecond
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		perMs := max(*floodRate/1000, 1)
		start := time.Now()
		for ms := 0; ; ms++ {
			select {
			case <-stop:
				return
			default:
			}
			for range perMs {
				f := heartbeat.Frame{ClusterID: 7, UnitID: uint16(rng.IntN(65535) + 1), Role: hakit.Primary,
					Epoch: ^uint64(0), Seq: sent.Load() + 1, KeyID: 1}
				if rng.IntN(4) == 0 {
					f.UnitID = 2 // the primary's own ID
				}
				for i := range f.Tag { // a tag that is not the key's
					f.Tag[i] = byte(rng.Uint32())
				}
				b, _ := f.MarshalBinary()
				if conn.WriteFrame(b, src, bcast) == nil {
					sent.Add(1)
				}
			}
			if d := time.Until(start.Add(time.Duration(ms+1) * time.Millisecond)); d > 0 {
				time.Sleep(d)
			}
		}
	}()
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
	wg.Wait()
	gap, _ := us.gap()
	elapsed := *floodFor
	t.Logf("flood: %d forged frames in %v (%.0f/s); failover during it: UDP gap %v",
		sent.Load(), elapsed, float64(sent.Load())/elapsed.Seconds(), gap.Round(time.Millisecond))
	p.report(st, "A loses power during the flood")

	time.Sleep(200 * time.Millisecond) // the last frames are read
	sb, err = statusOf(p.b)
	require.NoError(t, err)
	hb := sb.Counters.Heartbeat.Dropped
	counted := hb.Auth + hb.ClusterTag + sb.Counters.Transport.KernelDrops["eth0"]
	t.Logf("B: dropped %+v, kernel drops %v; %d of %d forged frames counted", hb, sb.Counters.Transport.KernelDrops, counted, sent.Load())
	require.Len(t, sb.RoleLog, len(sb0.RoleLog)+1, "B: one role change, the takeover")
	require.Len(t, sb.Peers, 1, "no forged peer")
	require.Zero(t, hb.Stale+hb.Replay+hb.Own, "forged frames are refused for their tag, before their epoch is looked at")
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
	if *floodFor >= time.Minute {
		require.LessOrEqual(t, gap, defaultTarget, "failover during the flood within the default target")
	}
}
