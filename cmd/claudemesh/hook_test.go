package main_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// hookRunLimit is what cli.md promises: a hook never holds Claude Code up
// for more than about 1.5 s.
const hookRunLimit = 1500 * time.Millisecond

// hookPayload is a Claude Code UserPromptSubmit hook input; empty fields
// are left out.
func hookPayload(t *testing.T, sessionID, cwd string) string {
	t.Helper()
	p := map[string]string{"session_id": sessionID, "transcript_path": "/home/u/.claude/projects/x/" + sessionID + ".jsonl",
		"cwd": cwd, "hook_event_name": "UserPromptSubmit", "prompt": "please review the API change"}
	for k, v := range p {
		if v == "" {
			delete(p, k)
		}
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// hookRun runs `claudemesh <args>` as Claude Code runs a hook: payload on a
// stdin pipe that is closed after it, or kept open until the process ends
// (keepOpen), from directory dir ("" for the test's). It returns the result
// and how long the process took.
func (u *user) hookRun(payload string, keepOpen bool, dir string, args ...string) (result, time.Duration) {
	u.t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		u.t.Fatal(err)
	}
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Env = append([]string{"CLAUDEMESH_CONFIG_DIR=" + u.dir, "HOME=" + u.home, "USER=" + u.name,
		"PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, u.env...)
	cmd.Dir = dir
	cmd.Stdin = pr
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	pr.Close()
	if _, err := pw.WriteString(payload); err != nil {
		u.t.Fatalf("writing the hook payload: %v", err)
	}
	if !keepOpen {
		pw.Close()
	}
	err = cmd.Wait()
	took := time.Since(start)
	r := result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
	if err != nil && r.code <= 0 {
		u.t.Fatalf("claudemesh %v: %v", args, err)
	}
	return r, took
}

// hookSession is a live (non-ephemeral) session of u's sole mesh with a
// chosen session id and cwd, as Claude Code's bridge holds one.
func (u *user) hookSession(t *testing.T, sessionID, cwd string) *client.Client {
	t.Helper()
	m := u.soleMesh()
	key, err := protocol.ParseSecretKeyHex(m.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{BrokerURL: m.BrokerURL, MeshID: m.MeshID, MemberID: m.MemberID, MemberKey: key,
		SessionID: sessionID, DisplayName: "cc-" + filepath.Base(cwd), PeerType: "ai", Channel: "claude-code", CWD: cwd})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); c.Close() })
	pollUntil(t, sessionID+" connected", func() bool { return c.HelloAck().PresenceID != "" })
	return c
}

// sessionStatus is the status and its source that list_peers shows for
// the session with this id.
func sessionStatus(t *testing.T, c *client.Client, sessionID string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := c.ListPeers(ctx)
	if err != nil {
		t.Fatalf("list_peers: %v", err)
	}
	for _, p := range peers {
		if p.SessionID == sessionID {
			return p.Status, p.StatusSource
		}
	}
	t.Fatalf("session %s is not in list_peers", sessionID)
	return "", ""
}

func waitStatus(t *testing.T, c *client.Client, sessionID, want string) {
	t.Helper()
	pollUntil(t, "session "+sessionID+" "+want+" by hook", func() bool {
		status, source := sessionStatus(t, c, sessionID)
		return status == want && source == "hook"
	})
}

func realDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The hook, fed what Claude Code feeds it, flips the session with the
// payload's session_id to working, then back to idle; the user's other
// session is untouched. It prints nothing.
func TestHookWorkingThenIdleFlipsTheSessionOnTheBroker(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	olivia.createMesh(b, "Platform")
	const sid = "9b2e7c4a-1f3d-4e8b-a6c5-3d2f1e0a9b8c"
	sess := olivia.hookSession(t, sid, realDir(t))
	other := olivia.hookSession(t, "5f0e1d2c-3b4a-4968-8776-655443322110", realDir(t))
	if status, _ := sessionStatus(t, sess, sid); status != "idle" {
		t.Fatalf("a new session is %q, want idle", status)
	}
	for _, status := range []string{"working", "idle"} {
		r, took := olivia.hookRun(hookPayload(t, sid, "/somewhere/else"), false, "", "hook", status)
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Fatalf("hook %s: %s", status, r)
		}
		waitStatus(t, sess, sid, status)
		t.Logf("hook %s took %v", status, took)
	}
	if status, source := sessionStatus(t, sess, other.SessionID()); status != "idle" || source == "hook" {
		t.Fatalf("the other session is %s (%s), want untouched", status, source)
	}
}

