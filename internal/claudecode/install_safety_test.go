package claudecode

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The backup is on disk before the re-check, and the re-check and rename
// run holding Claude Code's own <file>.lock, which is gone afterwards.
func TestReplaceBacksUpBeforeTheRecheckAndHoldsTheLock(t *testing.T) {
	e := newEnv(t)
	e.write(e.claudeJSON(), `{"numStartups": 1}`, 0o600)
	checked := false
	beforeRecheck = func(target string) {
		checked = true
		if b := backups(t, e.claudeJSON()); len(b) != 1 {
			t.Errorf("at the re-check: backups %v, want the one already written", b)
		}
		if st, err := os.Stat(target + ".lock"); err != nil || !st.IsDir() {
			t.Errorf("at the re-check %s.lock is not held: %v", target, err)
		}
	}
	t.Cleanup(func() { beforeRecheck = nil })
	e.install()
	if !checked {
		t.Fatal("the re-check did not run")
	}
	for _, p := range []string{e.claudeJSON(), e.settings()} {
		if _, err := os.Stat(p + ".lock"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s.lock left behind: %v", p, err)
		}
	}
}

func TestReplaceRespectsClaudeCodesLock(t *testing.T) {
	oldWait := lockWait
	lockWait = 50 * time.Millisecond
	t.Cleanup(func() { lockWait = oldWait })
	e := newEnv(t)
	e.write(e.settings(), `{"a":1}`, 0o600)
	lock := e.settings() + ".lock"
	if err := os.Mkdir(lock, 0o700); err != nil {
		t.Fatal(err)
	}

	// A fresh lock held by Claude Code: nothing is written, no backup kept.
	f, err := readJSONFile(e.settings())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.replace([]byte(`{"a":2}`), time.Now()); !errors.Is(err, errLocked) {
		t.Fatalf("replace under a fresh lock: %v", err)
	}
	if e.read(e.settings()) != `{"a":1}` || len(backups(t, e.settings())) != 0 {
		t.Fatalf("written under another's lock: %q, backups %v", e.read(e.settings()), backups(t, e.settings()))
	}
	if _, err := os.Stat(lock); err != nil {
		t.Fatalf("another's lock was removed: %v", err)
	}

	// A stale lock (holder crashed over 10 s ago) is taken over and removed.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := f.replace([]byte(`{"a":2}`), time.Now()); err != nil {
		t.Fatalf("replace under a stale lock: %v", err)
	}
	if e.read(e.settings()) != `{"a":2}` {
		t.Fatal("not written")
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock left behind: %v", err)
	}
}

// A read-only settings file is refused before either file is written, and
// the error names the file once and its mode, without "run again".
func TestInstallRefusesAReadOnlyFileBeforeWritingEither(t *testing.T) {
	e := newEnv(t)
	e.write(e.claudeJSON(), userClaudeJSON, 0o600)
	e.write(e.settings(), userSettings, 0o400)
	_, err := Install(e.opts)
	if err == nil {
		t.Fatal("install rewrote a read-only settings file")
	}
	msg := err.Error()
	if strings.Count(msg, e.settings()) != 1 || !strings.Contains(msg, "0400") || strings.Contains(msg, "again") {
		t.Fatalf("error %q: want the file once, its mode, no 'run again'", msg)
	}
	if e.read(e.claudeJSON()) != userClaudeJSON || e.read(e.settings()) != userSettings {
		t.Fatal("a file was changed")
	}
	if len(backups(t, e.claudeJSON()))+len(backups(t, e.settings())) != 0 {
		t.Fatal("backups written")
	}
}

// Root editing another user's file would leave it owned by root: refused.
func TestInstallAsRootRefusesAnotherUsersFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown the file")
	}
	e := newEnv(t)
	e.write(e.settings(), userSettings, 0o600)
	if err := os.Chown(e.settings(), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Install(e.opts)
	if err == nil || !strings.Contains(err.Error(), "uid 65534") || !strings.Contains(err.Error(), "root") {
		t.Fatalf("install as root over another's file: %v", err)
	}
	if _, err := os.Stat(e.claudeJSON()); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(".claude.json written though settings.json was refused")
	}
}

const mcpWithExtras = `{"mcpServers": {"claudemesh": {"type": "stdio", "command": "/old/claudemesh", "args": ["mcp"], "env": {"CLAUDEMESH_MESH": "team"}}}}`

