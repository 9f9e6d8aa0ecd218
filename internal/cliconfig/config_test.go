package cliconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const originalLayout = `{
  "version": 1,
  "displayName": "olivia",
  "telemetry": {"enabled": false},
  "meshes": [
    {"meshId": "m1", "memberId": "u1", "slug": "platform", "name": "Platform",
     "pubkey": "aa", "secretKey": "bb", "brokerUrl": "http://127.0.0.1:7900",
     "joinedAt": "2026-01-01T00:00:00.000Z", "rootKey": "cc", "role": "admin",
     "color": "teal"}
  ]
}`

func TestUnknownFieldsSurviveASave(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(originalLayout), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Meshes) != 1 || f.Meshes[0].Slug != "platform" || f.DisplayName != "olivia" {
		t.Fatalf("parsed %+v", f)
	}
	f.Upsert(Mesh{MeshID: "m2", Slug: "second", Role: "member"})
	f.Meshes[0].Name = "Platform Team"
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	data, _ := os.ReadFile(f.Path)
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if tel, ok := back["telemetry"].(map[string]any); !ok || tel["enabled"] != false {
		t.Errorf("top-level unknown field lost: %s", data)
	}
	meshes := back["meshes"].([]any)
	first := meshes[0].(map[string]any)
	if first["color"] != "teal" || first["name"] != "Platform Team" {
		t.Errorf("mesh unknown field or edit lost: %v", first)
	}
	if _, ok := meshes[1].(map[string]any)["ownerSecretKey"]; ok {
		t.Errorf("empty ownerSecretKey must be omitted like the original CLI: %v", meshes[1])
	}
}

func TestSaveModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, f.Path: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", path, st.Mode().Perm(), want)
		}
	}
}

// failAfter lets n bytes through, then fails, like a full disk mid-write.
type failAfter struct {
	w io.Writer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errors.New("disk full")
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func TestAFailedWriteLeavesTheOldFileWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte(originalLayout), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	f.Meshes = append(f.Meshes, Mesh{MeshID: "m2", Name: strings.Repeat("x", 4096)})
	data, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	err = WriteFileAtomic(path, data, func(w io.Writer) io.Writer { return &failAfter{w: w, n: 100} })
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("want the writer's failure, got %v", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != originalLayout {
		t.Fatalf("old config changed after a failed write:\n%s", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp file left behind: %v", entries)
	}
}

func TestLoadRefusesAFileThatDoesNotParse(t *testing.T) {
	cases := map[string]string{
		"not json":       "{",
		"null":           "null",
		"meshes object":  `{"meshes":{}}`,
		"version string": `{"version":"one"}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), FileName) {
				t.Fatalf("want an error naming the file, got %v", err)
			}
		})
	}
}

func TestFind(t *testing.T) {
	f := &File{Meshes: []Mesh{{MeshID: "a1", Slug: "platform", Name: "Platform"}, {MeshID: "b2", Slug: "platform", Name: "Platform"}, {MeshID: "c3", Slug: "ops", Name: "Ops"}}}
	cases := []struct{ ref, want, errPart string }{
		{"c3", "c3", ""},
		{"OPS", "c3", ""},
		{"b2", "b2", ""},
		{"platform", "", "several"},
		{"nope", "", "no joined mesh"},
		{"", "", "choose one with --mesh"},
	}
	for _, c := range cases {
		m, err := f.Find(c.ref)
		if c.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("Find(%q): want error with %q, got %v", c.ref, c.errPart, err)
			}
			continue
		}
		if err != nil || m.MeshID != c.want {
			t.Errorf("Find(%q) = %v, %v; want %s", c.ref, m, err, c.want)
		}
	}
}

// Writers that each load, wait, then save would drop each other's meshes;
// Update re-reads under a lock, so every one of them survives.
func TestConcurrentUpdatesKeepEveryMesh(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- Update(dir, func(f *File) error {
				f.Upsert(Mesh{MeshID: fmt.Sprintf("m%02d", i), Slug: "s"})
				return nil
			})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Meshes) != n {
		t.Fatalf("%d meshes after %d concurrent updates", len(f.Meshes), n)
	}
}
