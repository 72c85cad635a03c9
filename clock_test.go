package hakit_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func TestRealClockInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := hakit.RealClock()
		start := c.Now()
		done := make(chan time.Duration, 1)
		c.AfterFunc(800*time.Millisecond, func() { done <- time.Since(start) })
		require.Equal(t, 800*time.Millisecond, <-done)
		stop := c.AfterFunc(time.Second, func() { t.Error("stopped call ran") })
		require.True(t, stop())
		time.Sleep(2 * time.Second)
	})
}
