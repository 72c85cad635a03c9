package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRun plays the first cluster: the standby takes over with every
// session. It runs on the real clock over loopback UDP (a few seconds).
func TestRun(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, run(&buf, 1000), buf.String())
	out := buf.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"unit1   primary", "unit2   secondary", "1000 sessions inserted", "holds the 1000 sessions",
		"announce: [198.18.0.1] is here now", "killed: closed without a handover",
		"unit2   primary", "takeover complete", "with 1000 of 1000 sessions",
	} {
		require.Contains(t, out, want)
	}
}
