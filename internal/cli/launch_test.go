package cli

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestLaunchSessionIDsAreDistinctUUIDv4s(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newUUIDv4()
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("%q: not a fresh v4 UUID", id)
		}
		seen[id] = true
	}
}

// Every CLAUDEMESH_* setting is set exactly once, even when empty, so an
// enclosing launched session's values do not leak in; the rest is kept.
func TestLaunchEnvReplacesInheritedSettings(t *testing.T) {
	base := []string{"PATH=/bin", "CLAUDEMESH_ROLE=outer-role", "CLAUDEMESH_CONFIG_DIR=/c", "CLAUDEMESH_SESSION_ID=outer", "TERM=xterm"}
	env := launchEnv(base, launchSettings{sessionID: "inner", name: "bob", mode: "push", meshID: "m1"})
	want := []string{"PATH=/bin", "CLAUDEMESH_CONFIG_DIR=/c", "TERM=xterm",
		"CLAUDEMESH_SESSION_ID=inner", "CLAUDEMESH_DISPLAY_NAME=bob", "CLAUDEMESH_ROLE=", "CLAUDEMESH_GROUPS=",
		"CLAUDEMESH_MESSAGE_MODE=push", "CLAUDEMESH_MESH=m1"}
	if !slices.Equal(env, want) {
		t.Fatalf("env\n got %q\nwant %q", env, want)
	}
}

// The prompter takes an empty answer or EOF as the default, asks again
// after a bad answer, and reads no byte past the last answer: the rest of
// stdin is Claude Code's.
func TestLaunchPrompterAnswersDefaultsAndLeftovers(t *testing.T) {
	mustBeShort := func(s string) error {
		if len(s) > 3 {
			return io.ErrShortBuffer
		}
		return nil
	}
	cases := []struct {
		name, stdin string
		want        []string
		rest        string
	}{
		{"answers", "abc\n  d \nrest for claude", []string{"abc", "d"}, "rest for claude"},
		{"empty answer is the default", "\nxy\n", []string{"def", "xy"}, ""},
		{"bad answer asked again", "toolong\nok\n\n", []string{"ok", "def"}, ""},
		{"EOF mid-way", "ab", []string{"ab", "def"}, ""},
		{"EOF at once", "", []string{"def", "def"}, ""},
	}
	for _, c := range cases {
		in := strings.NewReader(c.stdin)
		var out bytes.Buffer
		p := &prompter{ctx: context.Background(), in: in, out: &out}
		var got []string
		for range 2 {
			ans, err := p.ask("Q", "def", "def", mustBeShort)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ans)
		}
		rest, _ := io.ReadAll(in)
		if !slices.Equal(got, c.want) || string(rest) != c.rest {
			t.Errorf("%s: answers %q, left %q; want %q, %q\n%s", c.name, got, rest, c.want, c.rest, out.String())
		}
		if strings.Contains(c.name, "bad") && !strings.Contains(out.String(), io.ErrShortBuffer.Error()) {
			t.Errorf("%s: the reason was not shown:\n%s", c.name, out.String())
		}
	}
}

// Ctrl-C (a cancelled context) ends a prompt blocked on a terminal.
func TestLaunchPrompterStopsOnInterrupt(t *testing.T) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &prompter{ctx: ctx, in: pr, out: io.Discard}
	if _, err := p.ask("Q", "", "", func(string) error { return nil }); err != errInterrupted {
		t.Fatalf("got %v, want errInterrupted", err)
	}
}

// The exit code is Claude Code's; a death by signal n is 128+n.
func TestLaunchReturnsTheChildsExitCode(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cases := []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
	}
	for _, c := range cases {
		code, err := runChild(sh, []string{"-c", c.script}, nil, strings.NewReader(""), io.Discard, io.Discard)
		if err != nil || code != c.want {
			t.Errorf("%s: %d, %v; want %d", c.script, code, err, c.want)
		}
	}
	if _, err := runChild("/nonexistent/claude", nil, nil, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("starting a missing binary is not an error")
	}
}

// A default display name (config displayName or $USER), taken by -y or an
// empty answer, passes the same check as --name: it is shown to peers.
func TestLaunchDefaultDisplayNameIsChecked(t *testing.T) {
	none := func(string) bool { return false }
	cases := []struct {
		name, configName, stdin string
		yes                     bool
		wantErr                 string
	}{
		{"-y, control characters", "eve\x1b[2J", "", true, "must not contain control characters"},
		{"empty answer, too long", strings.Repeat("n", 129), "\n\n\n\n", false, "at most 128"},
		{"-y, a good default", "alice", "", true, ""},
	}
	for _, c := range cases {
		a := &App{Stdout: io.Discard, Getenv: func(string) string { return "" }}
		p := &prompter{ctx: context.Background(), in: strings.NewReader(c.stdin), out: io.Discard}
		s, err := a.launchWizard(p, &cliconfig.File{DisplayName: c.configName}, launchOpts{yes: c.yes}, none)
		switch {
		case c.wantErr == "" && (err != nil || s.name != c.configName):
			t.Errorf("%s: %q, %v", c.name, s.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "--name")):
			t.Errorf("%s: error %v, want one saying %q and naming --name", c.name, err, c.wantErr)
		}
	}
}
