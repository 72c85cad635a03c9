package etcd_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/witness"
	"github.com/hakit/hakit/election/witness/etcd"
)

const key = "/hakit/test/lease"

// shortLease: etcd's shortest lease (2 s), renewed every 250 ms, each call
// given 500 ms, given up 500 ms before it can expire.
func shortLease() *witness.Config {
	return &witness.Config{TTL: 2 * time.Second, Interval: 250 * time.Millisecond,
		Timeout: 500 * time.Millisecond, Margin: 500 * time.Millisecond}
}

type unit struct {
	id    uint16
	w     *witness.Driver
	relay *relay
}

func newUnit(t *testing.T, srv *server, id uint16, cfg *witness.Config) *unit {
	t.Helper()
	r := newRelay(t, srv)
	w, err := etcd.New(newClient(t, r), key, id, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	return &unit{id: id, w: w, relay: r}
}

// eventually polls cond every 10 ms for up to within.
func eventually(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two units contend with etcd reachable by both: exactly one holds the
// lease, the other says who does; handing over gives the other a larger
// token at once.
func TestContention(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	units := []*unit{newUnit(t, srv, 1, nil), newUnit(t, srv, 2, nil)}
	var wg sync.WaitGroup
	for _, u := range units {
		wg.Go(func() {
			_, err := u.w.Acquire(context.Background())
			require.NoError(t, err)
		})
	}
	wg.Wait()

	holder, other := units[0], units[1]
	if !holder.w.Status().Held {
		holder, other = other, holder
	}
	hs, os := holder.w.Status(), other.w.Status()
	require.True(t, hs.Held, hs.Reason)
	require.False(t, os.Held, os.Reason)
	require.True(t, os.Reachable)
	require.Equal(t, holder.id, os.Holder)
	require.Equal(t, fmt.Sprintf("lease held by unit %d (token %d)", holder.id, hs.Token), os.Reason)
	require.Equal(t, fmt.Sprintf("holding the lease (token %d)", hs.Token), hs.Reason)

	// What etcd holds: the unit's ID, created at the token's revision.
	c := newClient(t, newRelay(t, srv))
	resp, err := c.Get(context.Background(), key)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, strconv.Itoa(int(holder.id)), string(resp.Kvs[0].Value))
	require.Equal(t, int64(hs.Token), resp.Kvs[0].CreateRevision)

	// Beyond the TTL: the renewals keep it where it is. Sampling the
	// contender first makes the check exact however slow the machine.
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		require.False(t, other.w.Status().Held)
		require.True(t, holder.w.Status().Held, holder.w.Status().Reason)
	}
	require.Zero(t, holder.w.Counters().Lost+holder.w.Counters().Expired)

	// Hand over: the contender, watching the key, takes it at once.
	released := time.Now()
	require.NoError(t, holder.w.Release(context.Background()))
	eventually(t, 2*time.Second, func() bool { return other.w.Status().Held }, "the other unit takes the released lease")
	t.Logf("taken %v after the release", time.Since(released))
	t2 := other.w.Status().Token
	require.Greater(t, t2, hs.Token)

	// And back: every holder's token is larger than every earlier one's.
	_, err = holder.w.Acquire(context.Background())
	require.NoError(t, err)
	require.NoError(t, other.w.Close())
	eventually(t, 2*time.Second, func() bool { return holder.w.Status().Held }, "the first unit takes it back")
	require.Greater(t, holder.w.Status().Token, t2)
}

// etcd stops under the holder: the status says unreachable at once, Held
// stays true until Until (the start of the last confirmed renewal + TTL −
// Margin, so no later than the stop + TTL − Margin) and turns false then;
// when etcd is back the lease is taken again with a new, larger token.
func TestEtcdDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cfg := shortLease()
	a := newUnit(t, srv, 1, cfg)
	s, err := a.w.Acquire(context.Background())
	require.NoError(t, err)
	require.True(t, s.Held)
	first := s.Token
	time.Sleep(600 * time.Millisecond)

	stopped := time.Now()
	srv.stop()
	var until time.Time
	heldUnreachable := false
	for {
		s := a.w.Status()
		if !s.Held {
			require.Contains(t, s.Reason, fmt.Sprintf("lease given up (token %d)", first))
			break
		}
		until = s.Until
		heldUnreachable = heldUnreachable || !s.Reachable
		require.Less(t, time.Since(stopped), 5*time.Second, "still held")
		time.Sleep(10 * time.Millisecond)
	}
	require.True(t, heldUnreachable, "the status said unreachable while the lease was still held")
	require.False(t, until.After(stopped.Add(cfg.TTL-cfg.Margin)), "no renewal confirmed after the stop: until %v after it", until.Sub(stopped))
	require.True(t, until.After(stopped), "held for the rest of the lease, not dropped at the first failed call")
	require.False(t, a.w.Status().Reachable)
	require.Equal(t, uint64(1), a.w.Counters().Expired)
	t.Logf("held %v into the outage", until.Sub(stopped))

	time.Sleep(time.Second)
	require.False(t, a.w.Status().Held)
	srv.start()
	eventually(t, 15*time.Second, func() bool { return a.w.Status().Held }, "the lease taken again after the restart")
	s = a.w.Status()
	require.True(t, s.Reachable)
	require.Greater(t, s.Token, first, "a new tenure, a larger token")
}

