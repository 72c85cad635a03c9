package main

import (
	"os"
	"os/exec"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// crashEnv makes the test binary a process that sets its crash output to
// fd 3 and then ends as its value says.
const crashEnv = "HANODE_TEST_CRASH"

// TestCrashReport runs a process that panics in a goroutine, one that
// exits cleanly and one that is killed, each with its crash output on a
// pipe as the daemon has it for its watchdog: only the panic leaves a
// report, whose first line is the panic's.
func TestCrashReport(t *testing.T) {
	if how := os.Getenv(crashEnv); how != "" {
		crashNow(how)
		return
	}
	for _, tc := range []struct{ how, want string }{
		{"panic", "panic: a bug in some goroutine"},
		{"exit", ""},
		{"kill", ""},
	} {
		t.Run(tc.how, func(t *testing.T) {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			defer r.Close()
			cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashReport$")
			cmd.Env = append(os.Environ(), crashEnv+"="+tc.how)
			cmd.ExtraFiles = []*os.File{w}
			require.NoError(t, cmd.Start())
			w.Close()
			if tc.how == "kill" {
				time.Sleep(100 * time.Millisecond)
				require.NoError(t, cmd.Process.Kill())
			}
			got := crashReport(r)
			cmd.Wait()
			require.Equal(t, tc.want, got)
		})
	}
}

func crashNow(how string) {
	if err := debug.SetCrashOutput(os.NewFile(3, "crash"), debug.CrashOptions{}); err != nil {
		os.Exit(3)
	}
	switch how {
	case "panic":
		go func() { panic("a bug in some goroutine") }()
		time.Sleep(10 * time.Second)
	case "exit":
		os.Exit(0)
	case "kill":
		time.Sleep(10 * time.Second)
	}
}
