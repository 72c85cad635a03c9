//go:build unix

package notify

import (
	"os/exec"
	"syscall"
)

// killGroup runs cmd in a process group of its own and makes the timeout
// kill the whole group: a shell's children (sleep, curl) die with it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
