package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// A real UserPromptSubmit payload's shape, with the prompt last as Claude
// Code sends it.
const promptPayload = `{"session_id":"2d6f0c1e-4b7a-4c1e-9a55-0f8a3c2b7d10","transcript_path":"/home/o/.claude/projects/-work-app/2d6f0c1e.jsonl",` +
	`"cwd":"/work/app","hook_event_name":"UserPromptSubmit","prompt":"fix the tests"}`

func TestHookParsesTheHookJSONEvenWhenCut(t *testing.T) {
	full := hookInput{SessionID: "2d6f0c1e-4b7a-4c1e-9a55-0f8a3c2b7d10", CWD: "/work/app", Event: "UserPromptSubmit"}
	cut := promptPayload[:strings.Index(promptPayload, `"fix`)+4] // inside the prompt, as the 256 KiB limit would cut it
	cases := []struct {
		name, in string
		want     hookInput
	}{
		{"full payload", promptPayload, full},
		{"cut inside the prompt", cut, full},
		{"cut inside cwd", promptPayload[:strings.Index(promptPayload, `/work/app`)+3], hookInput{SessionID: full.SessionID}},
		{"Stop event, other fields nested", `{"session_id":"s","stop_hook_active":false,"extra":{"cwd":"/nested"},"cwd":"/w","hook_event_name":"Stop"}`,
			hookInput{SessionID: "s", CWD: "/w", Event: "Stop"}},
		{"a number where a string belongs", `{"session_id":7,"cwd":"/w"}`, hookInput{CWD: "/w"}},
		{"empty", ``, hookInput{}},
		{"not an object", `["session_id","s"]`, hookInput{}},
		{"garbage", `session_id=s`, hookInput{}},
	}
	for _, c := range cases {
		if got := parseHookInput([]byte(c.in)); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// stdin that is never closed: a whole JSON value ends the read at once; no
// value ends it at the wait; the size limit caps it.
func TestHookReadsStdinWithoutWaitingForItsEnd(t *testing.T) {
	ctx := context.Background()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { // two writes: an io.Pipe hands each to a separate Read
		pw.Write([]byte(promptPayload[:40]))
		pw.Write([]byte(promptPayload[40:]))
	}()
	got := make(chan []byte, 1)
	go func() { got <- readHookInput(ctx, pr, hookMaxInput, time.Minute) }()
	select {
	case data := <-got:
		if string(data) != promptPayload {
			t.Fatalf("read %q", data)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a whole payload on a pipe that stays open did not end the read")
	}

	silent, silentW := io.Pipe()
	t.Cleanup(func() { silentW.Close() })
	start := time.Now()
	if data := readHookInput(ctx, silent, hookMaxInput, 50*time.Millisecond); len(data) != 0 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("silent stdin: read %q after %v", data, time.Since(start))
	}

	huge := `{"session_id":"s","cwd":"/w","prompt":"` + strings.Repeat("x", 300<<10) + `"}`
	data := readHookInput(ctx, strings.NewReader(huge), hookMaxInput, time.Minute)
	if len(data) != hookMaxInput {
		t.Fatalf("read %d bytes of a %d-byte payload, want the %d-byte limit", len(data), len(huge), hookMaxInput)
	}
	if in := parseHookInput(data); in.SessionID != "s" || in.CWD != "/w" {
		t.Fatalf("cut payload parsed as %+v", in)
	}
}

// hookRecorder is a broker stand-in that records the hook bodies it gets.
type hookRecorder struct {
	mu     sync.Mutex
	bodies []protocol.HookRequest
}

func (h *hookRecorder) server(t *testing.T, hang bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req protocol.HookRequest
		if r.URL.Path != "/hook/set-status" || r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"error":"malformed","message":"bad request"}`, http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, req)
		h.mu.Unlock()
		if hang {
			<-r.Context().Done() // a broker that accepts and never answers
			return
		}
		w.Write([]byte(`{"ok":true,"matched":"session"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (h *hookRecorder) got() []protocol.HookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]protocol.HookRequest(nil), h.bodies...)
}

