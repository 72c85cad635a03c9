package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/hbelect"
	"github.com/hakit/hakit/heartbeat"
)

// TestReportLosesPeerOnlyWhenSilentEverywhere: the daemon declares a peer
// lost to the election only when every heartbeat interface has a verdict
// about it, and a heartbeat that comes back makes it losable again.
func TestReportLosesPeerOnlyWhenSilentEverywhere(t *testing.T) {
	d := &daemon{cfg: &config{Ifaces: []string{"eth1", "eth2"}}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var err error
	d.tracker, err = hbelect.New(&hbelect.Config{Interfaces: d.cfg.Ifaces})
	require.NoError(t, err)
	d.elect, err = election.NewDriver(&election.Config{Unit: 1}, func(election.Output) {})
	require.NoError(t, err)
	t.Cleanup(d.elect.Close)
	peer, err := election.New(time.Now(), &election.Config{Unit: 2})
	require.NoError(t, err)
	observe := func() {
		b, err := peer.Candidate(time.Now()).MarshalBinary()
		require.NoError(t, err)
		require.NoError(t, d.elect.ObserveBinary(b))
	}
	lost := func() uint64 { return d.elect.Counters().PeersLost }
	observe()

	steps := []struct {
		iface string
		state heartbeat.State
		lost  uint64
	}{
		{"eth1", heartbeat.Suspect, 0},
		{"eth1", heartbeat.PeerFault, 0}, // still heard on eth2
		{"eth2", heartbeat.Suspect, 0},
		{"eth2", heartbeat.LocalFault, 1}, // a verdict everywhere: lost
		{"eth2", heartbeat.LocalFault, 1}, // once
		{"eth1", heartbeat.Alive, 1},
		{"eth1", heartbeat.PeerDown, 2}, // lost again (after it was heard): down is about the whole peer
	}
	for i, s := range steps {
		if s.state == heartbeat.Alive {
			observe()
		}
		d.report(heartbeat.Report{Peer: 2, Interface: s.iface, State: s.state})
		require.Equal(t, s.lost, lost(), "step %d: %s %v", i, s.iface, s.state)
	}
}

// fakeRunner stands for a conntrack Follower: its Run returns err at once,
// or, with a nil err, blocks until ctx is done.
type fakeRunner struct {
	err    error
	closed bool
}

func (f *fakeRunner) Run(ctx context.Context) error {
	if f.err != nil {
		return f.err
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeRunner) Close() error { f.closed = true; return nil }

// TestFollowRedials: a follower that stops (the kernel dropped events) is
// replaced by a newly dialled one, also when a dial fails, and the
// restarts are counted; cancelling ends the loop.
func TestFollowRedials(t *testing.T) {
	d := &daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	overrun := fmt.Errorf("conntrack: events lost: %w", syscall.ENOBUFS)
	first := &fakeRunner{err: overrun}
	var mu sync.Mutex
	var dialled []*fakeRunner
	healthy := make(chan struct{})
	dial := func() (runner, error) {
		mu.Lock()
		defer mu.Unlock()
		switch len(dialled) {
		case 0: // the next one fails at once too
			dialled = append(dialled, &fakeRunner{err: overrun})
			return dialled[0], nil
		case 1: // dialling fails
			dialled = append(dialled, nil)
			return nil, errors.New("netlink: no buffer space")
		default:
			f := &fakeRunner{}
			dialled = append(dialled, f)
			close(healthy)
			return f, nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.follow(ctx, first, dial) }()
	select {
	case <-healthy:
	case <-time.After(5 * time.Second):
		t.Fatal("no healthy follower dialled")
	}
	require.Equal(t, uint64(3), d.followerRestarts.Load())
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	mu.Lock()
	defer mu.Unlock()
	require.True(t, first.closed)
	require.True(t, dialled[0].closed)
	require.True(t, dialled[2].closed)
}

// TestJoinNeighbours: every source's list in order, without duplicates,
// with the errors joined.
func TestJoinNeighbours(t *testing.T) {
	a, b, c := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.3")
	bad := errors.New("netlink down")
	j := joinNeighbours{
		staticSource{addrs: []netip.Addr{a, b}},
		staticSource{addrs: []netip.Addr{b, c}, err: bad},
	}
	got, err := j.Neighbours("eth0")
	require.Equal(t, []netip.Addr{a, b, c}, got)
	require.ErrorIs(t, err, bad)
}

type staticSource struct {
	addrs []netip.Addr
	err   error
}

func (s staticSource) Neighbours(string) ([]netip.Addr, error) { return s.addrs, s.err }

var _ heartbeat.NeighbourSource = staticSource{}