// No session has the payload's session_id: the broker matches the cwd of
// the payload, or, when the payload has none, the hook's own directory.
func TestHookFallsBackToTheWorkingDirectory(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	olivia.createMesh(b, "Platform")
	dirA, dirB := realDir(t), realDir(t)
	sessA := olivia.hookSession(t, "session-a", dirA)
	olivia.hookSession(t, "session-b", dirB)
	cases := []struct {
		name, payload, runIn, flips string
	}{
		{"unknown session id, cwd in the payload", hookPayload(t, "not-a-live-session", dirA), "", "session-a"},
		{"no cwd in the payload: the hook's directory", hookPayload(t, "not-a-live-session", ""), dirB, "session-b"},
		{"no JSON at all: the hook's directory", "", dirA, "session-a"},
	}
	for _, c := range cases {
		r, _ := olivia.hookRun(c.payload, false, c.runIn, "hook", "working")
		if r.code != 0 || r.stdout+r.stderr != "" {
			t.Fatalf("%s: %s", c.name, r)
		}
		waitStatus(t, sessA, c.flips, "working")
		olivia.hookRun(c.payload, false, c.runIn, "hook", "idle")
		waitStatus(t, sessA, c.flips, "idle")
	}
}

// silentBrokerAddr accepts connections and never answers.
func silentBrokerAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// joinedOffline gives u a mesh whose broker is at url (nothing need run
// there): the config as join would have written it.
func (u *user) joinedOffline(url string) {
	u.t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	err := cliconfig.Update(u.dir, func(f *cliconfig.File) error {
		f.Upsert(cliconfig.Mesh{MeshID: "mesh-" + hex.EncodeToString(pub[:4]), MemberID: "member-1", Slug: "offline-" + hex.EncodeToString(pub[:2]),
			Name: "Offline", Pubkey: hex.EncodeToString(pub), SecretKey: hex.EncodeToString(priv), BrokerURL: url, Role: "member"})
		return nil
	})
	if err != nil {
		u.t.Fatal(err)
	}
}

// Whatever goes wrong (broker down or silent, stdin never closed, a bad
// status word, no config), the hook exits 0 within 1.5 s and prints nothing.
func TestHookNeverHoldsUpClaudeCode(t *testing.T) {
	dead, silent := deadBrokerURL(t), silentBrokerAddr(t)
	payload := hookPayload(t, "7c9e6679-7425-40de-944b-e07fc1f90ae7", "/work/app")
	cases := []struct {
		name     string
		brokers  []string
		payload  string
		keepOpen bool
		args     []string
	}{
		{"broker down", []string{dead}, payload, false, []string{"hook", "working"}},
		{"broker down, stdin never closed", []string{dead}, payload, true, []string{"hook", "working"}},
		{"broker down, stdin never closed and empty", []string{dead}, "", true, []string{"hook", "idle"}},
		{"silent broker, stdin never closed and empty", []string{silent}, "", true, []string{"hook", "working"}},
		{"a silent and a dead broker", []string{silent, dead}, payload, false, []string{"hook", "idle"}},
		{"bad status word", []string{dead}, payload, false, []string{"hook", "dnd"}},
		{"no status word", []string{dead}, payload, false, []string{"hook"}},
		{"unknown flag", []string{dead}, payload, false, []string{"hook", "--no-such-flag", "working"}},
		{"garbage on stdin", []string{dead}, "\x00{{{not json", false, []string{"hook", "working"}},
		{"no config at all", nil, payload, false, []string{"hook", "working"}},
	}
	for _, c := range cases {
		u := newUser(t, "olivia")
		for _, url := range c.brokers {
			u.joinedOffline(url)
		}
		r, took := u.hookRun(c.payload, c.keepOpen, "", c.args...)
		t.Logf("%s: %v", c.name, took)
		if r.code != 0 || r.stdout != "" || r.stderr != "" || took > hookRunLimit {
			t.Errorf("%s: took %v (limit %v), %s", c.name, took, hookRunLimit, r)
		}
	}
}

// CLAUDEMESH_HOOK_DEBUG=1 makes the hook say what happened, on stderr only.
func TestHookDebugSaysWhatHappened(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	olivia.createMesh(b, "Platform")
	olivia.hookSession(t, "dbg-session", realDir(t))
	olivia.env = append(olivia.env, "CLAUDEMESH_HOOK_DEBUG=1")
	r, _ := olivia.hookRun(hookPayload(t, "dbg-session", ""), false, "", "hook", "working")
	if r.code != 0 || r.stdout != "" || !bytes.Contains([]byte(r.stderr), []byte("matched session")) {
		t.Fatalf("%s", r)
	}
}
