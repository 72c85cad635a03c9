package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRun plays the cloud pair: one primary through a partition, the
// standby takes the lease and the route when the primary dies, the dead
// primary's late write is refused. Real clock, loopback UDP and an
// embedded etcd: a few seconds.
func TestRun(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, run(&buf), buf.String())
	out := buf.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"unit1   primary", "unit2   secondary", "route 198.18.0.100 -> eni-unit1 (token",
		"unit1   witness: cut off from every peer: staying primary, holding the lease",
		"unit2   witness: kept standby: cut off from every peer, and the lease held by unit 1",
		"after 1s: unit1 primary, unit2 secondary",
		"unit2   primary (primary unit 1 lost", "route 198.18.0.100 -> eni-unit2 (token",
		"refused: token", "done: the route points at unit2",
	} {
		require.Contains(t, out, want)
	}
}
