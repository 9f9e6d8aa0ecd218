package broker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/server"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// harness is a real broker on a random loopback port with one mesh.
type harness struct {
	t     testing.TB
	srv   *server.Server
	st    store.Store
	wsURL string
	mesh  store.Mesh
	owner testkit.Identity
}

type tweak func(*config.Broker, *broker.Options)

// forEachBackend runs fn against a broker on SQLite and on PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

func testConfig(t testing.TB, b storetest.Backend) config.Broker {
	cfg, err := config.Resolve(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port = 0
	cfg.DatabaseURL, cfg.DataDir = b.DSN(t)
	// Short, so tests see a dropped session's mail reach its member's next
	// session quickly; resumes in tests happen well within it.
	cfg.SessionResume = 2 * time.Second
	return cfg
}

func startBroker(t testing.TB, b storetest.Backend, tweaks ...tweak) *harness {
	t.Helper()
	return startWithConfig(t, testConfig(t, b), tweaks...)
}

func startWithConfig(t testing.TB, cfg config.Broker, tweaks ...tweak) *harness {
	t.Helper()
	opts := broker.Options{Logger: slog.New(slog.NewTextHandler(testLogOutput(), &slog.HandlerOptions{Level: slog.LevelDebug})), Version: "test",
		MemberPollInterval: 50 * time.Millisecond}
	for _, tw := range tweaks {
		tw(&cfg, &opts)
	}
	srv, err := server.Start(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	h := &harness{t: t, srv: srv, st: srv.Store, wsURL: "ws://" + srv.Addr + "/ws", owner: testkit.NewIdentity(t)}
	h.mesh = h.newMesh("platform")
	return h
}

func (h *harness) newMesh(name string) store.Mesh {
	h.t.Helper()
	m, err := meshadmin.CreateSealed(context.Background(), h.st, nil, name, h.owner.Hex(), nil, time.Now()) // no root key: the broker never needs it
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// peer is a member identity plus how it connects.
type peer struct {
	h      *harness
	meshID string
	member store.Member
	id     testkit.Identity
}

func (h *harness) addMember(name string) *peer { return h.addMemberTo(h.mesh.ID, name) }

func (h *harness) addMemberTo(meshID, name string) *peer {
	h.t.Helper()
	id := testkit.NewIdentity(h.t)
	m, err := meshadmin.AddMember(context.Background(), h.st, meshID, id.Hex(), name, store.RoleMember, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return &peer{h: h, meshID: meshID, member: m, id: id}
}

// hello returns a hello for this peer; adjust fields before connecting.
func (p *peer) hello() testkit.Hello {
	return testkit.Hello{MeshID: p.meshID, MemberID: p.member.ID, Member: p.id, SessionID: nextSessionID(), ClientAck: true}
}

// connect opens an authenticated session and fails the test otherwise.
func (p *peer) connect(mods ...func(*testkit.Hello)) *testkit.Client {
	p.h.t.Helper()
	hello := p.hello()
	for _, m := range mods {
		m(&hello)
	}
	c, f := testkit.Connect(p.h.t, p.h.wsURL, hello)
	if f["type"] != "hello_ack" {
		p.h.t.Fatalf("hello refused: %v", f)
	}
	return c
}

var sessionSeq atomic.Int64

func nextSessionID() string { return fmt.Sprintf("session-%d", sessionSeq.Add(1)) }

func withSession(id string) func(*testkit.Hello) { return func(h *testkit.Hello) { h.SessionID = id } }

// send writes a send frame with a fresh id and returns the id.
func send(c *testkit.Client, target any, priority, ciphertext string, extra ...map[string]any) string {
	id := fmt.Sprintf("s-%d", sessionSeq.Add(1))
	f := map[string]any{"type": "send", "id": id, "targetSpec": target, "priority": priority,
		"nonce": "", "ciphertext": ciphertext, "enc": protocol.EncPlain}
	for _, e := range extra {
		for k, v := range e {
			f[k] = v
		}
	}
	c.Send(f)
	return id
}

// sendAcked sends and waits for the ack, returning the messageId.
func sendAcked(t testing.TB, c *testkit.Client, target any, priority, ciphertext string, extra ...map[string]any) string {
	t.Helper()
	id := send(c, target, priority, ciphertext, extra...)
	f := c.WaitFor(testkit.Reply(id))
	if f["type"] != "ack" {
		t.Fatalf("send %s: expected ack, got %v", id, f)
	}
	return f["messageId"].(string)
}

// expectError waits for the reply to id and checks it is an error with code.
func expectError(t testing.TB, c *testkit.Client, id string, code protocol.Code) map[string]any {
	t.Helper()
	f := c.WaitFor(testkit.Reply(id))
	if f["type"] != "error" || f["code"] != string(code) {
		t.Fatalf("expected error %s, got %v", code, f)
	}
	return f
}

// pushWithCiphertext matches a message push carrying ct.
func pushWithCiphertext(ct string) func(map[string]any) bool {
	return func(f map[string]any) bool { return testkit.Push(f) && f["ciphertext"] == ct }
}

// nextPush returns the next message push, whatever it carries.
func nextPush(c *testkit.Client) map[string]any { return c.WaitFor(testkit.Push) }

// request sends a frame with a fresh _reqId and returns the reply.
func request(c *testkit.Client, f map[string]any) map[string]any {
	id := fmt.Sprintf("r-%d", sessionSeq.Add(1))
	f["_reqId"] = id
	c.Send(f)
	return c.WaitFor(testkit.Reply(id))
}

func testLogOutput() io.Writer {
	if os.Getenv("BROKER_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
