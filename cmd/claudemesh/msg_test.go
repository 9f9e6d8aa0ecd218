package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// twoUsers is a mesh created by olivia that bob joined with an invite,
// both through the binary.
func twoUsers(t *testing.T) (*testBroker, *user, *user) {
	t.Helper()
	b := startBroker(t)
	olivia, bob := twoUsersAt(t, b.URL)
	return b, olivia, bob
}

// twoUsersAt is olivia's mesh "Platform" on brokerURL, which bob joined.
func twoUsersAt(t *testing.T, brokerURL string) (*user, *user) {
	t.Helper()
	olivia, bob := newUser(t, "olivia"), newUser(t, "bob")
	olivia.must("mesh", "create", "Platform", "--broker", brokerURL)
	r := olivia.must("invite", "create", "--json")
	var inv struct{ URL string }
	if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil || inv.URL == "" {
		t.Fatalf("invite create --json: %v\n%s", err, r)
	}
	bob.must("join", inv.URL, "-y")
	return olivia, bob
}

func sendJSON(t *testing.T, u *user, args ...string) map[string]any {
	t.Helper()
	r := u.must(append([]string{"send", "--json"}, args...)...)
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("send --json: %v\n%s", err, r)
	}
	if id, _ := out["messageId"].(string); id == "" {
		t.Fatalf("send printed no messageId: %v", out)
	}
	return out
}

type inboxItem struct {
	MessageID, From, Kind, Group, Priority, Enc, SentAt, Text, Error string
}

func inboxJSON(t *testing.T, u *user, args ...string) []inboxItem {
	t.Helper()
	r := u.run(append([]string{"inbox", "--json"}, args...)...)
	var items []inboxItem
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
		t.Fatalf("inbox --json: %v\n%s", err, r)
	}
	return items
}

func TestDirectAndBroadcastBothWaysReachTheInbox(t *testing.T) {
	_, olivia, bob := twoUsers(t)

	dm := sendJSON(t, olivia, "bob", "hi bob, the deploy is done", "--priority", "now")
	if dm["enc"] != "box" || dm["recipients"] != float64(1) || dm["targetSpec"] != bob.soleMesh().Pubkey {
		t.Fatalf("a DM by name must be box-encrypted to bob's member key: %v", dm)
	}
	if r := olivia.must("send", "bob", "are you there?"); !strings.Contains(r.stdout, "bob has no live session") {
		t.Fatalf("a DM to an offline member must say it waits:\n%s", r)
	}
	r := bob.must("inbox")
	for _, want := range []string{"olivia", "hi bob, the deploy is done", "direct", "now", dm["messageId"].(string)} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("bob's inbox lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.stdout, "are you there?") {
		t.Fatalf("bob's inbox lacks the second DM:\n%s", r)
	}
	if r := bob.must("inbox"); !strings.Contains(r.stdout, "No new messages") {
		t.Fatalf("a printed message came back: it was not acked:\n%s", r)
	}

	sendJSON(t, bob, "OLIVIA", "thanks") // names match case-insensitively
	if r := bob.runIn("line one\nline two\n", "send", "olivia", "-"); r.code != 0 {
		t.Fatalf("send with the message on stdin:\n%s", r)
	}
	if items := inboxJSON(t, olivia); len(items) != 2 || items[0].Text != "thanks" || items[0].From != "bob" || items[0].Enc != "box" ||
		items[1].Text != "line one\nline two" {
		t.Fatalf("olivia's inbox = %+v", items)
	}

	all := sendJSON(t, olivia, "*", "all hands at 3")
	if all["enc"] != "secretbox" {
		t.Fatalf("a broadcast must use the mesh key: %v", all)
	}
	sendJSON(t, bob, "@all", "on my way")
	if items := inboxJSON(t, bob); len(items) != 1 || items[0].Text != "all hands at 3" || items[0].Kind != "broadcast" || items[0].Enc != "secretbox" {
		t.Fatalf("bob's broadcast inbox = %+v", items)
	}
	if items := inboxJSON(t, olivia); len(items) != 1 || items[0].Text != "on my way" || items[0].Kind != "broadcast" {
		t.Fatalf("olivia's broadcast inbox = %+v", items)
	}
}

