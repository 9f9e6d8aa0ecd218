package brokerapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/server"
)

// hookBroker runs a real broker and creates one mesh on it through the API,
// returning the client, the mesh and its first member's key.
func hookBroker(t *testing.T) (*brokerapi.Client, brokerapi.CreatedMesh, ed25519.PrivateKey) {
	t.Helper()
	cfg, err := config.Resolve(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port, cfg.PublicURL, cfg.DataDir = 0, "http://127.0.0.1:0", t.TempDir()
	srv, err := server.Start(context.Background(), cfg, broker.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	api, err := brokerapi.New("http://" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	_, member, _ := ed25519.GenerateKey(rand.Reader)
	root := make([]byte, 32)
	rand.Read(root)
	ownerPub, memberPub := pub(owner), pub(member)
	ts := time.Now().UnixMilli()
	m, err := api.CreateMesh(context.Background(), brokerapi.CreateMeshRequest{
		Name: "hooks", OwnerPubkey: ownerPub, RootKey: protocol.EncodeB64URL(root), PeerPubkey: memberPub,
		DisplayName: "olivia", Timestamp: ts,
		Signature: protocol.SignHex(owner, protocol.CreateMeshCanonical("hooks", ownerPub, memberPub, ts)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return api, m, member
}

func pub(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }

// A signed hook is accepted (parked as pending: no session is live), and
// every refusal comes back as an *Error carrying the broker's code.
func TestHookSetStatusAcceptsASignedHookAndDecodesRefusals(t *testing.T) {
	api, m, member := hookBroker(t)
	ctx := context.Background()
	now := time.Now()
	good := brokerapi.SignedHook(m.MeshID, m.MemberID, member, "sess-1", "/work/app", "working", now)
	got, err := api.HookSetStatus(ctx, good)
	if err != nil || !got.OK || got.Matched != "pending" {
		t.Fatalf("signed hook: %+v, %v; want ok, matched pending", got, err)
	}

	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	tampered := brokerapi.SignedHook(m.MeshID, m.MemberID, member, "sess-1", "/work/app", "idle", now.Add(time.Millisecond))
	tampered.Status = "working"
	cases := []struct {
		name string
		req  protocol.HookRequest
		code string
		http int
	}{
		{"replayed", good, "replayed", http.StatusUnauthorized},
		{"signed by a stranger", brokerapi.SignedHook(m.MeshID, m.MemberID, stranger, "s", "", "idle", now), "unauthorized", http.StatusUnauthorized},
		{"status changed after signing", tampered, "bad_signature", http.StatusUnauthorized},
		{"stale timestamp", brokerapi.SignedHook(m.MeshID, m.MemberID, member, "s", "", "idle", now.Add(-5*time.Minute)), "timestamp_skew", http.StatusUnauthorized},
		{"dnd is manual only", brokerapi.SignedHook(m.MeshID, m.MemberID, member, "s", "", "dnd", now), "malformed", http.StatusUnauthorized},
	}
	for _, c := range cases {
		_, err := api.HookSetStatus(ctx, c.req)
		var be *brokerapi.Error
		if !errors.As(err, &be) || be.Code != c.code || be.Status != c.http || be.Message == "" {
			t.Errorf("%s: got %v (%#v), want HTTP %d %s with a message", c.name, err, be, c.http, c.code)
		}
	}
}

// Nothing listening: the error wraps ErrUnreachable, and the context bounds
// the wait.
func TestHookSetStatusUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	api, err := brokerapi.New("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	_, member, _ := ed25519.GenerateKey(rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = api.HookSetStatus(ctx, brokerapi.SignedHook("m", "mem", member, "s", "", "idle", time.Now()))
	if !errors.Is(err, brokerapi.ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
}
