package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/server"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// harness is a real broker (HTTP API + /ws) on a random loopback port.
type harness struct {
	t      testing.TB
	srv    *server.Server
	st     store.Store
	cfg    config.Broker
	base   string // http://127.0.0.1:port
	dbURL  string // "" for SQLite
	dir    string // SQLite data dir
	client *http.Client
}

type tweak func(*config.Broker)

func forEachBackend(t *testing.T, fn func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

func startBroker(t testing.TB, b storetest.Backend, tweaks ...tweak) *harness {
	t.Helper()
	cfg, err := config.Resolve(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port = 0
	cfg.PublicURL = "http://127.0.0.1:0"
	cfg.HTTPRateLimitPerMin = 1_000_000
	cfg.DatabaseURL, cfg.DataDir = b.DSN(t)
	h := &harness{t: t, dbURL: cfg.DatabaseURL, dir: cfg.DataDir,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir() // the key file lives here on PostgreSQL too
	}
	for _, tw := range tweaks {
		tw(&cfg)
	}
	srv, err := server.Start(context.Background(), cfg, broker.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", MemberPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Connections the client dialed but never used would hold
		// Shutdown for 5 s (the server cannot tell them from slow clients).
		h.client.CloseIdleConnections()
		_ = srv.Shutdown(ctx)
	})
	h.srv, h.st, h.cfg, h.base = srv, srv.Store, cfg, "http://"+srv.Addr
	return h
}

// call sends a JSON request and decodes a JSON answer (nil when not JSON).
func (h *harness) call(method, path string, body any, header ...string) (int, map[string]any) {
	h.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	return h.callRaw(method, path, raw, header...)
}

func (h *harness) callRaw(method, path string, raw []byte, header ...string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(raw))
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

// signedHeader is the Claudemesh-Sig header for one admin request.
func signedHeader(id testkit.Identity, method, path string, body []byte, at time.Time) string {
	sum := sha256.Sum256(body)
	ts := at.UnixMilli()
	sig := protocol.SignHex(id.Priv, fmt.Sprintf("%s\n%s\n%d\n%s", method, path, ts, hex.EncodeToString(sum[:])))
	return fmt.Sprintf("Claudemesh-Sig pubkey=%s,ts=%d,sig=%s", id.Hex(), ts, sig)
}

// admin sends a signed admin request as id.
func (h *harness) admin(id testkit.Identity, method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	return h.callRaw(method, path, raw, "Authorization", signedHeader(id, method, path, raw, time.Now()))
}

// mesh is a mesh created through POST /meshes.
type mesh struct {
	id, slug, creatorID string
	owner, creator      testkit.Identity
	rootKey             []byte
}

func (h *harness) createMesh(name string, header ...string) mesh {
	h.t.Helper()
	m := mesh{owner: testkit.NewIdentity(h.t), creator: testkit.NewIdentity(h.t), rootKey: make([]byte, 32)}
	rand.Read(m.rootKey)
	status, out := h.call("POST", "/meshes", createBody(name, m.owner, m.creator, m.rootKey, time.Now()), header...)
	if status != http.StatusCreated {
		h.t.Fatalf("POST /meshes: %d %v", status, out)
	}
	m.id, m.slug, m.creatorID = out["mesh_id"].(string), out["slug"].(string), out["member_id"].(string)
	return m
}

func createBody(name string, owner, peer testkit.Identity, rootKey []byte, at time.Time) map[string]any {
	ts := at.UnixMilli()
	return map[string]any{"name": name, "owner_pubkey": owner.Hex(), "root_key": protocol.EncodeB64URL(rootKey),
		"peer_pubkey": peer.Hex(), "display_name": "Olivia", "timestamp": ts,
		"signature": protocol.SignHex(owner.Priv, protocol.CreateMeshCanonical(name, owner.Hex(), peer.Hex(), ts))}
}

// mintBody is a v2 mint request whose capability the owner signed.
func mintBody(m mesh, role string, maxUses int, expires time.Time) map[string]any {
	id := fmt.Sprintf("inv_%x", time.Now().UnixNano())
	canonical := invite.V2Canonical(m.id, id, expires.Unix(), role, m.owner.Hex())
	return map[string]any{"invite_id": id, "role": role, "max_uses": maxUses, "expires_at": expires.Unix(),
		"capability": map[string]any{"canonical": canonical, "signature": protocol.SignHex(m.owner.Priv, canonical)}}
}

// mint mints a v2 invite signed by the owner and returns its response.
func (h *harness) mint(m mesh, role string, maxUses int, extra ...map[string]any) map[string]any {
	h.t.Helper()
	body := mintBody(m, role, maxUses, time.Now().Add(24*time.Hour))
	for _, e := range extra {
		for k, v := range e {
			body[k] = v
		}
	}
	status, out := h.admin(m.owner, "POST", "/meshes/"+m.id+"/invites", body)
	if status != http.StatusCreated {
		h.t.Fatalf("mint: %d %v", status, out)
	}
	return out
}

// joiner is a fresh CLI identity: an ed25519 member key and an x25519 pair.
type joiner struct {
	id        testkit.Identity
	xpub, xsk *[32]byte
}

func newJoiner(t testing.TB) joiner {
	pub, sk, err := protocol.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	return joiner{id: testkit.NewIdentity(t), xpub: pub, xsk: sk}
}

func (j joiner) claimBody(code string) map[string]any {
	x := protocol.EncodeB64URL(j.xpub[:])
	ts := time.Now().UnixMilli()
	return map[string]any{"recipient_x25519_pubkey": x, "peer_pubkey": j.id.Hex(), "display_name": "Joiner",
		"timestamp": ts, "signature": protocol.SignHex(j.id.Priv, protocol.ClaimCanonical(code, x, j.id.Hex(), ts))}
}

// invite reads an invite row straight from the store.
func (h *harness) invite(code string) store.Invite {
	h.t.Helper()
	inv, err := h.st.GetInviteByCode(context.Background(), code)
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

func (h *harness) memberCount(meshID string) int {
	h.t.Helper()
	ms, err := h.st.ListMembers(context.Background(), meshID)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(ms)
}

// exec runs SQL directly on the broker's database, as an attacker with
// database access would. Statements use no parameters (dialects differ).
func (h *harness) exec(query string) {
	h.t.Helper()
	if _, err := storetest.RawDB(h.t, h.dbURL, h.dir).Exec(query); err != nil {
		h.t.Fatalf("%s: %v", query, err)
	}
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