// Live sessions (as Claude Code holds them) are listed by peers, receive a
// DM sent to their member by name although they route with a session key,
// and get group messages; one-shot commands are never listed.
func TestPeersListsLiveSessionsAndTheyReceive(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	oliviaLive := olivia.liveSession(t, "olivia-cc")
	bobLive := bob.liveSession(t, "bob-cc", "backend")

	if names := peerNames(t, olivia); !slices.Equal(names, []string{"bob-cc", "olivia-cc"}) {
		t.Fatalf("peers = %v, want exactly the two live sessions (the ephemeral peers command is not listed)", names)
	}
	r := bob.must("peers")
	for _, want := range []string{"● idle", "bob-cc", "backend", "/work/bob-cc", "olivia-cc", "2 live session(s)"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("peers table lacks %q:\n%s", want, r)
		}
	}

	sendJSON(t, olivia, "bob", "direct to your live session")
	g := sendJSON(t, olivia, "@backend", "backend: please review")
	if g["enc"] != "secretbox" {
		t.Fatalf("group send = %v", g)
	}
	sendJSON(t, bob, "olivia-cc", "reply via the session's name")
	pollUntil(t, "bob's live session got both", func() bool { return len(bobLive.received()) == 2 })
	if got := bobLive.received(); got[0] != "direct to your live session" || got[1] != "backend: please review" {
		t.Fatalf("bob's session received %q", got)
	}
	pollUntil(t, "olivia's live session got the reply", func() bool { return len(oliviaLive.received()) == 1 })
	if got := oliviaLive.received(); got[0] != "reply via the session's name" {
		t.Fatalf("olivia's session received %q", got)
	}
	// Delivered to the live sessions, so nothing waits for the inbox.
	if items := inboxJSON(t, bob); len(items) != 0 {
		t.Fatalf("bob's inbox shows messages his live session took: %+v", items)
	}
}

// A recipient that lacks secretbox (an old client) stops a group send unless
// the user allows plain text with --allow-plain; then the CLI says so.
func TestGroupSendFallsBackToPlainForAnOldClientAndSaysSo(t *testing.T) {
	b, olivia, bob := twoUsers(t)
	m := bob.soleMesh()
	key, _ := protocol.ParseSecretKeyHex(m.SecretKey)
	hello := testkit.Hello{MeshID: m.MeshID, MemberID: m.MemberID, Member: testkit.Identity{Pub: key.Public().(ed25519.PublicKey), Priv: key},
		DisplayName: "bob-old", Groups: []protocol.Group{{Name: "ops"}}}.Frame()
	hello["capabilities"] = []string{} // an old client: no secretbox
	old := testkit.Dial(t, "ws"+strings.TrimPrefix(b.URL, "http")+"/ws")
	old.Send(hello)
	if ack := old.WaitFor(testkit.Type("hello_ack")); ack["type"] != "hello_ack" {
		t.Fatalf("old client hello: %v", ack)
	}
	refused := olivia.run("send", "@ops", "restart the cache")
	if refused.code != 1 || !strings.Contains(refused.stderr, "bob-old cannot decrypt") || !strings.Contains(refused.stderr, "--allow-plain") {
		t.Fatalf("a plain fallback without --allow-plain must be refused, naming the peer:\n%s", refused)
	}
	r := olivia.must("send", "@ops", "restart the cache", "--json", "--allow-plain")
	var out map[string]any
	_ = json.Unmarshal([]byte(r.stdout), &out)
	if out["enc"] != "plain" || !strings.Contains(r.stderr, "bob-old cannot decrypt group messages") || !strings.Contains(r.stderr, "plain") {
		t.Fatalf("want a plain send with a warning naming bob-old:\n%s", r)
	}
	push := old.WaitFor(testkit.Push)
	if pt, err := protocol.DecodePlain(push["ciphertext"].(string)); err != nil || string(pt) != "restart the cache" || push["enc"] != "plain" {
		t.Fatalf("old client got %v (%q, %v)", push, pt, err)
	}
}

