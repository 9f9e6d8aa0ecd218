//go:build unix

package claudecode

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

const accessWriteOK = 0x2 // W_OK

// checkOwnerWritable refuses a file this user may not write, and, for
// root, a file owned by another user: rewriting it would hand it to root
// (claudemesh does not chown).
func checkOwnerWritable(path string, st fs.FileInfo) error {
	if err := syscall.Access(path, accessWriteOK); err != nil {
		return fmt.Errorf("%s is not writable by you (mode %04o): %w", path, st.Mode().Perm(), err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && int(sys.Uid) != 0 {
		return fmt.Errorf("%s belongs to uid %d and you are running as root: run the command as that user (claudemesh would leave the file owned by root)", path, sys.Uid)
	}
	return nil
}
