package claudecode

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const exe = "/opt/claude mesh/bin/claudemesh" // a space: the hook command must quote it

type env struct {
	t    *testing.T
	home string
	opts Options
}

func newEnv(t *testing.T) *env {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	return &env{t: t, home: home, opts: Options{Home: home, ConfigDir: filepath.Join(root, "cm"), Executable: exe,
		Now: func() time.Time { clock = clock.Add(time.Second); return clock }}}
}

func (e *env) paths() Paths       { return PathsFor(e.home, e.opts.ClaudeConfigDir) }
func (e *env) claudeJSON() string { return e.paths().ClaudeJSON }
func (e *env) settings() string   { return e.paths().Settings }

func (e *env) write(path, content string, mode os.FileMode) {
	e.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(path string) string {
	e.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(data)
}

func (e *env) parsed(path string) map[string]any {
	e.t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(e.read(path)), &v); err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	return v
}

func (e *env) install() *Report {
	e.t.Helper()
	r, err := Install(e.opts)
	if err != nil {
		e.t.Fatalf("install: %v", err)
	}
	return r
}

func (e *env) uninstall() *Report {
	e.t.Helper()
	r, err := Uninstall(e.opts)
	if err != nil {
		e.t.Fatalf("uninstall: %v", err)
	}
	return r
}