// A message that does not decrypt is reported as such, never printed as
// text, and stays queued; the good one next to it is printed and acked.
func TestInboxReportsAnUndecryptableMessage(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	m := olivia.soleMesh()
	key, _ := protocol.ParseSecretKeyHex(m.SecretKey)
	c, err := client.Dial(context.Background(), client.Config{BrokerURL: m.BrokerURL, MeshID: m.MeshID, MemberID: m.MemberID, MemberKey: key, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stranger, _, _ := ed25519.GenerateKey(rand.Reader)
	bad, err := c.SealDirect([]byte("SECRET-PLAINTEXT"), hex.EncodeToString(stranger)) // sealed to the wrong key
	if err != nil {
		t.Fatal(err)
	}
	bobPub := bob.soleMesh().Pubkey
	if _, err := c.Send(context.Background(), client.Outgoing{To: []string{bobPub}, Envelope: bad}); err != nil {
		t.Fatal(err)
	}
	sendJSON(t, olivia, "bob", "this one is fine")

	r := bob.run("inbox")
	if r.code != 1 || !strings.Contains(r.stdout, "undecryptable") || !strings.Contains(r.stdout, "cannot decrypt message") ||
		!strings.Contains(r.stdout, "this one is fine") || strings.Contains(r.stdout, "SECRET") ||
		!strings.Contains(r.stderr, "1 message(s) could not be decrypted and stay queued") {
		t.Fatalf("want the failure reported, the good message shown and exit 1:\n%s", r)
	}
	items := inboxJSON(t, bob)
	if len(items) != 1 || items[0].Text != "" || !strings.Contains(items[0].Error, "cannot decrypt") {
		t.Fatalf("second inbox must show only the undecryptable one, still queued: %+v", items)
	}
}

// inbox --wait keeps fetching while nothing is waiting, so a message sent
// during the wait is printed, and it returns as soon as one arrived.
func TestInboxWaitPrintsMailSentMeanwhile(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, "inbox", "--wait", "30s", "--json")
	cmd.Env = []string{"CLAUDEMESH_CONFIG_DIR=" + bob.dir, "HOME=" + bob.home, "USER=bob", "NO_COLOR=1"}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stderr).ReadString('\n') // the first fetch found nothing
	if err != nil || !strings.Contains(line, "waiting up to 30s") {
		t.Fatalf("inbox --wait said %q, %v", line, err)
	}
	sendJSON(t, olivia, "bob", "arrives during the wait")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("inbox --wait: %v\n%s", err, stdout.String())
	}
	var items []inboxItem
	if err := json.Unmarshal([]byte(stdout.String()), &items); err != nil || len(items) != 1 || items[0].Text != "arrives during the wait" {
		t.Fatalf("inbox --wait = %+v (%v)\n%s", items, err, stdout.String())
	}
	if time.Since(started) > 20*time.Second {
		t.Fatalf("inbox --wait took %v: it must return once a message arrived", time.Since(started))
	}
}

