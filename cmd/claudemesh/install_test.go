package main_test

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

// claudeOnPath gives the user a PATH holding only a fake `claude` that
// prints a version and exits with exit ("hang": never answers).
func (u *user) claudeOnPath(exit string) {
	u.t.Helper()
	bin := filepath.Join(u.t.TempDir(), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		u.t.Fatal(err)
	}
	script := "#!/bin/sh\necho '2.0.14 (Claude Code)'\nexit " + exit + "\n"
	if exit == "hang" {
		sleep, err := exec.LookPath("sleep") // absolute: the user's PATH holds only claude
		if err != nil {
			u.t.Fatal(err)
		}
		script = "#!/bin/sh\n" + sleep + " 60\n"
	}
	if err := os.WriteFile(filepath.Join(bin, "claude"), []byte(script), 0o755); err != nil {
		u.t.Fatal(err)
	}
	u.env = append(u.env, "PATH="+bin)
}

// noClaudeOnPath gives the user a PATH without `claude`, whatever this
// machine has installed.
func (u *user) noClaudeOnPath() {
	u.env = append(u.env, "PATH="+u.t.TempDir())
}

// wireClaudeCode is a machine with Claude Code installed and claudemesh
// registered in it, so doctor's Claude Code checks pass.
func (u *user) wireClaudeCode() {
	u.t.Helper()
	u.claudeOnPath("0")
	u.must("install")
}

func (u *user) claudeJSON() string { return filepath.Join(u.home, ".claude.json") }
func (u *user) settings() string   { return filepath.Join(u.home, ".claude", "settings.json") }

