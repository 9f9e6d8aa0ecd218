package main_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/claudecode"
)

var launchEnvNames = []string{claudecode.EnvSessionID, claudecode.EnvDisplayName, claudecode.EnvRole,
	claudecode.EnvGroups, claudecode.EnvMessageMode, claudecode.EnvMesh, "FAKE_INHERITED"}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// fakeClaude is a `claude` on u's PATH that records its arguments, the
// launch environment and (with FAKE_CLAUDE_READ_STDIN=1) its stdin, then
// waits for $FAKE_CLAUDE_WAIT_FOR to exist if set, and exits with
// $FAKE_CLAUDE_EXIT (default 7).
type fakeClaude struct {
	t   *testing.T
	rec string // path prefix of the record files
}

func (u *user) fakeClaude(t *testing.T) *fakeClaude {
	t.Helper()
	dir := t.TempDir()
	f := &fakeClaude{t: t, rec: filepath.Join(dir, "record")}
	var env strings.Builder
	for _, name := range launchEnvNames {
		fmt.Fprintf(&env, "if [ \"${%[1]s+set}\" = set ]; then printf '%[1]s=%%s\\0' \"$%[1]s\" >> \"$rec.env\"; fi\n", name)
	}
	script := "#!/bin/sh\nrec=" + shellQuote(f.rec) + "\n" +
		": > \"$rec.args\"\nfor a in \"$@\"; do printf '%s\\0' \"$a\" >> \"$rec.args\"; done\n" +
		": > \"$rec.env\"\n" + env.String() +
		"if [ \"$FAKE_CLAUDE_READ_STDIN\" = 1 ]; then cat > \"$rec.stdin\"; fi\n" +
		": > \"$rec.started\"\n" +
		"if [ -n \"$FAKE_CLAUDE_WAIT_FOR\" ]; then while [ ! -e \"$FAKE_CLAUDE_WAIT_FOR\" ]; do sleep 0.02; done; fi\n" +
		"exit \"${FAKE_CLAUDE_EXIT:-7}\"\n"
	if err := os.WriteFile(filepath.Join(dir, "claude"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	u.env = append(u.env, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE_INHERITED=kept")
	return f
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ran reports whether claude was started since the last reset.
func (f *fakeClaude) ran() bool {
	_, err := os.Stat(f.rec + ".started")
	return err == nil
}

func (f *fakeClaude) reset() {
	for _, ext := range []string{".args", ".env", ".stdin", ".started"} {
		os.Remove(f.rec + ext)
	}
}

// record is what the last run of claude got.
func (f *fakeClaude) record() (args []string, env map[string]string) {
	f.t.Helper()
	read := func(ext string) []string {
		data, err := os.ReadFile(f.rec + ext)
		if err != nil {
			f.t.Fatalf("claude did not run: %v", err)
		}
		if len(data) == 0 {
			return nil
		}
		return strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
	}
	args = read(".args")
	env = map[string]string{}
	for _, kv := range read(".env") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return args, env
}

// registerBridge runs `claudemesh install`, so launch finds Claude Code
// wired (it warns otherwise).
func (u *user) registerBridge() {
	u.t.Helper()
	u.must("install")
}

// checkLaunched checks the fixed part of claude's argv and returns the
// session id and the arguments after it.
func checkLaunched(t *testing.T, args []string, env map[string]string) (string, []string) {
	t.Helper()
	if len(args) < 4 || !slices.Equal(args[:3], []string{"--dangerously-load-development-channels", "server:claudemesh", "--session-id"}) {
		t.Fatalf("claude argv = %q", args)
	}
	id := args[3]
	if !uuidV4.MatchString(id) {
		t.Fatalf("--session-id %q is not a v4 UUID", id)
	}
	if env[claudecode.EnvSessionID] != id {
		t.Fatalf("%s=%q, argv session id %q", claudecode.EnvSessionID, env[claudecode.EnvSessionID], id)
	}
	if env["FAKE_INHERITED"] != "kept" {
		t.Fatalf("the inherited environment was not passed on: %v", env)
	}
	return id, args[4:]
}

// launch hands Claude Code the exact argv and environment for each flag
// combination, exits with claude's code, prints the banner, and warns
// only when the bridge is not registered in ~/.claude.json.
func TestLaunchRunsClaudeWithTheSessionSettings(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	meshID := olivia.createMesh(b, "Platform")
	slug := olivia.soleMesh().Slug
	fake := olivia.fakeClaude(t)
	cases := []struct {
		name      string
		args      []string
		stdin     string
		installed bool
		extra     []string
		env       map[string]string
	}{
		{"-y takes every default", []string{"launch", "-y"}, "", true, nil,
			map[string]string{"CLAUDEMESH_DISPLAY_NAME": "olivia", "CLAUDEMESH_ROLE": "", "CLAUDEMESH_GROUPS": "", "CLAUDEMESH_MESSAGE_MODE": "push"}},
		{"every flag, claude arguments after --", []string{"launch", "--name", "alice-api", "--role", "API reviewer", "--groups", " backend:lead, ops ",
			"--message-mode", "inbox", "-y", "--", "--model", "opus", "-p", "two words", "--", "-y"}, "", true,
			[]string{"--model", "opus", "-p", "two words", "--", "-y"},
			map[string]string{"CLAUDEMESH_DISPLAY_NAME": "alice-api", "CLAUDEMESH_ROLE": "API reviewer", "CLAUDEMESH_GROUPS": "backend:lead,ops", "CLAUDEMESH_MESSAGE_MODE": "inbox"}},
		{"--mesh by slug, the rest from an empty stdin", []string{"launch", "--mesh", slug, "--message-mode", "off", "--name", "bob", "--", "--verbose"}, "", true,
			[]string{"--verbose"},
			map[string]string{"CLAUDEMESH_DISPLAY_NAME": "bob", "CLAUDEMESH_ROLE": "", "CLAUDEMESH_GROUPS": "", "CLAUDEMESH_MESSAGE_MODE": "off"}},
		{"no bridge in ~/.claude.json: warns, launches anyway", []string{"launch", "-y", "--groups", "ops"}, "", false, nil,
			map[string]string{"CLAUDEMESH_DISPLAY_NAME": "olivia", "CLAUDEMESH_ROLE": "", "CLAUDEMESH_GROUPS": "ops", "CLAUDEMESH_MESSAGE_MODE": "push"}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		fake.reset()
		os.Remove(filepath.Join(olivia.home, ".claude.json"))
		if c.installed {
			olivia.registerBridge()
		}
		r := olivia.runIn(c.stdin, c.args...)
		if r.code != 7 {
			t.Fatalf("%s: want claude's exit code 7, got %s", c.name, r)
		}
		args, env := fake.record()
		id, extra := checkLaunched(t, args, env)
		if !slices.Equal(extra, c.extra) {
			t.Errorf("%s: arguments after the session id %q, want %q", c.name, extra, c.extra)
		}
		c.env[claudecode.EnvMesh] = meshID
		for k, want := range c.env {
			if got, ok := env[k]; !ok || got != want {
				t.Errorf("%s: %s=%q (set %v), want %q", c.name, k, got, ok, want)
			}
		}
		if seen[id] {
			t.Errorf("%s: session id %s was used before", c.name, id)
		}
		seen[id] = true
		for _, part := range []string{"Launching Claude Code on", slug, c.env["CLAUDEMESH_DISPLAY_NAME"], c.env["CLAUDEMESH_MESSAGE_MODE"] + ":", id, "untrusted text"} {
			if !strings.Contains(r.stdout, part) {
				t.Errorf("%s: the banner does not show %q:\n%s", c.name, part, r.stdout)
			}
		}
		if warned := strings.Contains(r.stderr, "claudemesh install"); warned == c.installed {
			t.Errorf("%s: bridge installed %v, warned %v:\n%s", c.name, c.installed, warned, r)
		}
	}
}

// The wizard asks for the mesh and every setting no flag gave, uses the
// answers fed on stdin, asks again after a bad one, and leaves the rest of
// stdin to Claude Code.
func TestLaunchWizardUsesTheAnswers(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	platform := olivia.createMesh(b, "Platform")
	infra := olivia.createMesh(b, "Infra")
	olivia.registerBridge()
	fake := olivia.fakeClaude(t)
	olivia.env = append(olivia.env, "FAKE_CLAUDE_READ_STDIN=1")
	cases := []struct {
		name, stdin string
		args        []string
		mesh        string
		env         map[string]string
		said        []string // in the prompts' output
		claudeStdin string
	}{
		{"every answer given", "2\nalice\nreviewer\nfrontend:lead,ops\ninbox\nhello claude\n", []string{"launch"}, infra,
			map[string]string{"CLAUDEMESH_DISPLAY_NAME": "alice", "CLAUDEMESH_ROLE": "reviewer", "CLAUDEMESH_GROUPS": "frontend:lead,ops", "CLAUDEMESH_MESSAGE_MODE": "inbox"},
			[]string{"Which mesh?", "Platform", "Infra", "Display name [olivia]", "Message mode"}, "hello claude\n"},
		{"bad answers asked again, empty ones take the defaults", "9\nplatform\n\n\nNot A Group!\n\nloud\n\n", []string{"launch"}, platform,
			map[string]string{"CLAUDEMESH_DISPLAY_NAME": "olivia", "CLAUDEMESH_ROLE": "", "CLAUDEMESH_GROUPS": "", "CLAUDEMESH_MESSAGE_MODE": "push"},
			[]string{"pick a number from 1 to 2", `group "Not A Group!"`, `got "loud"`}, ""},
		{"flags skip their questions", "ops\n", []string{"launch", "--mesh", "infra", "--name", "bob", "--role", "", "--message-mode", "off"}, infra,
			map[string]string{"CLAUDEMESH_DISPLAY_NAME": "bob", "CLAUDEMESH_ROLE": "", "CLAUDEMESH_GROUPS": "ops", "CLAUDEMESH_MESSAGE_MODE": "off"},
			[]string{"Groups"}, ""},
	}
	for _, c := range cases {
		fake.reset()
		r := olivia.runIn(c.stdin, c.args...)
		if r.code != 7 {
			t.Fatalf("%s: %s", c.name, r)
		}
		args, env := fake.record()
		checkLaunched(t, args, env)
		c.env[claudecode.EnvMesh] = c.mesh
		for k, want := range c.env {
			if env[k] != want {
				t.Errorf("%s: %s=%q, want %q", c.name, k, env[k], want)
			}
		}
		for _, part := range c.said {
			if !strings.Contains(r.stdout, part) {
				t.Errorf("%s: the prompts do not say %q:\n%s", c.name, part, r.stdout)
			}
		}
		if strings.Contains(c.name, "flags skip") && (strings.Contains(r.stdout, "Display name") || strings.Contains(r.stdout, "Which mesh")) {
			t.Errorf("%s: asked for something a flag gave:\n%s", c.name, r.stdout)
		}
		if got, _ := os.ReadFile(fake.rec + ".stdin"); string(got) != c.claudeStdin {
			t.Errorf("%s: claude's stdin %q, want %q", c.name, got, c.claudeStdin)
		}
	}
	// Several meshes, -y and no --mesh: nothing to guess, nothing launched.
	fake.reset()
	if r := olivia.run("launch", "-y"); r.code != 1 || !strings.Contains(r.stderr, "--mesh") || fake.ran() {
		t.Fatalf("launch -y with two meshes: %s", r)
	}
}

// No `claude` on PATH: the install hint, exit 1, and no question asked.
func TestLaunchWithoutClaudeOnPath(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	olivia.createMesh(b, "Platform")
	olivia.env = append(olivia.env, "PATH="+t.TempDir())
	r := olivia.runIn("alice\n", "launch")
	if r.code != 1 || !strings.Contains(r.stderr, claudecode.InstallHint) || r.stdout != "" {
		t.Fatalf("want exit 1 with the install hint and no prompt, got %s", r)
	}
}

// Bad flags are usage errors (exit 2) naming the problem; claude never runs.
func TestLaunchUsageErrors(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	olivia.createMesh(b, "Platform")
	fake := olivia.fakeClaude(t)
	cases := []struct {
		args []string
		says string
	}{
		{[]string{"launch", "-y", "--message-mode", "loud"}, `--message-mode: message mode must be push, inbox or off, got "loud"`},
		{[]string{"launch", "-y", "--groups", "ops,Bad Group"}, `--groups: group "Bad Group"`},
		{[]string{"launch", "-y", "--groups", "ops,ops"}, `"ops" is listed twice`},
		{[]string{"launch", "-y", "--name", "  "}, "--name: the display name must not be empty"},
		{[]string{"launch", "-y", "--name", strings.Repeat("n", 129)}, "--name: the display name is 129 bytes; at most 128"},
		{[]string{"launch", "-y", "--role", "a\x1bb"}, "--role: the role must not contain control characters"},
		{[]string{"launch", "-y", "--model", "opus"}, "unknown flag: --model"},
		{[]string{"launch", "-y", "opus"}, "put Claude Code's arguments after --"},
		{[]string{"launch", "-y", "--", "--session-id", "x"}, "launch sets Claude Code's --session-id itself"},
		{[]string{"launch", "-y", "--", "--resume", "abc"}, "--resume cannot be passed after --: launch starts a new Claude Code session"},
		{[]string{"launch", "-y", "--", "--resume=abc"}, "--resume cannot be passed after --"},
		{[]string{"launch", "-y", "--", "--model", "opus", "-r"}, "-r cannot be passed after --"},
		{[]string{"launch", "-y", "--", "--continue"}, "--continue cannot be passed after --"},
		{[]string{"launch", "-y", "--", "-c"}, "-c cannot be passed after --"},
		{[]string{"launch", "-y", "--groups", "ops:lead\x1b[2J"}, `--groups: group "ops": the role must not contain control characters`},
	}
	for _, c := range cases {
		fake.reset()
		r := olivia.run(c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.says) || fake.ran() {
			t.Errorf("%q: want exit 2 saying %q, claude not run (ran %v); got %s", c.args, c.says, fake.ran(), r)
		}
	}
}

// While claude runs, Ctrl-C sent to launch does not end it (the terminal
// gives Claude Code its own); SIGTERM is passed on, and a death by signal
// is exit 128+n.
func TestLaunchWaitsThroughCtrlCAndForwardsSIGTERM(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	olivia.createMesh(b, "Platform")
	olivia.registerBridge()
	fake := olivia.fakeClaude(t)
	release := filepath.Join(t.TempDir(), "release")
	olivia.env = append(olivia.env, "FAKE_CLAUDE_WAIT_FOR="+release, "FAKE_CLAUDE_EXIT=3")
	start := func() (*exec.Cmd, *bytes.Buffer) {
		fake.reset()
		cmd := exec.Command(cliBin, "launch", "-y")
		cmd.Env = append([]string{"CLAUDEMESH_CONFIG_DIR=" + olivia.dir, "HOME=" + olivia.home, "USER=olivia", "NO_COLOR=1"}, olivia.env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		pollUntil(t, "claude started", fake.ran)
		return cmd, &out
	}
	exitCode := func(cmd *exec.Cmd) int {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			return cmd.ProcessState.ExitCode() // -1 if launch itself died of a signal
		case <-time.After(30 * time.Second):
			t.Fatal("launch did not exit")
			return 0
		}
	}

	cmd, out := start()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(cmd); code != 3 {
		t.Fatalf("after Ctrl-C, launch exited %d, want claude's 3\n%s", code, out)
	}
	os.Remove(release)

	cmd, out = start()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(cmd); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("after SIGTERM, launch exited %d, want %d (claude killed by the forwarded signal)\n%s", code, 128+int(syscall.SIGTERM), out)
	}
}
