package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the file a broker serving an SQLite data directory holds
// an exclusive flock on. SQLite allows one broker per data directory: two
// would each think they own every session (there is no NOTIFY between
// them) and hand each other's live mail back to members.
const lockFileName = "broker.lock"

// dataDirLock is the held lock; the kernel drops it when the process dies,
// so a killed broker never leaves a stale lock behind.
type dataDirLock struct{ f *os.File }

// lockDataDir takes the exclusive lock or fails naming the directory.
func lockDataDir(dir string) (*dataDirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			abs, _ := filepath.Abs(dir)
			return nil, fmt.Errorf("another broker is already serving the data directory %s (lock %s): SQLite allows one broker per data directory; set DATABASE_URL to PostgreSQL to run several", abs, lockFileName)
		}
		return nil, fmt.Errorf("locking data directory %s: %w", dir, err)
	}
	return &dataDirLock{f: f}, nil
}

func (l *dataDirLock) release() {
	if l != nil {
		l.f.Close() // closing the descriptor releases the flock
	}
}
