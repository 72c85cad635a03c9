package check

import "context"

// Process returns a probe that passes while a process named name runs: its
// command name (as ps shows it, at most 15 characters on Linux) or the
// base name of its executable's path is name. It is only implemented on
// Linux (it reads /proc); elsewhere every run returns an error that wraps
// errors.ErrUnsupported.
func Process(name string) func(ctx context.Context) error {
	return func(ctx context.Context) error { return findProcess(ctx, name) }
}
