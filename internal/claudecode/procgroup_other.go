//go:build !unix

package claudecode

import "os/exec"

// killGroupOnCancel: without process groups, only cmd itself is killed.
func killGroupOnCancel(*exec.Cmd) {}
