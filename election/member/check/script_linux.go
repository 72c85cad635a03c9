package check

import (
	"os/exec"
	"syscall"
)

// killGroup makes the program the leader of a process group of its own,
// killed as a whole when the check's context ends: a shell script's
// children go with it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
