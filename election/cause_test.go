package election

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCauseString: every cause has a label of its own, in snake case.
func TestCauseString(t *testing.T) {
	seen := map[string]Cause{}
	for c := Cause(0); c <= CauseCheck; c++ {
		s := c.String()
		require.Regexp(t, `^[a-z]+(_[a-z]+)*$`, s)
		_, dup := seen[s]
		require.False(t, dup, "%d and %d are both %q", seen[s], c, s)
		seen[s] = c
	}
	require.Equal(t, "Cause(200)", Cause(200).String())
}
