package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// brokerBin is built once per test process.
var brokerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "claudemesh-broker-bin")
	if err != nil {
		panic(err)
	}
	brokerBin = filepath.Join(dir, "claudemesh-broker")
	if out, err := exec.Command("go", "build", "-o", brokerBin, ".").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("building the broker: %v\n%s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is the environment for one broker instance on one store.
type env struct {
	t       *testing.T
	vars    []string
	port    int
	dbURL   string // "" for SQLite
	dataDir string
}

func newEnv(t *testing.T, b storetest.Backend) *env {
	dbURL, dataDir := b.DSN(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	vars := append(os.Environ(), fmt.Sprintf("BROKER_PORT=%d", port), "LOG_LEVEL=warn")
	if dbURL != "" {
		// The data dir still holds the data key file: keep it out of the tree.
		dataDir = t.TempDir()
		vars = append(vars, "DATABASE_URL="+dbURL, "BROKER_DATA_DIR="+dataDir)
	} else {
		vars = append(vars, "BROKER_DATA_DIR="+dataDir, "DATABASE_URL=")
	}
	return &env{t: t, vars: vars, port: port, dbURL: dbURL, dataDir: dataDir}
}

// run executes an operator subcommand and decodes its --json output.
func (e *env) run(out any, args ...string) {
	e.t.Helper()
	cmd := exec.Command(brokerBin, args...)
	cmd.Env = e.vars
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("%v: %v\n%s", args, err, stderr.String())
	}
	if out != nil {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			e.t.Fatalf("%v: bad JSON %q: %v", args, stdout.String(), err)
		}
	}
}

// serve starts the broker and waits for /health.
func (e *env) serve() *exec.Cmd {
	e.t.Helper()
	cmd := exec.Command(brokerBin, "serve")
	cmd.Env = e.vars
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(e.url("http") + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("broker never became healthy: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

func (e *env) url(scheme string) string { return fmt.Sprintf("%s://127.0.0.1:%d", scheme, e.port) }

type memberOut struct {
	ID string `json:"id"`
}

// setup creates a mesh with alice and bob through the operator subcommands.
func (e *env) setup() (meshID string, alice, bob testkit.Hello) {
	owner, a, b := testkit.NewIdentity(e.t), testkit.NewIdentity(e.t), testkit.NewIdentity(e.t)
	var mesh struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	}
	e.run(&mesh, "mesh", "create", "--name", "Crash Test", "--owner-pubkey", owner.Hex(), "--json")
	if mesh.Slug != "crash-test" {
		e.t.Fatalf("slug = %q", mesh.Slug)
	}
	var am, bm memberOut
	e.run(&am, "member", "add", "--mesh", mesh.ID, "--pubkey", a.Hex(), "--name", "alice", "--json")
	e.run(&bm, "member", "add", "--mesh", mesh.ID, "--pubkey", b.Hex(), "--name", "bob", "--role", "admin", "--json")
	alice = testkit.Hello{MeshID: mesh.ID, MemberID: am.ID, Member: a, SessionID: "alice-s", ClientAck: true}
	bob = testkit.Hello{MeshID: mesh.ID, MemberID: bm.ID, Member: b, SessionID: "bob-s", ClientAck: true}
	return mesh.ID, alice, bob
}

// TestSIGKILLLosesNoAckedMessage kills the real binary right after acks and
// checks every acked message reaches its recipient after a restart.
func TestSIGKILLLosesNoAckedMessage(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			_, alice, bob := e.setup()
			proc := e.serve()
			ac, ack := testkit.Connect(t, e.url("ws")+"/ws", alice)
			if ack["type"] != "hello_ack" {
				t.Fatalf("hello: %v", ack)
			}
			const n = 200
			for i := 0; i < n; i++ { // pipelined: acks arrive while later sends are in flight
				ac.Send(map[string]any{"type": "send", "id": fmt.Sprint(i), "targetSpec": bob.Member.Hex(),
					"priority": "now", "nonce": "", "ciphertext": fmt.Sprintf("c%03d", i), "enc": "plain"})
			}
			acked := map[string]string{}
			for i := 0; i < n; i++ {
				f := ac.WaitFor(testkit.Reply(fmt.Sprint(i)))
				if f["type"] != "ack" {
					t.Fatalf("send %d: %v", i, f)
				}
				acked[f["messageId"].(string)] = fmt.Sprintf("c%03d", i)
			}
			if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			proc.Wait()

			e.serve()
			bc, ack := testkit.Connect(t, e.url("ws")+"/ws", bob)
			if ack["type"] != "hello_ack" {
				t.Fatalf("bob hello after restart: %v", ack)
			}
			for i := 0; i < n; i++ {
				p := bc.WaitFor(testkit.Push)
				if want := fmt.Sprintf("c%03d", i); p["ciphertext"] != want || acked[p["messageId"].(string)] != want {
					t.Fatalf("push %d = %v, want %s in send order", i, p["ciphertext"], want)
				}
			}
		})
	}
}

