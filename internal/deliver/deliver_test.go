package deliver

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/clock"
)

func TestQueueInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []int
		q := New(nil, func(v int) {
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
		})
		for i := range 100 {
			q.Push(i, i+1000)
		}
		synctest.Wait()
		q.Close()
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, got, 200)
		for i := range 100 {
			require.Equal(t, []int{i, i + 1000}, got[2*i:2*i+2])
		}
	})
}

// TestQueueCloseFromCall: the function may push and close; nothing runs
// after Close, and the goroutine ends.
func TestQueueCloseFromCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var q *Queue[int]
		var calls []int
		q = New(nil, func(v int) {
			calls = append(calls, v)
			q.Push(v + 1) // from the callback: queued, after this call
			if v == 3 {
				q.Close()
			}
		})
		q.Push(1)
		synctest.Wait()
		require.Equal(t, []int{1, 2, 3}, calls)
		q.Push(9)
		q.Close()
		synctest.Wait()
		require.Equal(t, []int{1, 2, 3}, calls)
	})
}

// TestQueueOnSimulatedClock: on a simulated clock the calls run in the
// goroutine that advances it, at the instant they were pushed, in order.
func TestQueueOnSimulatedClock(t *testing.T) {
	clk := clock.NewSim(time.Time{})
	var got []int
	var at []time.Time
	q := New(clk, func(v int) { got, at = append(got, v), append(at, clk.Now()) })
	q.Push(1, 2)
	require.Empty(t, got, "not before the clock runs")
	clk.RunFor(time.Second)
	q.Push(3)
	clk.RunFor(0)
	require.Equal(t, []int{1, 2, 3}, got)
	require.Equal(t, []time.Time{clock.Epoch, clock.Epoch, clock.Epoch.Add(time.Second)}, at)
	q.Close()
	q.Push(4)
	clk.RunFor(time.Second)
	require.Equal(t, []int{1, 2, 3}, got)
}
