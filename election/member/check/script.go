package check

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"time"
)

// Script returns a probe that runs the program name with args and passes
// when it exits with status 0. Its error is the exit status with the first
// line of what the program wrote to its standard error, if any ("exit
// status 1: haproxy not answering"). When ctx ends the program (on Linux
// its whole process group) is killed. The program gets no standard input;
// its standard output is discarded.
func Script(name string, args ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, name, args...)
		var stderr limited
		cmd.Stderr = &stderr
		cmd.WaitDelay = time.Second // a child left holding stderr does not hold up the check
		killGroup(cmd)
		err := cmd.Run()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return err // not started: not found, not executable
		}
		msg := ee.String()
		if line, _, _ := strings.Cut(strings.TrimSpace(stderr.b.String()), "\n"); line != "" {
			msg += ": " + line
		}
		return errors.New(msg)
	}
}

// limited keeps the first 512 bytes written to it.
type limited struct{ b bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := 512 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