func TestStateAndMemory(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	if r := olivia.must("state", "set", "release", `{"version":"1.4","frozen":true}`); !strings.Contains(r.stdout, "version 1") {
		t.Fatalf("state set:\n%s", r)
	}
	olivia.must("state", "set", "owner", "olivia on call") // not JSON: a string
	if r := bob.must("state", "get", "owner"); strings.TrimSpace(r.stdout) != "olivia on call" {
		t.Fatalf("state get owner:\n%s", r)
	}
	r := bob.must("state", "get", "release", "--json")
	var e protocol.StateEntry
	var compact bytes.Buffer
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || json.Compact(&compact, e.Value) != nil || e.Version != 1 ||
		compact.String() != `{"version":"1.4","frozen":true}` { // the value as written, key order kept
		t.Fatalf("state get --json = %+v, %v\n%s", e, err, r)
	}
	if r := bob.run("state", "set", "release", `"2.0"`, "--if-version", "7"); r.code != 1 || !strings.Contains(r.stderr, "version_conflict") {
		t.Fatalf("stale --if-version must fail with the broker's code:\n%s", r)
	}
	bob.must("state", "set", "release", `"2.0"`, "--if-version", "1")
	r = olivia.must("state", "list")
	if !strings.Contains(r.stdout, "owner") || !strings.Contains(r.stdout, `"2.0"`) {
		t.Fatalf("state list:\n%s", r)
	}
	olivia.must("state", "delete", "owner")
	if r := olivia.run("state", "delete", "owner"); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Fatalf("deleting a missing key:\n%s", r)
	}

	r = olivia.must("remember", "the staging database moved to db2", "--tags", "infra,db", "--json")
	var stored map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &stored); err != nil || stored["id"] == "" {
		t.Fatalf("remember: %v\n%s", err, r)
	}
	r = bob.must("recall", "staging database", "--json")
	var mems []protocol.MemoryResult
	if err := json.Unmarshal([]byte(r.stdout), &mems); err != nil || len(mems) != 1 || mems[0].ID != stored["id"] || !slices.Equal(mems[0].Tags, []string{"infra", "db"}) {
		t.Fatalf("recall = %+v, %v\n%s", mems, err, r)
	}
	bob.must("forget", stored["id"])
	if r := bob.must("recall", "staging"); !strings.Contains(r.stdout, "Nothing matches") {
		t.Fatalf("recall after forget:\n%s", r)
	}
}