// TestOperatorRevokeClosesLiveSessionWithinOneSecond revokes from a second
// process while the broker runs.
func TestOperatorRevokeClosesLiveSessionWithinOneSecond(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			meshID, _, bob := e.setup()
			e.serve()
			bc, ack := testkit.Connect(t, e.url("ws")+"/ws", bob)
			if ack["type"] != "hello_ack" {
				t.Fatalf("hello: %v", ack)
			}
			var revoked struct {
				RevokedAt *string `json:"revoked_at"`
			}
			start := time.Now()
			e.run(&revoked, "member", "revoke", "--mesh", meshID, "--member", bob.MemberID, "--json")
			if revoked.RevokedAt == nil {
				t.Fatal("revoke --json shows no revoked_at")
			}
			err, ok := bc.WaitClosed(time.Second)
			if !ok {
				t.Fatalf("session open %v after revoke", time.Since(start))
			}
			if code, reason := testkit.CloseCode(err); code != 4001 || reason != "revoked" {
				t.Fatalf("close = %d %q", code, reason)
			}
			var list []struct {
				ID        string  `json:"id"`
				RevokedAt *string `json:"revoked_at"`
			}
			e.run(&list, "member", "list", "--mesh", meshID, "--json")
			if len(list) != 2 || !strings.HasPrefix(list[0].ID, "mem_") {
				t.Fatalf("member list = %v", list)
			}
			got := strings.Join(e.auditEvents(meshID, "operator"), ",")
			if got != "mesh_created,member_joined,member_joined,member_revoked" {
				t.Fatalf("operator audit events = %s", got)
			}
		})
	}
}

func TestBadSettingIsAStartupErrorNamingTheVariable(t *testing.T) {
	cmd := exec.Command(brokerBin, "serve")
	cmd.Env = append(os.Environ(), "BROKER_PORT=seventy", "BROKER_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "BROKER_PORT") {
		t.Fatalf("want a startup error naming BROKER_PORT, got %v: %s", err, out)
	}
}

// TestSIGTERMDrainsAndExitsZero sends a burst right before SIGTERM: every
// send is answered (acked after its commit, or refused as unavailable once
// draining began), sockets close with 1001, the process exits 0, and every
// acked message reaches its recipient after a restart.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	e := newEnv(t, storetest.Backends(t)[0])
	_, alice, bob := e.setup()
	proc := e.serve()
	ac, _ := testkit.Connect(t, e.url("ws")+"/ws", alice)
	const n = 100
	for i := 0; i < n; i++ {
		ac.Send(map[string]any{"type": "send", "id": fmt.Sprint(i), "targetSpec": "bob", "priority": "now",
			"nonce": "", "ciphertext": fmt.Sprintf("t%03d", i), "enc": "plain"})
	}
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var acked []string
	for i := 0; i < n; i++ {
		f, ok := ac.WaitForWithin(5*time.Second, testkit.Reply(fmt.Sprint(i)))
		if !ok {
			break // the socket closed: later sends were never read, so never accepted
		}
		switch {
		case f["type"] == "ack":
			acked = append(acked, fmt.Sprintf("t%03d", i))
		case f["code"] != "unavailable":
			t.Fatalf("send %d during drain: %v", i, f)
		}
	}
	err, ok := ac.WaitClosed(10 * time.Second)
	if code, _ := testkit.CloseCode(err); !ok || code != 1001 {
		t.Fatalf("client close = %d (%v)", code, err)
	}
	if err := proc.Wait(); err != nil {
		t.Fatalf("broker exit after SIGTERM: %v", err)
	}
	e.serve()
	bc, _ := testkit.Connect(t, e.url("ws")+"/ws", bob)
	for _, want := range acked {
		if p := bc.WaitFor(testkit.Push); p["ciphertext"] != want {
			t.Fatalf("after restart got %v, want %s", p["ciphertext"], want)
		}
	}
	t.Logf("%d of %d sends acked before the drain closed the socket", len(acked), n)
}

// TestMailOfADeadSessionReachesTheMembersNextSession: rows bound to a live
// session that never acked survive a SIGKILL and go to the member's next
// session even though that session has a new id.
func TestMailOfADeadSessionReachesTheMembersNextSession(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.vars = append(e.vars, "SESSION_RESUME_SECONDS=1") // the old session may not resume after that
			_, alice, bob := e.setup()
			proc := e.serve()
			ac, _ := testkit.Connect(t, e.url("ws")+"/ws", alice)
			bc, _ := testkit.Connect(t, e.url("ws")+"/ws", bob) // declares client_ack, never acks
			const n = 20
			for i := 0; i < n; i++ {
				ac.Send(map[string]any{"type": "send", "id": fmt.Sprint(i), "targetSpec": "bob",
					"priority": "now", "nonce": "", "ciphertext": fmt.Sprintf("c%02d", i), "enc": "plain"})
				ac.WaitFor(testkit.Reply(fmt.Sprint(i)))
				bc.WaitFor(testkit.Push) // pushed to the live session, unacked
			}
			if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			proc.Wait()

			e.serve()
			bob.SessionID = "bob-after-restart"
			bc2, _ := testkit.Connect(t, e.url("ws")+"/ws", bob)
			for i := 0; i < n; i++ {
				if p := bc2.WaitFor(testkit.Push); p["ciphertext"] != fmt.Sprintf("c%02d", i) {
					t.Fatalf("push %d = %v", i, p["ciphertext"])
				}
			}
		})
	}
}
