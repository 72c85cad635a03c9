package member

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChecksCause: the cause named in a stand-down is the failing check
// that failed last; one that recovered is no longer named.
func TestChecksCause(t *testing.T) {
	k := newChecks(100, []Check{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}})
	t0 := time.Unix(0, 0)
	set := func(name string, failing bool, at time.Time) {
		s := k.find(name)
		s.Failing, s.Since, s.why = failing, at, ""
		if failing {
			s.why = "check " + name + " failed"
		}
	}
	require.Empty(t, k.cause())
	set("a", true, t0)
	set("b", true, t0.Add(time.Second))
	require.Equal(t, "check b failed", k.cause())
	require.Equal(t, uint8(98), k.effective())
	set("b", false, t0.Add(2*time.Second))
	require.Equal(t, "check a failed", k.cause())
	set("a", false, t0.Add(3*time.Second))
	require.Empty(t, k.cause())
}
