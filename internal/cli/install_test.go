package cli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The binary path install writes is the PATH link to this binary (as
// Homebrew or nix keep it across upgrades), not its resolved versioned
// target; another claudemesh on PATH is not taken for this one.
func TestInstallSelfPathPrefersThePATHLinkToThisBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	link := filepath.Join(bin, "claudemesh")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	if got, err := selfPath(); err != nil || got != link {
		t.Fatalf("selfPath = %q, %v; want the PATH link %q", got, err, link)
	}

	other := filepath.Join(t.TempDir(), "claudemesh")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		lookUp func(string) (string, error)
		want   string
	}{
		{"link on PATH", func(string) (string, error) { return link, nil }, link},
		{"another binary on PATH", func(string) (string, error) { return other, nil }, exe},
		{"none on PATH", func(string) (string, error) { return "", errors.New("not found") }, exe},
	}
	for _, c := range cases {
		if got := stableSelfPath(exe, c.lookUp); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