func TestStatusReportsEachMesh(t *testing.T) {
	b, olivia, _ := twoUsers(t)
	r := olivia.must("status", "--json")
	var probes []struct {
		Mesh          string   `json:"mesh"`
		Reachable     bool     `json:"reachable"`
		Health        string   `json:"health"`
		HelloAccepted bool     `json:"helloAccepted"`
		Role          string   `json:"role"`
		ClockSkewMs   *int64   `json:"clockSkewMs"`
		LatencyMs     *float64 `json:"latencyMs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &probes); err != nil || len(probes) != 1 {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	p := probes[0]
	if !p.Reachable || p.Health != "ok" || !p.HelloAccepted || p.Role != "admin" || p.ClockSkewMs == nil ||
		*p.ClockSkewMs < -1500 || *p.ClockSkewMs > 1500 || p.LatencyMs == nil || *p.LatencyMs <= 0 {
		t.Fatalf("status = %+v", p)
	}
	if r := olivia.must("status"); !strings.Contains(r.stdout, "accepted (admin)") || !strings.Contains(r.stdout, "platform") {
		t.Fatalf("status table:\n%s", r)
	}
	stopBroker(t, b)
	if r := olivia.run("status"); r.code != 4 || !strings.Contains(r.stdout, "unreachable") {
		t.Fatalf("status with the broker down must exit 4:\n%s", r)
	}
}

func stopBroker(t *testing.T, b *testBroker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDoctor(t *testing.T) {
	b, olivia, _ := twoUsers(t)
	olivia.wireClaudeCode() // else doctor's Claude Code checks fail (install_test.go)
	r := olivia.must("doctor")
	for _, want := range []string{"✓ config directory mode", "✓ config file mode", "✓ config parses", "✓ keys", "✓ broker reachable", "✓ authenticated hello", "✓ clock skew"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("healthy doctor lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "✗") {
		t.Fatalf("healthy doctor reports a failure:\n%s", r)
	}

	cfgPath := filepath.Join(olivia.dir, "config.json")
	if err := os.Chmod(cfgPath, 0o644); err != nil {
		t.Fatal(err)
	}
	r = olivia.runUnchecked("doctor")
	if r.code != 1 || !strings.Contains(r.stdout, "✗ config file mode") || !strings.Contains(r.stdout, "fix: chmod 600 "+cfgPath) {
		t.Fatalf("a 0644 config must fail with its chmod hint and exit 1:\n%s", r)
	}
	r = olivia.runUnchecked("doctor", "--json")
	var checks []struct {
		Section, Check, Detail, Fix string
		OK                          bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &checks); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
			if c.Check != "config file mode" || c.Fix != "chmod 600 "+cfgPath {
				t.Fatalf("unexpected failed check %+v", c)
			}
		}
	}
	if failed != 1 || r.code != 1 {
		t.Fatalf("want exactly the mode check failed, exit 1:\n%s", r)
	}
	if err := os.Chmod(cfgPath, 0o600); err != nil {
		t.Fatal(err)
	}

	stopBroker(t, b)
	r = olivia.run("doctor")
	if r.code != 4 || !strings.Contains(r.stdout, "✗ broker reachable") || !strings.Contains(r.stdout, "fix: start the broker") ||
		!strings.Contains(r.stderr, "broker unreachable") {
		t.Fatalf("doctor with the broker down must name it, give the fix and exit 4:\n%s", r)
	}
}

func TestDoctorWithNothingSetUp(t *testing.T) {
	u := newUser(t, "nobody")
	r := u.run("doctor")
	if r.code != 1 || !strings.Contains(r.stdout, "does not exist") || !strings.Contains(r.stdout, "fix: create a mesh") {
		t.Fatalf("doctor on a fresh machine:\n%s", r)
	}
}

// silentBroker accepts any hello and then never answers, like a hung broker.
func silentBroker(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if _, _, err := ws.Read(r.Context()); err != nil {
			return
		}
		ack, _ := json.Marshal(protocol.HelloAck{Type: protocol.TypeHelloAck, PresenceID: "p", Role: "member", Protocol: 2})
		_ = ws.Write(r.Context(), websocket.MessageText, ack)
		for {
			if _, _, err := ws.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRPCTimeoutsSayTimedOut(t *testing.T) {
	url := silentBroker(t)
	u := newUser(t, "tess")
	u.env = append(u.env, "CLAUDEMESH_TIMEOUT=300ms")
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	f := u.loadCfg()
	f.Upsert(cliconfig.Mesh{MeshID: "mesh_hung", MemberID: "mem_1", Slug: "hung", Name: "Hung", BrokerURL: url,
		Pubkey: hex.EncodeToString(key.Public().(ed25519.PublicKey)), SecretKey: hex.EncodeToString(key), Role: "member"})
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	cases := [][]string{
		{"peers"},
		{"inbox"},
		{"send", "*", "anyone?"},
		{"state", "get", "k"},
		{"recall", "q"},
	}
	for _, args := range cases {
		r := u.run(args...)
		if r.code != 1 || !strings.Contains(r.stderr, "timed out waiting for") {
			t.Fatalf("%v against a silent broker must say it timed out:\n%s", args, r)
		}
	}
}

func TestSendUsageErrors(t *testing.T) {
	_, olivia, _ := twoUsers(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"send", "bob"}, 2, "needs a target and a message"},
		{[]string{"send", "bob", "x", "--priority", "urgent"}, 2, "--priority must be now, next or low"},
		{[]string{"send", "bob,carol", "x"}, 2, "one target"},
		{[]string{"send", "nobody-here", "x"}, 1, `no member or live session is called "nobody-here"`},
		{[]string{"send", "@empty-group", "x"}, 1, "no_such_peer"},
		{[]string{"completion", "tcsh"}, 2, "unknown shell"},
	}
	for _, c := range cases {
		r := olivia.run(c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%v: want exit %d mentioning %q:\n%s", c.args, c.code, c.want, r)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	u := newUser(t, "cam")
	for shell, want := range map[string]string{"bash": "bash completion V2 for claudemesh", "zsh": "#compdef claudemesh",
		"fish": "complete -c claudemesh", "powershell": "Register-ArgumentCompleter"} {
		if r := u.must("completion", shell); !strings.Contains(r.stdout, want) {
			t.Fatalf("completion %s lacks %q:\n%.300s", shell, want, r.stdout)
		}
	}
}