// The holder's connection to etcd freezes while the other unit's works:
// the holder gives the lease up at its Until, the other takes it no
// earlier than Until + Margin, with a larger token; when the holder's
// connection thaws it sees who holds the lease now.
func TestStaleHolder(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cfg := shortLease()
	a, b := newUnit(t, srv, 1, cfg), newUnit(t, srv, 2, cfg)
	_, err := a.w.Acquire(context.Background())
	require.NoError(t, err)
	_, err = b.w.Acquire(context.Background())
	require.NoError(t, err)
	require.True(t, a.w.Status().Held)
	require.Equal(t, uint16(1), b.w.Status().Holder)
	time.Sleep(600 * time.Millisecond)

	frozen := time.Now()
	a.relay.freeze()
	var until time.Time
	for {
		// B first: if B holds at t1 and A at t2 > t1, both held at t2.
		bs, as := b.w.Status(), a.w.Status()
		require.False(t, bs.Held && as.Held, "both hold: %q, %q", as.Reason, bs.Reason)
		if as.Held {
			until = as.Until
		}
		if bs.Held {
			break
		}
		require.Less(t, time.Since(frozen), 10*time.Second, "B never took over: %q", bs.Reason)
		time.Sleep(10 * time.Millisecond)
	}
	bs, as := b.w.Status(), a.w.Status()
	require.False(t, as.Held)
	require.False(t, as.Reachable)
	require.Contains(t, as.Reason, "lease given up")
	require.False(t, until.After(frozen.Add(cfg.TTL-cfg.Margin)))
	require.False(t, bs.Since.Before(until.Add(cfg.Margin)), "B took over %v after A's bound", bs.Since.Sub(until))
	require.Greater(t, bs.Token, as.Token, "the stale holder's token is the older one")
	t.Logf("A held %v after the freeze; B took over %v after A gave up", until.Sub(frozen), bs.Since.Sub(until))

	a.relay.thaw()
	eventually(t, 10*time.Second, func() bool {
		s := a.w.Status()
		return s.Reachable && s.Holder == 2
	}, "A sees B hold the lease")
	as = a.w.Status()
	require.False(t, as.Held)
	require.Equal(t, fmt.Sprintf("lease held by unit 2 (token %d)", bs.Token), as.Reason)
	require.True(t, b.w.Status().Held)
}

// A key written by something that is not a unit is waited out, and said so.
func TestForeignHolder(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, newRelay(t, srv))
	ctx := context.Background()
	resp, err := c.Put(ctx, key, "backup-job")
	require.NoError(t, err)
	a := newUnit(t, srv, 1, nil)
	s, err := a.w.Acquire(ctx)
	require.NoError(t, err)
	require.False(t, s.Held)
	require.Zero(t, s.Holder)
	require.Equal(t, fmt.Sprintf(`lease held by "backup-job", not a unit of this cluster (token %d)`, resp.Header.Revision), s.Reason)
	_, err = c.Delete(ctx, key)
	require.NoError(t, err)
	eventually(t, 2*time.Second, func() bool { return a.w.Status().Held }, "taken once the key is deleted")
}

func TestNewStore(t *testing.T) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}})
	require.NoError(t, err)
	defer c.Close()
	for _, tc := range []struct {
		c    *clientv3.Client
		key  string
		unit uint16
	}{{nil, key, 1}, {c, "", 1}, {c, key, 0}} {
		_, err := etcd.NewStore(tc.c, tc.key, tc.unit)
		require.ErrorIs(t, err, hakit.ErrConfig)
	}
	_, err = etcd.New(c, key, 1, &witness.Config{TTL: time.Second})
	require.ErrorIs(t, err, hakit.ErrConfig)
}
