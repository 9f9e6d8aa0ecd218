package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/server"
	"github.com/claudemesh/claudemesh/internal/store"
)

// env is a real broker (SQLite) on a loopback port with one mesh.
type env struct {
	t    *testing.T
	cfg  config.Broker
	srv  *server.Server
	mesh store.Mesh
	root []byte
}

func logger() *slog.Logger {
	w := io.Discard
	if os.Getenv("CLIENT_TEST_LOG") != "" {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg, err := config.Resolve(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port, cfg.DataDir = 0, t.TempDir()
	cfg.SessionResume = 5 * time.Second
	e := &env{t: t, cfg: cfg, root: make([]byte, 32)}
	rand.Read(e.root)
	e.start()
	t.Cleanup(func() { e.stopServer(e.srv) })
	owner, _, _ := ed25519.GenerateKey(rand.Reader)
	m, err := meshadmin.CreateSealed(context.Background(), e.srv.Store, nil, "platform", fmt.Sprintf("%x", owner), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.mesh = m
	return e
}

// start runs a broker on e.cfg; after the first start the port is pinned
// so a restart comes back at the same address.
func (e *env) start() {
	e.t.Helper()
	srv, err := server.Start(context.Background(), e.cfg, broker.Options{Logger: logger(), Version: "test", MemberPollInterval: 50 * time.Millisecond})
	if err != nil {
		e.t.Fatalf("start broker: %v", err)
	}
	e.srv = srv
	_, port, _ := net.SplitHostPort(srv.Addr)
	e.cfg.Port, _ = strconv.Atoi(port)
}

func (e *env) stopServer(srv *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// restart stops the broker and starts a new one on the same data dir and port.
func (e *env) restart() {
	e.t.Helper()
	e.stopServer(e.srv)
	e.start()
}

func (e *env) url() string { return "http://" + e.srv.Addr }

// member is a mesh member with its keys.
type member struct {
	store.Member
	key ed25519.PrivateKey
}

func (e *env) addMember(name string) member {
	e.t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	m, err := meshadmin.AddMember(context.Background(), e.srv.Store, e.mesh.ID, fmt.Sprintf("%x", pub), name, store.RoleMember, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return member{m, priv}
}

// config is a client config for m with a fresh session key and fast backoff.
func (e *env) config(m member, h client.Handler) client.Config {
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	return client.Config{BrokerURL: e.url(), MeshID: e.mesh.ID, MemberID: m.ID, MemberKey: m.key, SessionKey: sk,
		DisplayName: m.DisplayName, Handler: h, Logger: logger(), RPCTimeout: 5 * time.Second,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
}

func (e *env) meshKey() *[32]byte {
	k, err := client.MeshKey(e.root, e.mesh.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// dial connects one-shot and closes the client when the test ends.
func (e *env) dial(cfg client.Config) *client.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// running is a client under Run with the result of Run once it returns.
type running struct {
	*client.Client
	done chan error
}

func (e *env) run(cfg client.Config, setup ...func(*client.Client)) *running {
	e.t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range setup {
		s(c)
	}
	r := &running{c, make(chan error, 1)}
	go func() { r.done <- c.Run(context.Background()) }()
	e.t.Cleanup(func() { c.Close(); <-r.done })
	waitFor(e.t, "first hello_ack", func() bool { return c.HelloAck().PresenceID != "" })
	return r
}

// inbox is a Handler that records events.
type inbox struct {
	mu     sync.Mutex
	pushes []protocol.Push
	events []protocol.Push
	calls  atomic.Int64
}

func (in *inbox) handle(_ context.Context, ev client.Event) error {
	in.calls.Add(1)
	in.mu.Lock()
	defer in.mu.Unlock()
	if ev.Push != nil && ev.Push.Subtype == "system" {
		in.events = append(in.events, *ev.Push)
	} else if ev.Push != nil {
		in.pushes = append(in.pushes, *ev.Push)
	}
	return nil
}

func (in *inbox) messages() []protocol.Push {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]protocol.Push(nil), in.pushes...)
}

// waitN waits until at least n messages arrived and returns them.
func (in *inbox) waitN(t *testing.T, n int) []protocol.Push {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d message(s)", n), func() bool { return len(in.messages()) >= n })
	return in.messages()
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}
