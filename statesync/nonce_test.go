package statesync

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// introduce makes s echo r's nonce, as if it had heard r's
// acknowledgements: for tests that hand a sender's datagrams to a
// receiver without the exchange. If s already echoes a nonce, r takes it.
func introduce(s *Sender, r *Receiver) {
	if s.peerNonce == 0 {
		s.peerNonce = r.nonce
	} else {
		r.nonce = s.peerNonce
	}
}

// TestSyncReplayIntoRestartedReceiver: datagrams of a primary recorded
// while it replicated, replayed into its standby after the primary died
// and the standby restarted (its replica kept), change nothing: the
// replica stays as it was, the receiver never reports in sync, and every
// replayed datagram is counted as DropStaleNonce; right after the restart
// and 72 hours later. Its acknowledgements telling its nonce are spaced by
// NackInterval.
func TestSyncReplayIntoRestartedReceiver(t *testing.T) {
	for _, age := range []time.Duration{0, 72 * time.Hour} {
		t.Run(age.String(), func(t *testing.T) {
			p := newPipe(t, 0, 0)
			var rec [][]byte
			for i := range 2000 {
				p.upsert(testSession(i))
			}
			p.settle(5 * time.Second)
			for i := range 500 {
				p.upsert(testSession(5000 + i))
			}
			p.delete(testSession(7).Key)
			for _, f := range p.inflight {
				if f.toRcv {
					rec = append(rec, f.b)
				}
			}
			// Record everything the sender sends from here on.
			p.settle(5 * time.Second)
			// The whole stream, resent from the window: a full recording.
			for q := uint64(1); q < p.s.next; q++ {
				rec = append(rec, bytes.Clone(p.s.win[q%uint64(len(p.s.win))].b))
			}
			require.Greater(t, len(rec), 100)
			want := p.dst.Len()
			require.Equal(t, p.src.Len(), want)

			// The primary dies; the standby restarts, keeping its table;
			// the recording is replayed into it, one datagram a ms.
			now := p.now.Add(age)
			r, err := NewReceiver(now, &ReceiverConfig{Table: p.dst, Keys: testKeys(t, []byte("k3y")), Window: 512})
			require.NoError(t, err)
			acks := 0
			for _, b := range rec {
				require.ErrorIs(t, r.Step(now, b), ErrStaleNonce)
				r.Tick(now)
				acks += len(r.Output(nil))
				require.False(t, r.InSync())
				now = now.Add(time.Millisecond)
			}
			st := r.Stats()
			require.Equal(t, uint64(len(rec)), st.DropStaleNonce)
			require.Zero(t, st.Records)
			require.Zero(t, st.Streams)
			require.Equal(t, want, p.dst.Len())
			requireEqualTables(t, p.src, p.dst)
			require.LessOrEqual(t, acks, len(rec)/int(r.cfg.NackInterval/time.Millisecond)+1)
			require.NotZero(t, acks, "the receiver told its nonce")
			require.Empty(t, r.Events(nil))
		})
	}
}

// TestSyncRestartedReceiverFollowsLiveSender: a standby that restarts
// while its primary runs is in sync again soon after the sender's next
// datagram (an idle sender's probe comes within 100 ms): its
// acknowledgement tells its nonce, and the sender's new stream echoes it.
func TestSyncRestartedReceiverFollowsLiveSender(t *testing.T) {
	p := newPipe(t, 0, 0)
	for i := range 1000 {
		p.upsert(testSession(i))
	}
	p.settle(5 * time.Second)
	p.newReceiver()
	start := p.now
	p.settle(5 * time.Second)
	t.Logf("in sync %v after the restart", p.now.Sub(start))
	require.Less(t, p.now.Sub(start), 150*time.Millisecond)
	requireEqualTables(t, p.src, p.dst)
	require.Equal(t, uint64(1), p.s.Stats().Resyncs)
}
