package cliconfig

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data: it writes a temp file in the same
// directory (mode 0600), syncs it and renames it over path, so a crash at any
// point leaves either the old file or the new one, never a truncated one.
// The directory is created 0700, and tightened to 0700 if it already exists.
// wrap, when set, wraps the temp file's writer (tests inject failures there).
func WriteFileAtomic(path string, data []byte, wrap func(io.Writer) io.Writer) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	var w io.Writer = tmp
	if wrap != nil {
		w = wrap(tmp)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// CheckMode reports a config file or directory that others can read: the
// file holds secret keys. A missing path is not an error.
func CheckMode(path string, want os.FileMode) error {
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if got := st.Mode().Perm(); got&^want != 0 {
		return fmt.Errorf("%s has mode %04o; it holds secret keys and must be %04o (fix: chmod %o %s)", path, got, want, want, path)
	}
	return nil
}
