package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSweepDeletesOnlyOrphans(t *testing.T) {
	New(t) // skips unless privileged

	// A process ID that is gone: a command that ran and was reaped.
	done := exec.Command("true")
	require.NoError(t, done.Run())
	dead := done.Process.Pid

	orphan := fmt.Sprintf("%s%d-1-sweeptest", nsPrefix, dead)
	own := fmt.Sprintf("%s%d-%d-sweeptest", nsPrefix, os.Getpid(), seq.Add(1))
	live := fmt.Sprintf("%s%d-1-sweeptest", nsPrefix, 1) // init never dies
	for _, ns := range []string{orphan, own, live} {
		_, err := run("", "ip", "netns", "add", ns)
		require.NoError(t, err)
		t.Cleanup(func() { _ = deleteNamespace(ns) })
	}

	sweep(0)
	exists := func(ns string) bool {
		_, err := os.Stat(netnsDir + "/" + ns)
		return err == nil
	}
	require.False(t, exists(orphan), "the orphan was not swept")
	require.True(t, exists(own), "this process's namespace was swept")
	require.True(t, exists(live), "a live process's namespace was swept")
}
