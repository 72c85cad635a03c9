package conntrack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/statesync"
)

// fakeRunner stands for a Follower: its Run returns err at once, or, with
// a nil err, blocks until ctx is done.
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

// TestKeeperRedials: a Follower that stops (the kernel dropped events) is
// replaced by a newly dialled one, also when a dial fails, and the
// restarts are counted; Stop ends it all.
func TestKeeperRedials(t *testing.T) {
	synctest.Test(t, testKeeperRedials)
}

func testKeeperRedials(t *testing.T) {
	k := NewKeeper(statesync.NewTable(0), nil)
	overrun := fmt.Errorf("conntrack: events lost: %w", syscall.ENOBUFS)
	var mu sync.Mutex
	var dialled []*fakeRunner
	healthy := make(chan struct{})
	k.dial = func() (runner, error) {
		mu.Lock()
		defer mu.Unlock()
		switch len(dialled) {
		case 0, 1: // the first fails at once, and so does the next
			dialled = append(dialled, &fakeRunner{err: overrun})
			return dialled[len(dialled)-1], nil
		case 2: // dialling fails
			dialled = append(dialled, nil)
			return nil, errors.New("netlink: no buffer space")
		default:
			f := &fakeRunner{}
			dialled = append(dialled, f)
			close(healthy)
			return f, nil
		}
	}
	require.NoError(t, k.Start())
	require.NoError(t, k.Start(), "started already")
	select {
	case <-healthy:
	case <-time.After(5 * time.Second):
		t.Fatal("no healthy follower dialled")
	}
	require.Equal(t, uint64(3), k.Restarts())
	require.NoError(t, k.Stop())
	require.NoError(t, k.Stop(), "stopped already")
	mu.Lock()
	defer mu.Unlock()
	require.True(t, dialled[0].closed)
	require.True(t, dialled[1].closed)
	require.True(t, dialled[3].closed)

	k.dial = func() (runner, error) { return nil, errors.New("no netlink") }
	require.Error(t, k.Start(), "the first dial's error")
}
