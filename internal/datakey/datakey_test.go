package datakey_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/datakey"
)

func TestKeyFileCreatedOnceWith0600(t *testing.T) {
	dir := t.TempDir()
	k1, err := datakey.Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, datakey.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %o, want 600", info.Mode().Perm())
	}
	sealed, err := k1.Seal([]byte("root-key-bytes"), "mesh_1")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := datakey.Load("", dir) // a restart reads the same file
	if err != nil {
		t.Fatal(err)
	}
	got, err := k2.Open(sealed, "mesh_1")
	if err != nil || !bytes.Equal(got, []byte("root-key-bytes")) {
		t.Fatalf("open after reload = %q, %v", got, err)
	}
	if _, err := k2.Open(sealed, "mesh_2"); err == nil {
		t.Fatal("a sealed value opened under another context")
	}
}

func TestLoadRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	if _, err := datakey.Load("", dir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, datakey.FileName), 0o644)
	if _, err := datakey.Load("", dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key file: err = %v", err)
	}
	if _, err := datakey.Load("abcd", ""); err == nil {
		t.Fatal("short hex key accepted")
	}
	if _, err := datakey.Load("", ""); err == nil {
		t.Fatal("no key source accepted")
	}
	k, err := datakey.Load(strings.Repeat("ab", 32), "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(k.String(), "ab") {
		t.Fatal("String leaks key material")
	}
}