// hookConfig writes a config with one mesh per broker URL.
func hookConfig(t *testing.T, brokers ...string) string {
	t.Helper()
	dir := t.TempDir()
	err := cliconfig.Update(dir, func(f *cliconfig.File) error {
		for i, b := range brokers {
			pub, priv, _ := ed25519.GenerateKey(rand.Reader)
			f.Upsert(cliconfig.Mesh{MeshID: "mesh-" + string(rune('a'+i)), MemberID: "mem-" + string(rune('a'+i)),
				Slug: "slug-" + string(rune('a'+i)), Name: "Mesh", Pubkey: hex.EncodeToString(pub),
				SecretKey: hex.EncodeToString(priv), BrokerURL: b, Role: "member"})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func hookApp(stdin string, env map[string]string) (*App, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &App{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Now: time.Now}, &out, &errb
}

// Every joined mesh gets a request signed by its member key; a broker that
// never answers holds up neither the others nor the hook beyond its budget.
func TestHookSignsOneRequestPerMeshConcurrently(t *testing.T) {
	var fast, slow hookRecorder
	// The silent broker comes first: posted one after the other, the second
	// mesh would get nothing within the budget.
	dir := hookConfig(t, slow.server(t, true).URL, fast.server(t, false).URL)
	a, out, errb := hookApp(promptPayload, map[string]string{"CLAUDEMESH_CONFIG_DIR": dir})
	start := time.Now()
	if code := a.Run(context.Background(), []string{"hook", "working"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if took := time.Since(start); took > hookBudget+200*time.Millisecond {
		t.Fatalf("the hook took %v with a broker that never answers; budget %v", took, hookBudget)
	}
	if out.Len()+errb.Len() != 0 {
		t.Fatalf("the hook printed %q / %q", out, errb)
	}
	f, err := cliconfig.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range []*hookRecorder{&slow, &fast} {
		got := rec.got()
		m := f.Meshes[i]
		if len(got) != 1 {
			t.Fatalf("mesh %s got %d requests, want 1", m.Slug, len(got))
		}
		r := got[0]
		if r.MeshID != m.MeshID || r.MemberID != m.MemberID || r.Pubkey != m.Pubkey || r.Status != "working" ||
			r.SessionID != "2d6f0c1e-4b7a-4c1e-9a55-0f8a3c2b7d10" || r.CWD != "/work/app" ||
			time.Since(time.UnixMilli(r.Timestamp)) > time.Minute {
			t.Fatalf("mesh %s got %+v", m.Slug, r)
		}
		if !protocol.VerifyHex(m.Pubkey, protocol.HookCanonical(r.MeshID, r.MemberID, r.SessionID, r.Status, r.Timestamp), r.Signature) {
			t.Fatalf("mesh %s: signature does not verify over the hook canonical string", m.Slug)
		}
	}
}

// CLAUDEMESH_MESH (set by launch) limits the hook to that mesh, and
// CLAUDEMESH_SESSION_ID is the session id the bridge uses.
func TestHookFollowsTheLaunchEnvironment(t *testing.T) {
	var a1, b1 hookRecorder
	dir := hookConfig(t, a1.server(t, false).URL, b1.server(t, false).URL)
	app, _, _ := hookApp(`{"session_id":"claude-code-id","cwd":"/w"}`, map[string]string{"CLAUDEMESH_CONFIG_DIR": dir,
		"CLAUDEMESH_MESH": "slug-b", "CLAUDEMESH_SESSION_ID": "launched-id"})
	if code := app.Run(context.Background(), []string{"hook", "idle"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if n := len(a1.got()); n != 0 {
		t.Fatalf("the mesh not named by CLAUDEMESH_MESH got %d requests", n)
	}
	if got := b1.got(); len(got) != 1 || got[0].SessionID != "launched-id" || got[0].Status != "idle" {
		t.Fatalf("named mesh got %+v", got)
	}
}

// Whatever goes wrong, the hook exits 0 and prints nothing, unless
// CLAUDEMESH_HOOK_DEBUG asks it to say why on stderr.
func TestHookAlwaysExitsZeroAndStaysQuiet(t *testing.T) {
	var rec hookRecorder
	good := hookConfig(t, rec.server(t, false).URL)
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "config.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, stdin, dir string
		args             []string
		debugSays        string
	}{
		{"no status", promptPayload, good, []string{"hook"}, "status must be working or idle"},
		{"dnd is not a hook status", promptPayload, good, []string{"hook", "dnd"}, `got "dnd"`},
		{"unknown flags only", promptPayload, good, []string{"hook", "--future", "-x"}, "status must be"},
		{"garbage stdin, no mesh joined", "\x00\xff", t.TempDir(), []string{"hook", "working"}, "no mesh joined"},
		{"config does not parse", promptPayload, broken, []string{"hook", "idle"}, "config.json"},
	}
	for _, c := range cases {
		for _, debug := range []string{"", "1"} {
			a, out, errb := hookApp(c.stdin, map[string]string{"CLAUDEMESH_CONFIG_DIR": c.dir, hookDebugEnv: debug})
			if code := a.Run(context.Background(), c.args); code != 0 {
				t.Errorf("%s: exit %d", c.name, code)
			}
			switch {
			case out.Len() != 0:
				t.Errorf("%s: printed on stdout: %q", c.name, out)
			case debug == "" && errb.Len() != 0:
				t.Errorf("%s: printed on stderr without %s: %q", c.name, hookDebugEnv, errb)
			case debug != "" && !strings.Contains(errb.String(), c.debugSays):
				t.Errorf("%s: debug stderr %q does not say %q", c.name, errb, c.debugSays)
			}
		}
	}
	if n := len(rec.got()); n != 0 {
		t.Fatalf("a bad status word still sent %d requests", n)
	}
	// An unknown flag before the status does not stop the report.
	a, out, errb := hookApp(promptPayload, map[string]string{"CLAUDEMESH_CONFIG_DIR": good})
	if code := a.Run(context.Background(), []string{"hook", "--from-a-newer-install", "working"}); code != 0 || out.Len()+errb.Len() != 0 {
		t.Fatalf("exit %d, printed %q / %q", code, out, errb)
	}
	if got := rec.got(); len(got) != 1 || got[0].Status != "working" {
		t.Fatalf("after an unknown flag: %+v", got)
	}
}

// A CLAUDEMESH_MESH that names a mesh left since sends nothing: not a
// status to every other mesh.
func TestHookSendsNothingWhenTheLaunchMeshIsGone(t *testing.T) {
	var a1, b1 hookRecorder
	dir := hookConfig(t, a1.server(t, false).URL, b1.server(t, false).URL)
	app, _, errb := hookApp(promptPayload, map[string]string{"CLAUDEMESH_CONFIG_DIR": dir,
		"CLAUDEMESH_MESH": "slug-left", hookDebugEnv: "1"})
	if code := app.Run(context.Background(), []string{"hook", "working"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if n := len(a1.got()) + len(b1.got()); n != 0 {
		t.Fatalf("%d requests sent for a mesh that is not joined", n)
	}
	if !strings.Contains(errb.String(), "slug-left is not a joined mesh") {
		t.Fatalf("debug output %q", errb)
	}
}

// The cwd sent is $CLAUDE_PROJECT_DIR (the project root, where the bridge
// started), else the payload's, else the process's.
func TestHookCWDPrefersClaudeProjectDir(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ projectDir, payload, want string }{
		{"/src/app", "/src/app/pkg/sub", "/src/app"},
		{"", "/src/app/pkg", "/src/app/pkg"},
		{"", "", wd},
	}
	for _, c := range cases {
		var rec hookRecorder
		dir := hookConfig(t, rec.server(t, false).URL)
		payload := `{"session_id":"s1"}`
		if c.payload != "" {
			payload = `{"session_id":"s1","cwd":"` + c.payload + `"}`
		}
		app, _, _ := hookApp(payload, map[string]string{"CLAUDEMESH_CONFIG_DIR": dir, "CLAUDE_PROJECT_DIR": c.projectDir})
		if code := app.Run(context.Background(), []string{"hook", "idle"}); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if got := rec.got(); len(got) != 1 || got[0].CWD != c.want {
			t.Fatalf("project dir %q, payload cwd %q: sent %+v, want cwd %q", c.projectDir, c.payload, got, c.want)
		}
	}
}
