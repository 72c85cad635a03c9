package conntrack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	ct "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// dumpSessions returns the kernel's table of h as sessions.
func dumpSessions(t *testing.T, h *testbed.Host) map[statesync.Key]statesync.Session {
	t.Helper()
	var flows []ct.Flow
	require.NoError(t, h.Do(func() error {
		c, err := ct.Dial(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		flows, err = c.Dump(nil)
		return err
	}))
	out := make(map[statesync.Key]statesync.Session)
	for _, f := range flows {
		s, err := FlowToSession(f, time.Now())
		if err == nil {
			out[s.Key] = s
		}
	}
	return out
}

func dialInjector(t *testing.T, h *testbed.Host) *Injector {
	t.Helper()
	var in *Injector
	require.NoError(t, h.Do(func() error {
		var err error
		in, err = DialInjector(&Config{Guard: &Guard{KeepMarks: true}})
		return err
	}))
	t.Cleanup(func() { in.Close() })
	return in
}

// TestInjectKernel needs root: it injects sessions into a namespace's
// conntrack table and reads them back.
func TestInjectKernel(t *testing.T) {
	bed := testbed.New(t)
	h := bed.Host("fw")
	in := dialInjector(t, h)

	now := time.Now()
	exp := statesync.Deadline(now.Add(time.Hour))
	sessions := []statesync.Session{
		{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")},
			State: statesync.TCPStateEstablished, Status: uint32(ct.StatusConfirmed | ct.StatusAssured | ct.StatusSeenReply),
			Expires: exp, Mark: 0x42},
		{Key: statesync.Key{Zone: 5, Proto: 6, Src: ap("198.18.1.2:40001"), Dst: ap("198.18.2.2:80")},
			State: statesync.TCPStateFinWait, Status: uint32(ct.StatusSeenReply), Expires: exp},
		{Key: statesync.Key{Proto: 17, Src: ap("[2001:db8::1]:5000"), Dst: ap("[2001:db8::2]:53")}, Expires: exp},
		{Key: statesync.Key{Proto: 1, Src: ap("198.18.1.2:4660"), Dst: ap("198.18.2.2:2048")}, Expires: exp},
		{Key: statesync.Key{Proto: 132, Src: ap("198.18.1.2:5000"), Dst: ap("198.18.2.2:3868")}, State: 3, Expires: exp},
		// Source NAT: the reply goes to the firewall's address.
		{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40002"), Dst: ap("198.18.2.2:80")},
			ReplySrc: ap("198.18.2.2:80"), ReplyDst: ap("198.18.2.1:61000"),
			State: statesync.TCPStateEstablished, Status: uint32(ct.StatusSrcNAT | ct.StatusAssured | ct.StatusSeenReply), Expires: exp},
		// Destination NAT: a virtual address forwarded to a real server.
		{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40004"), Dst: ap("198.18.2.100:80")},
			ReplySrc: ap("198.18.2.3:8080"), ReplyDst: ap("198.18.1.2:40004"),
			State: statesync.TCPStateEstablished, Status: uint32(ct.StatusDstNAT | ct.StatusAssured | ct.StatusSeenReply), Expires: exp},
		// An FTP control connection with its helper and an adjustment.
		{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40005"), Dst: ap("198.18.2.2:21")},
			State: statesync.TCPStateEstablished, Status: uint32(ct.StatusAssured | ct.StatusSeenReply), Expires: exp,
			Helper: "ftp", SeqAdj: [2]statesync.SeqAdj{{CorrectionPos: 12345, Before: 0, After: 3}}},
		// Its deadline passed (a busy flow's last event is old): written
		// with the grace period.
		{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40003"), Dst: ap("198.18.2.2:80")},
			State: statesync.TCPStateEstablished, Expires: 1},
		// Counted and skipped.
		{Key: statesync.Key{Proto: 47, Src: ap("198.18.1.2:0"), Dst: ap("198.18.2.2:0")}, Expires: exp},
	}
	n, err := in.Inject(now, sessions...)
	require.NoError(t, err)
	require.Equal(t, 9, n)
	require.Equal(t, InjectorStats{Injected: 9, InjectedNAT: 2, Revived: 1, Skipped: 1, Batches: 1}, in.Stats())

	got := dumpSessions(t, h)
	require.Len(t, got, 9)
	revived := got[sessions[8].Key]
	require.InDelta(t, float64(now.Add(30*time.Second).Unix()), float64(revived.Expires), 3, "the grace period")
	for _, want := range sessions[:8] {
		s, ok := got[want.Key]
		require.True(t, ok, "%v missing", want.Key)
		require.Equal(t, want.State, s.State, "%v", want.Key)
		require.Equal(t, want.Mark, s.Mark)
		require.Equal(t, want.ReplySrc, s.ReplySrc)
		require.Equal(t, want.ReplyDst, s.ReplyDst)
		require.Equal(t, want.Helper, s.Helper, "%v", want.Key)
		require.Equal(t, want.SeqAdj, s.SeqAdj, "%v", want.Key)
		require.InDelta(t, float64(want.Expires+30), float64(s.Expires), 5, "time left and grace")
		require.Equal(t, want.Status&uint32(creatable), s.Status&uint32(creatable))
		// The kernel holds the NAT bindings: the NAT bit of the
		// translation and both done bits (the other manip has a null
		// binding) are set.
		nat := want.Status & uint32(ct.StatusNATMask)
		require.Equal(t, nat, s.Status&uint32(ct.StatusNATMask), "%v status %#x", want.Key, s.Status)
		if nat != 0 {
			require.Equal(t, uint32(ct.StatusNATDoneMask), s.Status&uint32(ct.StatusNATDoneMask), "%v status %#x", want.Key, s.Status)
		}
	}

	// Injecting again updates: a later deadline and a new state.
	sessions[0].Expires = statesync.Deadline(now.Add(2 * time.Hour))
	sessions[0].State = statesync.TCPStateCloseWait
	sessions[1].Status = 0                        // cannot clear SEEN_REPLY: retried without status
	sessions[5].ReplyDst = ap("198.18.2.1:61001") // the bindings of an entry cannot change
	n, err = in.Inject(now, sessions[0], sessions[1], sessions[5])
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, uint64(2), in.Stats().Updated, "two updated in place, one rewritten whole")
	got = dumpSessions(t, h)
	require.Equal(t, statesync.TCPStateCloseWait, got[sessions[0].Key].State)
	require.InDelta(t, float64(sessions[0].Expires+30), float64(got[sessions[0].Key].Expires), 5)
	require.Equal(t, ap("198.18.2.1:61000"), got[sessions[5].Key].ReplyDst, "the kernel keeps the entry's bindings")

	// Delete, twice (the second is a no-op).
	require.NoError(t, in.Delete(sessions[0]))
	require.NoError(t, in.Delete(sessions[0]))
	require.Equal(t, uint64(1), in.Stats().Deleted)
	require.NotContains(t, dumpSessions(t, h), sessions[0].Key)

	// Commit injects a whole table.
	table := statesync.NewTable(0)
	for i := range 100 {
		table.Upsert(statesync.Session{
			Key:     statesync.Key{Proto: 17, Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.3.1"), uint16(10000+i)), Dst: ap("198.18.2.2:53")},
			Expires: exp,
		})
	}
	n, err = in.Commit(now, table)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	require.Len(t, dumpSessions(t, h), 108)

	// An operator flushed the kernel's table: Resync writes it again.
	_, err = h.Run("conntrack", "-F")
	require.NoError(t, err)
	require.Empty(t, dumpSessions(t, h))
	n, err = in.Resync(now, table)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	require.Len(t, dumpSessions(t, h), 100)
}

// TestFollowRefused needs root: a warm standby whose kernel refuses a
// session while following (here: a helper the kernel does not have; in
// production a full hash chain, ENOSPC) writes that session again at
// commit, and only it: not the whole table.
func TestFollowRefused(t *testing.T) {
	bed := testbed.New(t)
	h := bed.Host("fw")
	in := dialInjector(t, h)
	now := time.Now()
	exp := statesync.Deadline(now.Add(time.Hour))
	table := statesync.NewTable(0)
	for i := range 100 {
		table.Upsert(statesync.Session{
			Key:     statesync.Key{Proto: 17, Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.3.1"), uint16(10000+i)), Dst: ap("198.18.2.2:53")},
			Expires: exp,
		})
	}
	bad := statesync.Session{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:21")},
		State: statesync.TCPStateEstablished, Expires: exp, Helper: "no-such-helper"}
	table.Upsert(bad)
	following := make(chan error, 1)
	go func() { following <- in.Follow(context.Background(), table) }()
	require.Eventually(t, func() bool { st := in.Stats(); return st.Followed == 100 && st.Failed == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Len(t, dumpSessions(t, h), 100)
	require.Equal(t, uint64(1), in.Stats().Failed)

	n, err := in.Commit(now, table)
	require.Error(t, err, "refused again")
	require.Contains(t, err.Error(), "1 of 1 sessions not injected")
	require.Zero(t, n)
	require.NoError(t, <-following)
	st := in.Stats()
	require.Equal(t, uint64(100), st.Injected, "the table was not written again")
	require.Equal(t, uint64(2), st.Failed, "the refused session, twice")
	require.Len(t, dumpSessions(t, h), 100)
}

// TestFollowChanges needs root: a unit demoted from primary has the
// table in its kernel already; FollowChanges writes only what changes.
func TestFollowChanges(t *testing.T) {
	bed := testbed.New(t)
	h := bed.Host("fw")
	in := dialInjector(t, h)
	now := time.Now()
	exp := statesync.Deadline(now.Add(time.Hour))
	table := statesync.NewTable(0)
	var sessions []statesync.Session
	for i := range 100 {
		sessions = append(sessions, table.Upsert(statesync.Session{
			Key:     statesync.Key{Proto: 17, Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.3.1"), uint16(10000+i)), Dst: ap("198.18.2.2:53")},
			Expires: exp,
		}))
	}
	_, err := in.Inject(now, sessions...)
	require.NoError(t, err)
	base := in.Stats()
	ctx, cancel := context.WithCancel(context.Background())
	following := make(chan error, 1)
	go func() { following <- in.FollowChanges(ctx, table) }()
	require.Eventually(t, func() bool { return in.warmTable() == table }, 5*time.Second, time.Millisecond)

	table.Delete(sessions[0].Key)
	s := sessions[1]
	s.Mark = 7
	table.Upsert(s)
	require.Eventually(t, func() bool { st := in.Stats(); return st.Followed-base.Followed == 1 && st.Deleted == 1 }, 5*time.Second, 5*time.Millisecond)
	got := dumpSessions(t, h)
	require.Len(t, got, 99)
	require.Equal(t, uint32(7), got[s.Key].Mark)
	require.Equal(t, base.Injected+1, in.Stats().Injected, "the unchanged sessions were not written again")
	cancel()
	require.ErrorIs(t, <-following, context.Canceled)
}

// TestFollowKernel needs root: a Follower dumps the entries that predate
// it, then follows NEW, UPDATE and DESTROY events of real traffic.
func TestFollowKernel(t *testing.T) {
	bed := testbed.New(t)
	h := bed.Host("fw")
	h.Sysctl("net.netfilter.nf_conntrack_events", "1") // see DialFollower
	// Tracking in a namespace starts when a rule uses conntrack.
	_, err := h.Run("nft", "add table inet t; add chain inet t out { type filter hook output priority 0; ct state new counter; }")
	require.NoError(t, err)

	in := dialInjector(t, h)
	old := statesync.Session{Key: statesync.Key{Proto: 17, Src: ap("198.18.1.2:5000"), Dst: ap("198.18.2.2:53")},
		Expires: statesync.Deadline(time.Now().Add(time.Hour))}
	_, err = in.Inject(time.Now(), old)
	require.NoError(t, err)

	table := statesync.NewTable(0)
	changes := make(chan statesync.Session, 1024)
	deleted := make(chan statesync.Key, 1024)
	var f *Follower
	require.NoError(t, h.Do(func() error {
		var err error
		f, err = DialFollower(table, &Config{OnChange: func(s statesync.Session, del bool) {
			if del {
				deleted <- s.Key
				return
			}
			changes <- s
		}})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})

	waitFor := func(what string, pred func(statesync.Session) bool) statesync.Session {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case s := <-changes:
				if pred(s) {
					return s
				}
			case err := <-done:
				t.Fatalf("Run returned %v", err)
			case <-timeout:
				t.Fatalf("no change: %s", what)
			}
		}
	}
	waitFor("dumped", func(s statesync.Session) bool { return s.Key == old.Key })

	// A TCP connection on the loopback: NEW, then established.
	var ln net.Listener
	var c net.Conn
	require.NoError(t, h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		c, err = net.Dial("tcp4", ln.Addr().String())
		return err
	}))
	defer ln.Close()
	sc, err := ln.Accept()
	require.NoError(t, err)
	defer sc.Close()
	dst := netip.MustParseAddrPort(ln.Addr().String())
	src := netip.MustParseAddrPort(c.LocalAddr().String())
	key := statesync.Key{Proto: 6, Src: src, Dst: dst}
	s := waitFor("established", func(s statesync.Session) bool {
		return s.Key == key && s.State == statesync.TCPStateEstablished
	})
	require.NotZero(t, s.Expires)
	require.Greater(t, s.Version, uint64(1))

	// A DESTROY event removes the session.
	require.NoError(t, in.Delete(old))
	select {
	case k := <-deleted:
		require.Equal(t, old.Key, k)
	case <-time.After(10 * time.Second):
		t.Fatalf("no destroy: %+v, kernel: %v", f.Stats(), dumpSessions(t, h))
	}
	_, ok := table.Get(old.Key)
	require.False(t, ok)
	// A session the kernel does not have, about to expire: the refresh
	// finds it gone (its DESTROY event was lost, say).
	ghost := statesync.Session{Key: statesync.Key{Proto: 17, Src: ap("198.18.1.3:7"), Dst: ap("198.18.2.3:7")},
		Expires: statesync.Deadline(time.Now().Add(time.Second))}
	table.Upsert(ghost)
	require.Eventually(t, func() bool { _, ok := table.Get(ghost.Key); return !ok }, 10*time.Second, 10*time.Millisecond,
		"the refresh removes a session the kernel does not have: %+v", f.Stats())
	require.Equal(t, uint64(1), f.Stats().Vanished)

	// One that does not expire soon stays until a Resync.
	ghost.Expires = statesync.Deadline(time.Now().Add(time.Hour))
	table.Upsert(ghost)
	require.NoError(t, f.Resync(context.Background()))
	_, ok = table.Get(ghost.Key)
	require.False(t, ok, "Resync reconciles the table with the kernel")
	require.Equal(t, uint64(1), f.Stats().Stale)
	require.Equal(t, uint64(2), f.Stats().Dumps)
	_, ok = table.Get(key)
	require.True(t, ok, "the live connection stays")

	c.Close()
	st := f.Stats()
	require.GreaterOrEqual(t, st.Dumped, uint64(1))
	require.GreaterOrEqual(t, st.New, uint64(1))
	require.GreaterOrEqual(t, st.Updates, uint64(1))
	require.GreaterOrEqual(t, st.Destroys, uint64(1))
	require.False(t, errors.Is(ctx.Err(), context.Canceled))
}

// TestFollowOverrun needs root: a Follower whose reader falls behind (a
// slow OnChange, a 4 KiB socket buffer) under a burst of 5000 new flows
// sees the kernel drop events: Run returns an error wrapping ENOBUFS and
// counts the overrun. A new Follower on the same table repairs it from its
// dump, which is what a caller (examples/hanode) does.
func TestFollowOverrun(t *testing.T) {
	bed := testbed.New(t)
	h := bed.Host("fw")
	h.Sysctl("net.netfilter.nf_conntrack_events", "1")
	_, err := h.Run("nft", "add table inet t; add chain inet t out { type filter hook output priority 0; ct state new counter; }")
	require.NoError(t, err)
	in := dialInjector(t, h)
	seed := statesync.Session{Key: statesync.Key{Proto: 17, Src: ap("198.18.1.2:5000"), Dst: ap("198.18.2.2:53")},
		Expires: statesync.Deadline(time.Now().Add(time.Hour))}
	_, err = in.Inject(time.Now(), seed) // so that the dump shows when it is done
	require.NoError(t, err)

	table := statesync.NewTable(0)
	var f *Follower
	require.NoError(t, h.Do(func() error {
		var err error
		f, err = DialFollower(table, &Config{ReadBuffer: 4096, OnChange: func(statesync.Session, bool) {
			time.Sleep(time.Millisecond)
		}})
		return err
	}))
	done := make(chan error, 1)
	go func() { done <- f.Run(context.Background()) }()
	require.Eventually(t, func() bool { return f.Stats().Dumped > 0 || len(done) > 0 }, 10*time.Second, time.Millisecond,
		"the dump is done: the events come next")

	const n = 5000
	exp := statesync.Deadline(time.Now().Add(time.Hour))
	burst := make([]statesync.Session, 0, n)
	for i := range n {
		burst = append(burst, statesync.Session{Key: statesync.Key{Proto: 17,
			Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.1.2"), uint16(10000+i)), Dst: ap("198.18.2.2:53")}, Expires: exp})
	}
	got, err := in.Inject(time.Now(), burst...)
	require.NoError(t, err)
	require.Equal(t, n, got)
	select {
	case err := <-done:
		require.ErrorIs(t, err, unix.ENOBUFS)
	case <-time.After(30 * time.Second):
		t.Fatalf("no overrun: %+v", f.Stats())
	}
	require.Equal(t, uint64(1), f.Stats().Overruns)
	require.Less(t, table.Len(), n, "events were lost")

	var again *Follower
	require.NoError(t, h.Do(func() error {
		var err error
		again, err = DialFollower(table, nil)
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- again.Run(ctx) }()
	require.Eventually(t, func() bool { return table.Len() >= n }, 10*time.Second, 10*time.Millisecond,
		"the new follower's dump repairs the table: %d of %d", table.Len(), n)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}
