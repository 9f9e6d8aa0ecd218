package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// peers --watch redraws until interrupted; Ctrl-C (SIGINT) exits 0. With
// --json each refresh is one line, so a newcomer shows up in a later line.
func TestPeersWatchUpdatesAndCtrlCExitsZero(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	olivia.liveSession(t, "olivia-cc")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, "peers", "--watch", "--json")
	cmd.Env = []string{"CLAUDEMESH_CONFIG_DIR=" + olivia.dir, "HOME=" + olivia.home, "USER=olivia", "NO_COLOR=1"}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	names := func() []string {
		if !lines.Scan() {
			t.Fatalf("peers --watch stopped printing: %v", lines.Err())
		}
		var peers []protocol.Peer
		if err := json.Unmarshal(lines.Bytes(), &peers); err != nil {
			t.Fatalf("a --watch --json line is not a JSON array: %v: %s", err, lines.Text())
		}
		var ns []string
		for _, p := range peers {
			ns = append(ns, p.DisplayName)
		}
		return ns
	}
	if first := names(); strings.Join(first, ",") != "olivia-cc" {
		t.Fatalf("first refresh = %v", first)
	}
	bob.liveSession(t, "bob-cc")
	for {
		if ns := names(); len(ns) == 2 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("peers --watch after Ctrl-C: %v, want exit 0", err)
	}
}

// The no-argument screen names one next step, and it is a command this
// build has.
func TestHomeSuggestsACommandThatExists(t *testing.T) {
	_, olivia, _ := twoUsers(t)
	r := olivia.must()
	if !strings.Contains(r.stdout, "mesh     platform") {
		t.Fatalf("home screen lacks the mesh:\n%s", r)
	}
	assertNextStepExists(t, olivia, r)
	// join ends with a next step too.
	inv := olivia.must("invite", "create", "--json")
	var link struct{ URL string }
	if err := json.Unmarshal([]byte(inv.stdout), &link); err != nil {
		t.Fatal(err)
	}
	carol := newUser(t, "carol")
	assertNextStepExists(t, carol, carol.must("join", link.URL, "-y"))
}

// assertNextStepExists checks that the "Next:" line names a real command.
func assertNextStepExists(t *testing.T, u *user, r result) {
	t.Helper()
	_, after, ok := strings.Cut(r.stdout, "Next:")
	lines := strings.SplitN(after, "\n", 3)
	if !ok || len(lines) < 2 {
		t.Fatalf("no next step:\n%s", r)
	}
	fields := strings.Fields(lines[1])
	if len(fields) < 2 || fields[0] != "claudemesh" {
		t.Fatalf("no next step command:\n%s", r)
	}
	if h := u.run(fields[1], "--help"); h.code != 0 || !strings.Contains(h.stdout, "Usage:\n  claudemesh "+fields[1]) {
		t.Fatalf("the suggested `claudemesh %s` is not a command of this build:\n%s", fields[1], h)
	}
}

// A config directory others can read is named on the home screen, which
// sends the user to doctor.
func TestHomeFlagsALooseConfigDirectory(t *testing.T) {
	_, olivia, _ := twoUsers(t)
	if err := os.Chmod(olivia.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := olivia.runUnchecked()
	if r.code != 0 || !strings.Contains(r.stdout, "chmod 700") || !strings.Contains(r.stdout, "claudemesh doctor") {
		t.Fatalf("home with a 0755 config directory:\n%s", r)
	}
}
