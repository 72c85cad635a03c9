package heartbeat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

// knows makes tx echo rx's nonce in its next frames, as if it had heard
// rx: for tests that hand one Machine's frames to another without the
// exchange.
func knows(tx, rx *Machine) {
	if tx.live[rx.cfg.UnitID] == nil {
		tx.liveOrder = append(tx.liveOrder, rx.cfg.UnitID)
	}
	tx.live[rx.cfg.UnitID] = &liveness{heard: true, heardEpoch: rx.cfg.Epoch, nonce: rx.nonce, echoNextTurn: true}
}

// nonceConfig is earlyConfig with keys.
func nonceConfig(t *testing.T) Config {
	c := earlyConfig()
	c.Keys = testRing(t)
	return c
}

// TestNonceRestartHeardAtOnce: a unit that restarts is taken as live by
// its peer, and takes the peer as live, within an exchange of frames
// (well within an interval), in both directions, with at most two of its
// first frames dropped as StaleNonce.
func TestNonceRestartHeardAtOnce(t *testing.T) {
	h := newHarness(t, 1, nonceConfig(t), 1, 2)
	warm(h)
	at := h.clk.Now()
	h.restart(2)
	h.clk.RunFor(100 * ms)
	require.False(t, h.lastFrom(1, 2, 0).Before(at))
	require.False(t, h.lastFrom(2, 1, 0).Before(at))
	// Three one-way trips: 2's first frame, 1's answer at once, 2's.
	require.LessOrEqual(t, h.lastFrom(1, 2, 0).Sub(at), 2*h.rtt)
	require.LessOrEqual(t, h.lastFrom(2, 1, 0).Sub(at), 2*h.rtt)
	require.LessOrEqual(t, h.units[1].m.Counters().Dropped.StaleNonce, uint64(2))
	require.Empty(t, h.verdicts(1))
	require.Empty(t, h.verdicts(2))
}

// pairRun runs Machines a and b for d from now, ticking every ms and
// delivering every frame to the other at once (answers included); rec, if
// not nil, records every frame of a.
func pairRun(t *testing.T, a, b *Machine, now time.Time, d time.Duration, rec *[][]byte) time.Time {
	t.Helper()
	type msg struct {
		to   *Machine
		data []byte
	}
	var q []msg
	send := func(from *Machine, out Output) {
		to := b
		if from == b {
			to = a
		}
		for _, f := range out.Frames {
			if from == a && rec != nil {
				*rec = append(*rec, f.Data)
			}
			q = append(q, msg{to, f.Data})
		}
	}
	for end := now.Add(d); now.Before(end); now = now.Add(ms) {
		send(a, a.Tick(now))
		send(b, b.Tick(now))
		for len(q) > 0 {
			m := q[0]
			q = q[1:]
			out, _ := m.to.Receive(now, "eth0", m.data)
			send(m.to, out)
		}
	}
	return now
}

// TestReplayIntoRestartedReceiver: frames of a primary recorded while it
// ran, replayed into its peer after the primary died and the peer
// restarted, are all dropped and counted as StaleNonce: no peer, no
// report, no payload, right after the restart and 72 hours later.
func TestReplayIntoRestartedReceiver(t *testing.T) {
	for _, age := range []time.Duration{0, 72 * time.Hour} {
		t.Run(age.String(), func(t *testing.T) {
			cfg := nonceConfig(t)
			cfg.UnitID, cfg.Epoch, cfg.Role = 1, 100, hakit.Primary
			a, err := NewMachine(&cfg, Interface{Name: "eth0", Addr: unitAddr(1, 0)})
			require.NoError(t, err)
			require.NoError(t, a.SetPayload([]byte("unit 1 is primary")))
			cfg.UnitID, cfg.Epoch, cfg.Role = 2, 200, hakit.Secondary
			b, err := NewMachine(&cfg, Interface{Name: "eth0", Addr: unitAddr(2, 0)})
			require.NoError(t, err)
			now := time.Unix(1_000_000, 0)
			var rec [][]byte
			now = pairRun(t, a, b, now, 2*time.Second, &rec)
			require.Greater(t, len(rec), 15)
			require.GreaterOrEqual(t, b.Counters().Received, uint64(len(rec)-2), "the recording was live when made")

			// a dies; b restarts (a larger epoch, a new nonce); the
			// recording is replayed into it.
			now = now.Add(age)
			cfg.Epoch = 201
			b2, err := NewMachine(&cfg, Interface{Name: "eth0", Addr: unitAddr(2, 0)})
			require.NoError(t, err)
			var reports []Report
			var heard int
			for _, f := range rec {
				out := b2.Tick(now)
				reports = append(reports, out.Reports...)
				out, err := b2.Receive(now, "eth0", f)
				require.ErrorIs(t, err, ErrStaleNonce)
				reports = append(reports, out.Reports...)
				heard += len(out.Heard)
				now = now.Add(100 * ms)
			}
			c := b2.Counters()
			require.Zero(t, c.Received)
			require.Equal(t, uint64(len(rec)), c.Dropped.StaleNonce)
			c.Dropped.StaleNonce = 0
			require.Equal(t, Drops{}, c.Dropped)
			require.Empty(t, b2.Peers())
			require.Empty(t, reports)
			require.Zero(t, heard)
			// Its own heartbeats: one a round, and one more when it first
			// learned the recorded nonce.
			require.LessOrEqual(t, c.Sent, uint64(len(rec)+1))
		})
	}
}

