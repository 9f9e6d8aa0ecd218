package cliconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFileName serializes config writers in one directory.
const LockFileName = "config.json.lock"

// Update applies change to the config as it is on disk now, under an
// exclusive lock on the directory's lock file, and saves it. Commands read
// the config, talk to a broker (or wait at a prompt) and then record what
// happened through Update, so two CLI runs at once cannot drop each other's
// meshes and keys by saving a stale copy.
func Update(dir string, change func(f *File) error) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, LockFileName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("locking the config in %s: %w", dir, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking the config in %s: %w", dir, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	f, err := Load(dir)
	if err != nil {
		return err
	}
	if err := change(f); err != nil {
		return err
	}
	return f.Save()
}
