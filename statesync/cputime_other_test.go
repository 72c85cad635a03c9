//go:build !unix

package statesync

import "time"

var cpuStart = time.Now()

// cpuTime falls back to wall-clock time where getrusage is missing.
func cpuTime() time.Duration { return time.Since(cpuStart) }
