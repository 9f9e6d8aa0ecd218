package claudecode

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Claude Code saves ~/.claude.json under a proper-lockfile lock: a
// directory <file>.lock made with mkdir, stale once its mtime is older
// than 10 s. Taking the same lock around our re-check and rename keeps a
// save by Claude Code from landing in between.
var (
	lockStale = 10 * time.Second
	lockWait  = 2 * time.Second // how long a fresh lock held by another is waited for
	lockPoll  = 20 * time.Millisecond
)

// withFileLock runs fn holding <target>.lock, and always removes the lock
// after. A stale lock (a crashed holder) is taken over.
func withFileLock(target string, fn func() error) error {
	lock := target + ".lock"
	deadline := time.Now().Add(lockWait)
	for {
		err := os.Mkdir(lock, 0o700)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("locking %s: %w", target, err)
		}
		st, serr := os.Stat(lock)
		switch {
		case serr == nil && time.Since(st.ModTime()) > lockStale:
			if rerr := os.Remove(lock); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return fmt.Errorf("removing the stale lock %s: %w", lock, rerr)
			}
			continue
		case time.Now().After(deadline):
			return fmt.Errorf("%w (%s exists for over %s)", errLocked, lock, lockWait)
		}
		time.Sleep(lockPoll)
	}
	defer os.Remove(lock)
	return fn()
}

// errLocked: another program held the file's lock longer than lockWait;
// like errChangedMeanwhile, running the command again can succeed.
var errLocked = errors.New("is locked by another program")
