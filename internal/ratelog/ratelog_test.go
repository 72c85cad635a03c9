package ratelog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/ratelog"
)

func TestLimiter(t *testing.T) {
	l := ratelog.New(10*time.Second, 2)
	t0 := time.Unix(1000, 0)
	type r struct {
		ok   bool
		held uint64
	}
	allow := func(d time.Duration, key string) r {
		ok, held := l.Allow(t0.Add(d), key)
		return r{ok, held}
	}
	require.Equal(t, r{true, 0}, allow(0, "eth0 auth"))
	require.Equal(t, r{false, 0}, allow(time.Second, "eth0 auth"))
	require.Equal(t, r{false, 0}, allow(9*time.Second, "eth0 auth"))
	require.Equal(t, r{true, 0}, allow(9*time.Second, "eth1 auth"), "keys are apart")
	require.Equal(t, r{true, 2}, allow(10*time.Second, "eth0 auth"))
	require.Equal(t, r{true, 0}, allow(25*time.Second, "eth0 auth"))
	// A third key makes it forget the others.
	require.Equal(t, r{true, 0}, allow(26*time.Second, "eth2 auth"))
	require.Equal(t, r{true, 0}, allow(26*time.Second, "eth0 auth"))
}

func ExampleLimiter() {
	l := ratelog.New(10*time.Second, 64)
	start := time.Unix(0, 0)
	for i := range 25 { // a bad frame every second
		now := start.Add(time.Duration(i) * time.Second)
		if ok, held := l.Allow(now, "eth0"); ok {
			fmt.Printf("%v: frame dropped on eth0 (%d more since the last line)\n", now.Sub(start), held)
		}
	}
	// Output:
	// 0s: frame dropped on eth0 (0 more since the last line)
	// 10s: frame dropped on eth0 (9 more since the last line)
	// 20s: frame dropped on eth0 (9 more since the last line)
}
