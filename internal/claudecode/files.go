package claudecode

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// errChangedMeanwhile: the file changed between our read and our rename
// (Claude Code rewrites ~/.claude.json while it runs); the caller reads it
// again and re-applies its edit rather than overwrite the other write.
var errChangedMeanwhile = errors.New("changed while claudemesh was editing it")

// beforeRecheck, set only by tests, runs between writing the temp file and
// checking the target is unchanged: where another writer's change lands.
var beforeRecheck func(target string)

// BackupSuffix starts the name of the copy kept of a file before claudemesh
// changes it: <file>.claudemesh-backup-<UTC time>.
const BackupSuffix = ".claudemesh-backup-"

// jsonFile is one of Claude Code's settings files as read from disk.
type jsonFile struct {
	path   string // as the user knows it, e.g. ~/.claude/settings.json
	target string // path with symlinks resolved: a dotfiles link stays a link
	data   []byte // the content read
	exists bool
	mode   fs.FileMode // kept on rewrite; 0600 for a new file
}

func readJSONFile(path string) (*jsonFile, error) {
	f := &jsonFile{path: path, target: path, mode: 0o600}
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(path); lerr == nil {
			return nil, fmt.Errorf("%s is a symbolic link to a file that does not exist", path)
		}
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	f.target = target
	st, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if f.data, err = os.ReadFile(target); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	f.exists, f.mode = true, st.Mode().Perm()
	return f, nil
}

// parse reads the file as an object; a missing or blank file is {}.
func (f *jsonFile) parse() (*object, error) {
	if len(bytes.TrimSpace(f.data)) == 0 {
		return newObject(), nil
	}
	o, err := parseObject(f.data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	return o, nil
}

// finalNewline keeps the original's trailing newline habit.
func (f *jsonFile) finalNewline() bool {
	return !f.exists || bytes.HasSuffix(f.data, []byte("\n"))
}

// stillUnchanged reports whether the file on disk is what f read.
func (f *jsonFile) stillUnchanged() bool {
	now, err := os.ReadFile(f.target)
	if errors.Is(err, fs.ErrNotExist) {
		return !f.exists
	}
	return err == nil && f.exists && bytes.Equal(now, f.data)
}

// checkWritable fails, before anything is written, when replace or remove
// would: a file without the owner's write bit (deliberately read-only, even
// for root) or one this user may not write, and a directory where no file
// can be created (the nearest existing one, for a directory to be made).
func (f *jsonFile) checkWritable() error {
	if f.exists {
		st, err := os.Stat(f.target)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f.path, err)
		}
		if st.Mode().Perm()&0o200 == 0 {
			return fmt.Errorf("%s is read-only (mode %04o): make it writable to let claudemesh change it", f.path, st.Mode().Perm())
		}
		if err := checkOwnerWritable(f.path, st); err != nil {
			return err
		}
	}
	dir := filepath.Dir(f.target)
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	probe, err := os.CreateTemp(dir, ".claudemesh-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", f.path, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// replace writes data in place of the file: a temp file in the same
// directory with the file's mode, fsynced, then renamed over it, so a crash
// leaves the old or the new content, never half of one. The previous content
// (if any) is first copied to a backup next to the file, returned.
func (f *jsonFile) replace(data []byte, now time.Time) (backup string, err error) {
	dir := filepath.Dir(f.target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.target)+".claudemesh-tmp-*")
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", f.path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(f.mode); err != nil {
		return "", fmt.Errorf("writing %s: %w", f.path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return "", fmt.Errorf("writing %s: %w", f.path, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("writing %s: %w", f.path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %w", f.path, err)
	}
	// The backup is written first so that only the re-check and the rename
	// run under the lock: the window in which another write can be lost.
	if f.exists {
		if backup, err = f.backup(now); err != nil {
			return "", err
		}
	}
	err = withFileLock(f.target, func() error {
		if beforeRecheck != nil {
			beforeRecheck(f.target)
		}
		if !f.stillUnchanged() {
			return errChangedMeanwhile
		}
		if err := os.Rename(tmp.Name(), f.target); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		return nil
	})
	if err != nil {
		if backup != "" {
			os.Remove(backup) // a copy of content that was not replaced
		}
		return "", err
	}
	syncDir(dir)
	return backup, nil
}

// remove deletes a file that install created and uninstall emptied, after
// the same backup and unchanged check as replace.
func (f *jsonFile) remove(now time.Time) (backup string, err error) {
	if backup, err = f.backup(now); err != nil {
		return "", err
	}
	err = withFileLock(f.target, func() error {
		if !f.stillUnchanged() {
			return errChangedMeanwhile
		}
		if err := os.Remove(f.target); err != nil {
			return fmt.Errorf("removing %s: %w", f.path, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(backup)
		return "", err
	}
	return backup, nil
}

// backup copies the content read to <path>.claudemesh-backup-<time> (0600:
// these files can hold tokens), next to the path the user knows.
func (f *jsonFile) backup(now time.Time) (string, error) {
	base := f.path + BackupSuffix + now.UTC().Format("20060102T150405Z")
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		b, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("backing up %s: %w", f.path, err)
		}
		_, err = b.Write(f.data)
		if err == nil {
			err = b.Sync()
		}
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			return "", fmt.Errorf("backing up %s: %w", f.path, err)
		}
		return name, nil
	}
}

// syncDir makes a rename durable; a failure only weakens crash safety.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