// TestReplayNextToLivePeer: a peer restarts while frames of its previous
// start are replayed: those are refused (StaleNonce before the exchange,
// Stale after it), the live start is taken at once.
func TestReplayNextToLivePeer(t *testing.T) {
	cfg := nonceConfig(t)
	cfg.UnitID, cfg.Epoch = 1, 100
	a, err := NewMachine(&cfg, Interface{Name: "eth0"})
	require.NoError(t, err)
	cfg.UnitID, cfg.Epoch = 2, 200
	b, err := NewMachine(&cfg, Interface{Name: "eth0"})
	require.NoError(t, err)
	now := time.Unix(1_000_000, 0)
	var rec [][]byte
	now = pairRun(t, a, b, now, time.Second, &rec)

	// b restarts; a restarts too, later; the old frames of a are
	// replayed into b while the new a runs.
	cfg.Epoch = 201
	b, err = NewMachine(&cfg, Interface{Name: "eth0"})
	require.NoError(t, err)
	cfg.UnitID, cfg.Epoch = 1, 101
	a, err = NewMachine(&cfg, Interface{Name: "eth0"})
	require.NoError(t, err)
	for _, f := range rec {
		_, err := b.Receive(now, "eth0", f)
		require.Error(t, err)
		now = pairRun(t, a, b, now, 10*ms, nil)
	}
	c := b.Counters()
	// Every replayed frame, and at most two of the new a's first frames
	// (before the exchange).
	drops := c.Dropped.StaleNonce + c.Dropped.Stale
	require.GreaterOrEqual(t, drops, uint64(len(rec)))
	require.LessOrEqual(t, drops, uint64(len(rec)+2))
	require.NotZero(t, c.Received)
	ps := b.Peers()
	require.Len(t, ps, 1)
	require.Equal(t, Alive, ps[0].Links[0].State)
}

// TestNonceDelayedOnAnotherInterface: a round delayed on one interface
// behind the round that proved the peer's start live is taken if it
// echoes this unit's nonce too, and counted as StaleNonce (not a replay)
// if it does not.
func TestNonceDelayedOnAnotherInterface(t *testing.T) {
	cfg := nonceConfig(t)
	ifs := []Interface{{Name: "eth0"}, {Name: "eth1"}}
	rx, err := NewMachine(&cfg, ifs...)
	require.NoError(t, err)
	cfg.UnitID = 2
	tx, err := NewMachine(&cfg, ifs...)
	require.NoError(t, err)
	now := time.Unix(1000, 0)
	rounds := func() [][]byte {
		out := tx.Tick(now)
		now = now.Add(100 * ms)
		return [][]byte{out.Frames[0].Data, out.Frames[1].Data}
	}
	r1 := rounds() // before tx heard rx: no echo
	knows(tx, rx)
	r2, r3 := rounds(), rounds()
	_, err = rx.Receive(now, "eth0", r3[0])
	require.NoError(t, err, "proves tx's start live")
	_, err = rx.Receive(now, "eth1", r2[1])
	require.NoError(t, err, "an earlier round that echoes: taken")
	_, err = rx.Receive(now, "eth1", r1[1])
	require.ErrorIs(t, err, ErrStaleNonce, "an earlier round that does not echo")
	_, err = rx.Receive(now, "eth1", r3[1])
	require.NoError(t, err)
	_, err = rx.Receive(now, "eth1", r2[1])
	require.ErrorIs(t, err, ErrReplay, "the per-link marks still hold")
	d := rx.Counters().Dropped
	require.Equal(t, uint64(1), d.StaleNonce)
	require.Equal(t, uint64(1), d.Replay)
}