// Install sets only command and args inside an existing entry, and
// uninstall puts back exactly what was there.
func TestInstallKeepsTheOtherMembersOfTheMCPEntry(t *testing.T) {
	e := newEnv(t)
	e.write(e.claudeJSON(), mcpWithExtras, 0o600)
	e.install()
	got := e.parsed(e.claudeJSON())["mcpServers"].(map[string]any)["claudemesh"]
	want := map[string]any{"type": "stdio", "command": exe, "args": []any{"mcp"}, "env": map[string]any{"CLAUDEMESH_MESH": "team"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entry %v, want %v", got, want)
	}
	e.uninstall()
	if !reflect.DeepEqual(e.parsed(e.claudeJSON()), parseJSON(t, mcpWithExtras)) {
		t.Fatalf("after uninstall: %s", e.read(e.claudeJSON()))
	}

	// Already pointing at this binary, with extras: nothing to change.
	e2 := newEnv(t)
	same := strings.Replace(mcpWithExtras, "/old/claudemesh", exe, 1)
	e2.write(e2.claudeJSON(), same, 0o600)
	e2.install()
	if e2.read(e2.claudeJSON()) != same {
		t.Fatalf("an entry already right was rewritten: %s", e2.read(e2.claudeJSON()))
	}
}

// An MCP entry the user changed after install is theirs: uninstall
// neither removes nor "restores" it.
func TestUninstallLeavesAnMCPEntryChangedSinceInstall(t *testing.T) {
	e := newEnv(t)
	e.write(e.claudeJSON(), `{}`, 0o600)
	e.install()
	edited := `{"mcpServers": {"claudemesh": {"command": "/usr/local/bin/my-wrapper", "args": ["mcp"]}}}`
	e.write(e.claudeJSON(), edited, 0o600)
	e.uninstall()
	if e.read(e.claudeJSON()) != edited {
		t.Fatalf("the user's entry was touched: %s", e.read(e.claudeJSON()))
	}
}

// A manifest listing a hook that is not a claudemesh hook (damaged or
// edited) cannot make uninstall remove the user's hook.
func TestUninstallRemovesOnlyClaudemeshHooksEvenIfRecorded(t *testing.T) {
	e := newEnv(t)
	e.write(e.settings(), userSettings, 0o600)
	e.install()
	path := filepath.Join(e.opts.ConfigDir, ManifestName)
	var m manifest
	if err := json.Unmarshal([]byte(e.read(path)), &m); err != nil {
		t.Fatal(err)
	}
	rec := m.record(e.settings())
	rec.Hooks = append(rec.Hooks, hookRecord{Event: "UserPromptSubmit", Command: "~/bin/log-prompt"})
	if err := m.save(e.opts.ConfigDir); err != nil {
		t.Fatal(err)
	}
	e.uninstall()
	if !reflect.DeepEqual(e.parsed(e.settings()), parseJSON(t, userSettings)) {
		t.Fatalf("after uninstall: %s", e.read(e.settings()))
	}
}

// makeUnwritableDir makes dir refuse new files, for root too (chattr +i),
// or skips the test where that cannot be done.
func makeUnwritableDir(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		return
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot make a directory unwritable for root: chattr: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", dir).Run() })
}

// settings.json linked into a directory where no file can be created: the
// command fails before writing .claude.json (no half install), naming the
// file once and without "run the command again", which could not help.
func TestInstallChecksBothDirectoriesBeforeWritingEither(t *testing.T) {
	e := newEnv(t)
	e.write(e.claudeJSON(), userClaudeJSON, 0o600)
	dotfiles := filepath.Join(t.TempDir(), "dotfiles")
	e.write(filepath.Join(dotfiles, "settings.json"), userSettings, 0o600)
	if err := os.MkdirAll(filepath.Dir(e.settings()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dotfiles, "settings.json"), e.settings()); err != nil {
		t.Fatal(err)
	}
	makeUnwritableDir(t, dotfiles)
	_, err := Install(e.opts)
	if err == nil {
		t.Fatal("install succeeded with settings.json in an unwritable directory")
	}
	if msg := err.Error(); strings.Count(msg, e.settings()) != 1 || strings.Contains(msg, "again") {
		t.Fatalf("error %q: want settings.json named once, no 'run again'", msg)
	}
	if e.read(e.claudeJSON()) != userClaudeJSON || len(backups(t, e.claudeJSON())) != 0 {
		t.Fatal(".claude.json was written: half an install")
	}
}