// backups lists the backup files next to path.
func backups(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + BackupSuffix + "*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func parseJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

const userClaudeJSON = `{
  "numStartups": 12,
  "userID": "abc\u00e9",
  "mcpServers": {
    "github": {"command": "gh-mcp", "args": ["--stdio"], "env": {"TOKEN": "x"}}
  },
  "projects": {"/src/app": {"allowedTools": []}}
}
`

const userSettings = `{
  "model": "opus",
  "permissions": {
    "allow": ["Bash(npm test:*)", "mcp__github"],
    "deny": ["Read(./.env)"]
  },
  "hooks": {
    "UserPromptSubmit": [
      {"matcher": "", "hooks": [{"type": "command", "command": "~/bin/log-prompt", "timeout": 5}]}
    ],
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "check-bash"}]}
    ]
  },
  "env": {"FOO": "1"}
}`

func hookGroupValue(command string) any {
	return map[string]any{"matcher": "", "hooks": []any{map[string]any{"type": "command", "command": command}}}
}

// The main case: other servers, hooks (another UserPromptSubmit
// hook) and permissions exist; install adds exactly its entries, a second
// run changes nothing, uninstall restores the original.
func TestInstallAddsExactlyItsEntriesThenUninstallRestores(t *testing.T) {
	e := newEnv(t)
	e.write(e.claudeJSON(), userClaudeJSON, 0o600)
	e.write(e.settings(), userSettings, 0o644)

	rep := e.install()
	if len(rep.Changes) != 5 || len(rep.Backups) != 2 || len(rep.CreatedFiles) != 0 {
		t.Fatalf("install report: %+v", rep)
	}

	wantClaude := parseJSON(t, userClaudeJSON)
	wantClaude["mcpServers"].(map[string]any)["claudemesh"] = map[string]any{"command": exe, "args": []any{"mcp"}}
	if got := e.parsed(e.claudeJSON()); !reflect.DeepEqual(got, wantClaude) {
		t.Fatalf(".claude.json after install:\n got %v\nwant %v", got, wantClaude)
	}
	quoted := "'" + exe + "'"
	wantSettings := parseJSON(t, userSettings)
	perms := wantSettings["permissions"].(map[string]any)
	perms["allow"] = append(perms["allow"].([]any), "mcp__claudemesh")
	hooks := wantSettings["hooks"].(map[string]any)
	hooks["UserPromptSubmit"] = append(hooks["UserPromptSubmit"].([]any), hookGroupValue(quoted+" hook working"))
	hooks["Stop"] = []any{hookGroupValue(quoted + " hook idle")}
	hooks["SessionEnd"] = []any{hookGroupValue(quoted + " hook idle")}
	if got := e.parsed(e.settings()); !reflect.DeepEqual(got, wantSettings) {
		t.Fatalf("settings.json after install:\n got %v\nwant %v", got, wantSettings)
	}
	// The user's key order survives, and untouched values keep their text.
	if keys := topKeys(t, e.read(e.settings())); !slices.Equal(keys, []string{"model", "permissions", "hooks", "env"}) {
		t.Fatalf("settings key order %v", keys)
	}
	if !strings.Contains(e.read(e.claudeJSON()), `"userID": "abc\u00e9"`) {
		t.Fatalf("an untouched string lost its escape:\n%s", e.read(e.claudeJSON()))
	}
	if st, _ := os.Stat(e.settings()); st.Mode().Perm() != 0o644 {
		t.Fatalf("settings.json mode %o, want 0644 kept", st.Mode().Perm())
	}

	before := map[string]string{e.claudeJSON(): e.read(e.claudeJSON()), e.settings(): e.read(e.settings())}
	if rep := e.install(); len(rep.Changes) != 0 || len(rep.Backups) != 0 {
		t.Fatalf("second install changed something: %+v", rep)
	}
	for path, content := range before {
		if e.read(path) != content {
			t.Fatalf("second install rewrote %s", path)
		}
		if n := len(backups(t, path)); n != 1 {
			t.Fatalf("%s has %d backups after two installs, want 1", path, n)
		}
	}

	rep = e.uninstall()
	if len(rep.Changes) != 5 || len(rep.Guessed) != 0 {
		t.Fatalf("uninstall report: %+v", rep)
	}
	if got := e.parsed(e.claudeJSON()); !reflect.DeepEqual(got, parseJSON(t, userClaudeJSON)) {
		t.Fatalf(".claude.json after uninstall: %v", got)
	}
	if got := e.parsed(e.settings()); !reflect.DeepEqual(got, parseJSON(t, userSettings)) {
		t.Fatalf("settings.json after uninstall: %v", got)
	}
	if _, err := os.Stat(filepath.Join(e.opts.ConfigDir, ManifestName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the manifest outlived uninstall: %v", err)
	}
	if rep := e.uninstall(); len(rep.Changes) != 0 {
		t.Fatalf("a second uninstall changed something: %+v", rep)
	}
}

func topKeys(t *testing.T, s string) []string {
	t.Helper()
	o, err := parseObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return o.keys
}

func TestInstallCreatesMissingFilesAndUninstallRemovesThem(t *testing.T) {
	e := newEnv(t)
	rep := e.install()
	if !slices.Equal(rep.CreatedFiles, []string{e.claudeJSON(), e.settings()}) || len(rep.Backups) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, p := range []string{e.claudeJSON(), e.settings(), filepath.Join(e.opts.ConfigDir, ManifestName)} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want a 0600 file", p, err, st)
		}
	}
	if w := Inspect(e.paths()); !w.Complete() || w.MCP.Command != exe || w.MCPErr != nil || w.SettingsErr != nil {
		t.Fatalf("inspect after install: %+v", w)
	}
	rep = e.uninstall()
	if !slices.Equal(rep.RemovedFiles, []string{e.claudeJSON(), e.settings()}) {
		t.Fatalf("uninstall report: %+v", rep)
	}
	for _, p := range []string{e.claudeJSON(), e.settings()} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s outlived uninstall (install created it): %v", p, err)
		}
	}
	if w := Inspect(e.paths()); w.MCP != nil || w.Permission || len(w.Hooks) != 0 {
		t.Fatalf("inspect after uninstall: %+v", w)
	}
}