func (u *user) writeFile(path, content string, mode os.FileMode) {
	u.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		u.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		u.t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func parsedFile(t *testing.T, path string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(readFile(t, path)), &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func parsedText(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func backupsOf(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".claudemesh-backup-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// installedBin is the path install writes: the built binary, symlinks resolved.
func installedBin(t *testing.T) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(cliBin)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hookGroup(command string) any {
	return map[string]any{"matcher": "", "hooks": []any{map[string]any{"type": "command", "command": command}}}
}

const (
	otherClaudeJSON = `{
  "numStartups": 3,
  "mcpServers": {
    "github": {"type": "stdio", "command": "github-mcp", "args": ["stdio"], "env": {"GITHUB_TOKEN": "t"}},
    "db": {"command": "db-mcp", "args": []}
  },
  "projects": {"/src/app": {"hasTrustDialogAccepted": true}}
}
`
	otherSettings = `{
  "permissions": {"allow": ["Bash(go test:*)", "mcp__github"], "deny": ["Read(./secrets/**)"]},
  "hooks": {
    "UserPromptSubmit": [{"matcher": "", "hooks": [{"type": "command", "command": "log-prompt.sh"}]}],
    "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "gofmt -w ."}]}]
  },
  "includeCoAuthoredBy": false
}
`
)

// The case: a HOME that already holds other MCP servers, hooks
// (another UserPromptSubmit hook among them) and permissions.
func TestInstallAddsExactlyItsEntriesAndUninstallRestoresTheOriginal(t *testing.T) {
	u := newUser(t, "ivy")
	u.writeFile(u.claudeJSON(), otherClaudeJSON, 0o600)
	u.writeFile(u.settings(), otherSettings, 0o600)
	bin := installedBin(t)

	r := u.must("install")
	for _, want := range []string{u.claudeJSON(), u.settings(), "added mcpServers.claudemesh: " + bin + " mcp",
		"added permissions.allow: mcp__claudemesh", "added hooks.Stop: " + bin + " hook idle", "backup "} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("install output lacks %q:\n%s", want, r)
		}
	}
	wantClaude := parsedText(t, otherClaudeJSON)
	wantClaude["mcpServers"].(map[string]any)["claudemesh"] = map[string]any{"command": bin, "args": []any{"mcp"}}
	if got := parsedFile(t, u.claudeJSON()); !reflect.DeepEqual(got, wantClaude) {
		t.Fatalf(".claude.json after install:\n got %v\nwant %v", got, wantClaude)
	}
	wantSettings := parsedText(t, otherSettings)
	perms := wantSettings["permissions"].(map[string]any)
	perms["allow"] = append(perms["allow"].([]any), "mcp__claudemesh")
	hooks := wantSettings["hooks"].(map[string]any)
	hooks["UserPromptSubmit"] = append(hooks["UserPromptSubmit"].([]any), hookGroup(bin+" hook working"))
	hooks["Stop"] = []any{hookGroup(bin + " hook idle")}
	hooks["SessionEnd"] = []any{hookGroup(bin + " hook idle")}
	if got := parsedFile(t, u.settings()); !reflect.DeepEqual(got, wantSettings) {
		t.Fatalf("settings.json after install:\n got %v\nwant %v", got, wantSettings)
	}

	installed := map[string]string{u.claudeJSON(): readFile(t, u.claudeJSON()), u.settings(): readFile(t, u.settings())}
	r = u.must("install")
	if !strings.Contains(r.stdout, "Nothing changed") {
		t.Fatalf("second install:\n%s", r)
	}
	for path, content := range installed {
		if readFile(t, path) != content {
			t.Fatalf("second install rewrote %s", path)
		}
		if b := backupsOf(t, path); len(b) != 1 {
			t.Fatalf("%s: backups %v after two installs, want exactly one", path, b)
		}
	}
	if b := backupsOf(t, u.settings()); readFile(t, b[0]) != otherSettings {
		t.Fatal("the backup does not hold the original settings")
	}

	r = u.must("uninstall")
	if !strings.Contains(r.stdout, "removed mcpServers.claudemesh") || !strings.Contains(r.stdout, "removed hooks.SessionEnd") {
		t.Fatalf("uninstall output:\n%s", r)
	}
	if got := parsedFile(t, u.claudeJSON()); !reflect.DeepEqual(got, parsedText(t, otherClaudeJSON)) {
		t.Fatalf(".claude.json after uninstall: %v", got)
	}
	if got := parsedFile(t, u.settings()); !reflect.DeepEqual(got, parsedText(t, otherSettings)) {
		t.Fatalf("settings.json after uninstall: %v", got)
	}
	if r := u.must("uninstall"); !strings.Contains(r.stdout, "Nothing to remove") {
		t.Fatalf("second uninstall:\n%s", r)
	}
}

func TestInstallCases(t *testing.T) {
	for _, tc := range []struct {
		name       string
		claudeJSON string // "" = no file
		settings   string
		mode       os.FileMode                 // of the files written; 0 = 0600
		wantErr    string                      // install must fail naming the file and this
		check      func(t *testing.T, u *user) // after install, uninstall, both must succeed
	}{
		{
			name: "missing files are created 0600 and removed again",
			check: func(t *testing.T, u *user) {
				for _, p := range []string{u.claudeJSON(), u.settings()} {
					if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
						t.Fatalf("%s after install: %v", p, err)
					}
				}
				r := u.must("uninstall")
				if !strings.Contains(r.stdout, "install had created it") {
					t.Fatalf("uninstall:\n%s", r)
				}
				for _, p := range []string{u.claudeJSON(), u.settings()} {
					if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("%s outlived uninstall: %v", p, err)
					}
				}
			},
		},
		{name: "malformed .claude.json", claudeJSON: `{"mcpServers": {"a": 1,}}`, settings: `{}`, wantErr: "invalid character"},
		{name: "malformed settings.json", settings: `{"hooks": {`, wantErr: "unexpected end of file"},
		{name: "hooks of the wrong type", settings: `{"hooks": ["Stop"]}`, wantErr: "hooks is an array, want an object"},
		{name: "mcpServers of the wrong type", claudeJSON: `{"mcpServers": "x"}`, wantErr: "mcpServers is a string, want an object"},
		{name: "permissions of the wrong type", settings: `{"permissions": {"allow": {}}}`, wantErr: "permissions.allow is an object, want an array"},
		{
			name: "file mode kept", claudeJSON: `{"x": 1}`, settings: `{"y": 2}`, mode: 0o644,
			check: func(t *testing.T, u *user) {
				for _, cmd := range []string{"", "uninstall"} {
					if cmd != "" {
						u.must(cmd)
					}
					for _, p := range []string{u.claudeJSON(), u.settings()} {
						if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
							t.Fatalf("%s after %q: %v %v, want 0644 kept", p, cmd, err, st.Mode())
						}
					}
				}
			},
		},
		{
			name: "a permission and a hook the user had survive uninstall", claudeJSON: `{}`,
			settings: `{"permissions": {"allow": ["mcp__claudemesh"]}, "hooks": {"Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "` + installedBinForTable + ` hook idle"}]}]}}`,
			check: func(t *testing.T, u *user) {
				r := u.must("uninstall")
				if strings.Contains(r.stdout, "permissions.allow") || strings.Contains(r.stdout, "hooks.Stop") {
					t.Fatalf("uninstall touched what the user had:\n%s", r)
				}
				s := parsedFile(t, u.settings())
				if allow := s["permissions"].(map[string]any)["allow"].([]any); len(allow) != 1 || allow[0] != "mcp__claudemesh" {
					t.Fatalf("the user's permission is gone: %v", s)
				}
				if _, ok := s["hooks"].(map[string]any)["Stop"]; !ok {
					t.Fatalf("the user's Stop hook is gone: %v", s)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t, "ivy")
			mode := tc.mode
			if mode == 0 {
				mode = 0o600
			}
			files := map[string]string{}
			for path, content := range map[string]string{u.claudeJSON(): tc.claudeJSON, u.settings(): tc.settings} {
				if content != "" {
					content = strings.ReplaceAll(content, installedBinForTable, installedBin(t))
					u.writeFile(path, content, mode)
					files[path] = content
				}
			}
			r := u.run("install")
			if tc.wantErr != "" {
				if r.code != 1 || !strings.Contains(r.stderr, tc.wantErr) || !strings.Contains(r.stderr, "nothing was changed") {
					t.Fatalf("install must fail with %q:\n%s", tc.wantErr, r)
				}
				named := false
				for path, content := range files {
					if readFile(t, path) != content {
						t.Fatalf("%s was rewritten", path)
					}
					named = named || strings.Contains(r.stderr, path)
				}
				if !named {
					t.Fatalf("the error names no file:\n%s", r)
				}
				for _, p := range []string{u.claudeJSON(), u.settings()} {
					if _, ok := files[p]; !ok {
						if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
							t.Fatalf("%s was created although install failed", p)
						}
					}
					if len(backupsOf(t, p)) != 0 {
						t.Fatalf("%s got a backup although nothing changed", p)
					}
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("install:\n%s", r)
			}
			tc.check(t, u)
		})
	}
}

