//go:build unix

package claudecode

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel starts cmd in its own process group and, when its
// context ends, kills the group rather than only cmd.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