// Bad files: an error naming the file and key, and nothing written anywhere.
func TestInstallRefusesMalformedFiles(t *testing.T) {
	for _, tc := range []struct {
		name, file, content, want string
	}{
		{"claude.json not JSON", ".claude.json", `{"mcpServers": {`, "unexpected end"},
		{"settings not JSON", "settings", `{"hooks": {}} trailing`, "invalid JSON"},
		{"top level array", "settings", `[]`, "want a JSON object, found an array"},
		{"mcpServers an array", ".claude.json", `{"mcpServers": []}`, "mcpServers is an array, want an object"},
		{"hooks a string", "settings", `{"hooks": "none"}`, "hooks is a string, want an object"},
		{"hooks.Stop an object", "settings", `{"hooks": {"Stop": {}}}`, "hooks.Stop is an object, want an array"},
		{"hook group a number", "settings", `{"hooks": {"Stop": [1]}}`, "hooks.Stop[0] is a number, want an object"},
		{"hook entries not an array", "settings", `{"hooks": {"SessionEnd": [{"hooks": {}}]}}`, "hooks.SessionEnd[0].hooks is an object, want an array"},
		{"permissions null", "settings", `{"permissions": null}`, "permissions is null, want an object"},
		{"allow a string", "settings", `{"permissions": {"allow": "Bash"}}`, "permissions.allow is a string, want an array"},
		{"allow holds a number", "settings", `{"permissions": {"allow": ["Bash", 3]}}`, "permissions.allow[1] is a number, want a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			bad, other := e.settings(), e.claudeJSON()
			if tc.file == ".claude.json" {
				bad, other = other, bad
			}
			e.write(bad, tc.content, 0o640)
			for _, do := range []func(Options) (*Report, error){Install, Uninstall} {
				_, err := do(e.opts)
				if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one naming %s and %q", err, bad, tc.want)
				}
			}
			if e.read(bad) != tc.content {
				t.Fatal("the malformed file was rewritten")
			}
			if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the other file was written although one was malformed: %v", err)
			}
			if len(backups(t, bad)) != 0 {
				t.Fatal("a backup was written although nothing changed")
			}
		})
	}
}

