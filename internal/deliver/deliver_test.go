package deliver

import (
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
)

func TestQueueInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []int
		q := New(func(v int) {
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
		q = New(func(v int) {
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