// installedBinForTable stands for installedBin in table literals.
const installedBinForTable = "@CLAUDEMESH_BIN@"

// Doctor's Claude Code suite: every check fails with its fix before install
// and without claude, and passes after install with claude on PATH.
func TestDoctorClaudeCodeChecks(t *testing.T) {
	u := newUser(t, "dora")
	u.noClaudeOnPath()
	r := u.run("doctor")
	for _, want := range []string{
		"✗ claude on PATH: not found", "fix: Claude Code (the `claude` command) is not on PATH",
		"✗ MCP server entry: no mcpServers.claudemesh in " + u.claudeJSON(),
		"✗ hook UserPromptSubmit", "✗ hook Stop", "✗ hook SessionEnd", "✗ permission rule", "fix: claudemesh install",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("doctor before install lacks %q:\n%s", want, r)
		}
	}
	if r.code != 1 {
		t.Fatalf("doctor exit %d, want 1", r.code)
	}

	u.claudeOnPath("0")
	u.must("install")
	r = u.run("doctor", "--json")
	var checks []struct {
		Section, Check, Detail, Fix string
		OK                          bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &checks); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	got := map[string]bool{}
	for _, c := range checks {
		if c.Section == "Claude Code" {
			got[c.Check] = c.OK
			if !c.OK {
				t.Fatalf("after install %q fails: %+v", c.Check, c)
			}
			if c.Check == "claude version" && c.Detail != "2.0.14 (Claude Code)" {
				t.Fatalf("claude version detail %q", c.Detail)
			}
		}
	}
	for _, name := range []string{"claude on PATH", "claude version", "MCP server entry", "MCP server command",
		"hook UserPromptSubmit", "hook Stop", "hook SessionEnd", "permission rule"} {
		if !got[name] {
			t.Fatalf("doctor --json lacks a passing %q: %v", name, got)
		}
	}

	// A claude that fails, and an MCP entry pointing at a binary that is gone.
	u.claudeOnPath("3")
	s := parsedFile(t, u.claudeJSON())
	s["mcpServers"].(map[string]any)["claudemesh"] = map[string]any{"command": "/nonexistent/claudemesh", "args": []any{"mcp"}}
	data, _ := json.Marshal(s)
	u.writeFile(u.claudeJSON(), string(data), 0o600)
	r = u.run("doctor")
	for _, want := range []string{"✗ claude version: `claude --version` failed", "✗ MCP server command: /nonexistent/claudemesh does not exist",
		"fix: claudemesh install (points the entry at this binary)", "✓ hook Stop"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("doctor lacks %q:\n%s", want, r)
		}
	}

	// A settings file that is not JSON is named, with its fix.
	u.writeFile(u.settings(), "{", 0o600)
	r = u.run("doctor")
	if !strings.Contains(r.stdout, "✗ settings.json: "+u.settings()) || !strings.Contains(r.stdout, "fix: repair the JSON in "+u.settings()) {
		t.Fatalf("doctor with a broken settings.json:\n%s", r)
	}
}