// What the user had before install survives uninstall; what install
// replaced comes back.
func TestUninstallKeepsWhatTheUserHad(t *testing.T) {
	quoted := "'" + exe + "'"
	for _, tc := range []struct {
		name, claudeJSON, settings string
		check                      func(t *testing.T, e *env)
	}{
		{
			name:     "permission already allowed",
			settings: `{"permissions": {"allow": ["mcp__claudemesh"]}}`,
		},
		{
			name:     "one hook already there",
			settings: `{"hooks": {"Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "` + quoted + ` hook idle"}]}]}}`,
		},
		{
			name:     "empty containers",
			settings: `{"permissions": {}, "hooks": {"Stop": []}}`,
		},
		{
			name:     "old claudemesh path rewritten in place",
			settings: `{"hooks": {"Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "/usr/local/bin/claudemesh hook idle", "timeout": 3}, {"type": "command", "command": "say done"}]}]}}`,
			check: func(t *testing.T, e *env) {
				stop := e.parsed(e.settings())["hooks"].(map[string]any)["Stop"].([]any)
				want := []any{map[string]any{"matcher": "", "hooks": []any{
					map[string]any{"type": "command", "command": quoted + " hook idle", "timeout": 3.0},
					map[string]any{"type": "command", "command": "say done"}}}}
				if !reflect.DeepEqual(stop, want) {
					t.Fatalf("Stop after install: %v", stop)
				}
			},
		},
		{
			name:       "another claudemesh server entry replaced",
			claudeJSON: `{"mcpServers": {"claudemesh": {"command": "npx", "args": ["claudemesh", "mcp"]}}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.claudeJSON != "" {
				e.write(e.claudeJSON(), tc.claudeJSON, 0o600)
			}
			if tc.settings != "" {
				e.write(e.settings(), tc.settings, 0o600)
			}
			e.install()
			if w := Inspect(e.paths()); !w.Complete() {
				t.Fatalf("not wired after install: %+v", w)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
			e.uninstall()
			for path, orig := range map[string]string{e.claudeJSON(): tc.claudeJSON, e.settings(): tc.settings} {
				if orig == "" {
					if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("%s left behind: %v", path, err)
					}
					continue
				}
				if got := e.parsed(path); !reflect.DeepEqual(got, parseJSON(t, orig)) {
					t.Fatalf("%s after uninstall:\n got %v\nwant %s", path, got, orig)
				}
			}
		})
	}
}

// Without the manifest (config dir wiped) uninstall recognises claudemesh's
// entries and removes them all, and says it guessed.
func TestUninstallWithoutManifestGuesses(t *testing.T) {
	e := newEnv(t)
	e.write(e.settings(), userSettings, 0o600)
	e.install()
	if err := os.RemoveAll(e.opts.ConfigDir); err != nil {
		t.Fatal(err)
	}
	rep := e.uninstall()
	if len(rep.Guessed) != 2 || len(rep.Changes) != 5 {
		t.Fatalf("report %+v", rep)
	}
	if got := e.parsed(e.settings()); !reflect.DeepEqual(got, parseJSON(t, userSettings)) {
		t.Fatalf("settings after a guessing uninstall: %v", got)
	}
	if w := Inspect(e.paths()); w.MCP != nil {
		t.Fatalf("the MCP entry survived: %+v", w)
	}
	if got := e.read(e.claudeJSON()); got != "{}\n" {
		t.Fatalf("guessing, the file install created is left as {}, got %q", got)
	}
}

// A settings file reached through a symlink (dotfiles) stays a symlink and
// the file it points at is what changes; its backup sits next to the link.
func TestInstallFollowsSymlinks(t *testing.T) {
	e := newEnv(t)
	real := filepath.Join(t.TempDir(), "dotfiles-settings.json")
	e.write(real, `{"model":"opus"}`, 0o644)
	if err := os.MkdirAll(filepath.Dir(e.settings()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, e.settings()); err != nil {
		t.Fatal(err)
	}
	e.install()
	if st, err := os.Lstat(e.settings()); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("settings.json is no longer a symlink: %v", err)
	}
	if !Inspect(e.paths()).Permission {
		t.Fatal("the linked file did not get the permission")
	}
	if st, _ := os.Stat(real); st.Mode().Perm() != 0o644 {
		t.Fatalf("mode of the linked file %o", st.Mode().Perm())
	}
	if len(backups(t, e.settings())) != 1 {
		t.Fatal("no backup next to the link")
	}
}

// A write by someone else between our read and our rename is not lost.
func TestReplaceRefusesAFileChangedMeanwhile(t *testing.T) {
	e := newEnv(t)
	e.write(e.settings(), `{"a":1}`, 0o600)
	f, err := readJSONFile(e.settings())
	if err != nil {
		t.Fatal(err)
	}
	e.write(e.settings(), `{"a":2}`, 0o600)
	if _, err := f.replace([]byte(`{"a":3}`), time.Now()); !errors.Is(err, errChangedMeanwhile) {
		t.Fatalf("replace over a changed file: %v", err)
	}
	if e.read(e.settings()) != `{"a":2}` {
		t.Fatal("the other writer's content was overwritten")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(e.settings()), ".*claudemesh-tmp*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
}

func TestHookCommandQuotingRoundTrips(t *testing.T) {
	for _, p := range []string{"/usr/bin/claudemesh", "/opt/my tools/claudemesh", "/home/o'neil/bin/claudemesh", "/x/$HOME/claudemesh"} {
		cmd := HookCommand(p, "idle")
		bin, status, ok := hookStatus(cmd)
		if !ok || bin != p || status != "idle" {
			t.Fatalf("%q -> %q -> %q %q %v", p, cmd, bin, status, ok)
		}
	}
	for _, cmd := range []string{"claudemesh hook idle; rm -rf /", "echo claudemesh hook idle", "claudemesh hook", "/bin/mesh hook idle", `"unbalanced`} {
		if _, _, ok := hookStatus(cmd); ok {
			t.Fatalf("%q recognised as a claudemesh hook", cmd)
		}
	}
}

// Claude Code rewriting ~/.claude.json while install edits it: install
// redoes its edit on the new content, so both changes are kept.
func TestInstallRedoesItsEditWhenTheFileChangesMeanwhile(t *testing.T) {
	e := newEnv(t)
	e.write(e.claudeJSON(), `{"numStartups": 1}`, 0o600)
	writes := 0
	beforeRecheck = func(target string) {
		if target == e.claudeJSON() && writes < 2 {
			writes++
			e.write(e.claudeJSON(), fmt.Sprintf(`{"numStartups": %d, "tipsHistory": {}}`, 1+writes), 0o600)
		}
	}
	t.Cleanup(func() { beforeRecheck = nil })
	rep := e.install()
	if writes != 2 {
		t.Fatalf("the concurrent writer ran %d times", writes)
	}
	got := e.parsed(e.claudeJSON())
	want := map[string]any{"numStartups": 3.0, "tipsHistory": map[string]any{},
		"mcpServers": map[string]any{"claudemesh": map[string]any{"command": exe, "args": []any{"mcp"}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf(".claude.json: %v", got)
	}
	if b := backups(t, e.claudeJSON()); len(b) != 1 || e.read(b[0]) != `{"numStartups": 3, "tipsHistory": {}}` {
		t.Fatalf("backups %v: want one, of the content replaced", b)
	}
	if len(rep.Changes) != 5 {
		t.Fatalf("report %+v", rep)
	}
}

// The binary moved (a new version elsewhere): install points every entry at
// the new path in place, and uninstall still restores the original.
func TestInstallAfterTheBinaryMoved(t *testing.T) {
	e := newEnv(t)
	e.write(e.settings(), userSettings, 0o600)
	e.install()
	e.opts.Executable = "/usr/local/bin/claudemesh"
	rep := e.install()
	if len(rep.Changes) != 4 { // the server entry and three hooks; the permission stays
		t.Fatalf("report %+v", rep)
	}
	w := Inspect(e.paths())
	if w.MCP.Command != "/usr/local/bin/claudemesh" || w.Hooks["Stop"] != "/usr/local/bin/claudemesh hook idle" {
		t.Fatalf("after the move: %+v", w)
	}
	stop := e.parsed(e.settings())["hooks"].(map[string]any)["Stop"].([]any)
	if len(stop) != 1 {
		t.Fatalf("Stop has %d groups, want the one rewritten in place: %v", len(stop), stop)
	}
	e.uninstall()
	if got := e.parsed(e.settings()); !reflect.DeepEqual(got, parseJSON(t, userSettings)) {
		t.Fatalf("settings after uninstall: %v", got)
	}
	if _, err := os.Stat(e.claudeJSON()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf(".claude.json outlived uninstall: %v", err)
	}
}

// With CLAUDE_CONFIG_DIR set, Claude Code reads both files from it, so
// install writes there and leaves HOME alone.
func TestInstallHonoursClaudeConfigDir(t *testing.T) {
	e := newEnv(t)
	e.opts.ClaudeConfigDir = filepath.Join(t.TempDir(), "claude-alt")
	e.install()
	want := Paths{ClaudeJSON: filepath.Join(e.opts.ClaudeConfigDir, ".claude.json"), Settings: filepath.Join(e.opts.ClaudeConfigDir, "settings.json")}
	if e.paths() != want || !Inspect(want).Complete() {
		t.Fatalf("paths %+v, wiring %+v", e.paths(), Inspect(want))
	}
	if entries, _ := os.ReadDir(e.home); len(entries) != 0 {
		t.Fatalf("HOME was written: %v", entries)
	}
	e.uninstall()
	if Inspect(want).MCP != nil {
		t.Fatal("uninstall left the MCP entry")
	}
}
