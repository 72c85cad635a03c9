//go:build !unix

package notify

import "os/exec"

// killGroup leaves cmd as it is: the timeout kills the command itself
// (os/exec's default), not the processes it started.
func killGroup(*exec.Cmd) {}