// With a mesh joined, the home screen asks for `claudemesh install` until
// Claude Code has every claudemesh entry, and no longer after.
func TestHomeSuggestsInstallUntilClaudeCodeIsWired(t *testing.T) {
	b := startBroker(t)
	u := newUser(t, "hana")
	u.must("mesh", "create", "Platform", "--broker", b.URL)
	if r := u.must(); !strings.Contains(r.stdout, "wire claudemesh into Claude Code") || !strings.Contains(r.stdout, "claudemesh install") {
		t.Fatalf("home before install:\n%s", r)
	}
	u.must("install")
	if r := u.must(); strings.Contains(r.stdout, "claudemesh install") {
		t.Fatalf("home after install still suggests it:\n%s", r)
	}
	// One entry missing (the permission rule) is not wired.
	s := parsedFile(t, u.settings())
	delete(s, "permissions")
	data, _ := json.Marshal(s)
	u.writeFile(u.settings(), string(data), 0o600)
	if r := u.must(); !strings.Contains(r.stdout, "claudemesh install") {
		t.Fatalf("home with the permission rule gone:\n%s", r)
	}
}

// A `claude --version` that never answers costs doctor its 5 s limit, not
// a hang.
func TestDoctorGivesUpOnAHungClaude(t *testing.T) {
	u := newUser(t, "hugo")
	u.claudeOnPath("hang")
	start := time.Now()
	r := u.run("doctor")
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("doctor took %s with a hung claude", took)
	}
	if r.code != 1 || !strings.Contains(r.stdout, "✗ claude version: `claude --version` did not answer within 5s") {
		t.Fatalf("doctor with a hung claude:\n%s", r)
	}
}

// CLAUDE_CONFIG_DIR moves Claude Code's files; install, doctor and the home
// screen follow it.
func TestInstallFollowsClaudeConfigDir(t *testing.T) {
	b := startBroker(t)
	u := newUser(t, "cleo")
	alt := filepath.Join(t.TempDir(), "claude")
	u.env = append(u.env, "CLAUDE_CONFIG_DIR="+alt)
	u.claudeOnPath("0")
	u.must("mesh", "create", "Platform", "--broker", b.URL)
	u.must("install")
	for _, p := range []string{filepath.Join(alt, ".claude.json"), filepath.Join(alt, "settings.json")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("install did not write %s: %v", p, err)
		}
	}
	for _, p := range []string{u.claudeJSON(), u.settings()} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("install wrote %s although CLAUDE_CONFIG_DIR is set", p)
		}
	}
	if r := u.run("doctor"); r.code != 0 || !strings.Contains(r.stdout, "✓ MCP server entry") {
		t.Fatalf("doctor with CLAUDE_CONFIG_DIR:\n%s", r)
	}
	if r := u.must(); strings.Contains(r.stdout, "claudemesh install") {
		t.Fatalf("home screen still suggests install:\n%s", r)
	}
}

// Install works without Claude Code installed yet, and says how to get it.
func TestInstallWithoutClaudeSaysHowToGetIt(t *testing.T) {
	u := newUser(t, "noah")
	u.noClaudeOnPath()
	r := u.must("install")
	if !strings.Contains(r.stdout, "note: Claude Code (the `claude` command) is not on PATH") {
		t.Fatalf("install without claude:\n%s", r)
	}
	u.claudeOnPath("0")
	if r := u.must("uninstall"); strings.Contains(r.stdout, "note:") {
		t.Fatalf("uninstall printed a note:\n%s", r)
	}
}
