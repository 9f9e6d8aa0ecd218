package bridge_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/claudemesh/claudemesh/internal/bridge"
	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/server"
	"github.com/claudemesh/claudemesh/internal/store"
)

// benchMesh is a real broker (SQLite) with a mesh of two members.
type benchMesh struct {
	url        string
	mesh       store.Mesh
	alice, bob store.Member
	aliceKey   ed25519.PrivateKey
	bobKey     ed25519.PrivateKey
}

func newBenchMesh(b *testing.B) *benchMesh {
	b.Helper()
	cfg, err := config.Resolve(nil, func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	cfg.Port, cfg.DataDir = 0, b.TempDir()
	cfg.SendRatePerSec = 1_000_000 // measure latency, not the abuse limit
	srv, err := server.Start(context.Background(), cfg, broker.Options{Logger: slog.New(slog.DiscardHandler), Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	owner, _, _ := ed25519.GenerateKey(rand.Reader)
	m := &benchMesh{url: "http://" + srv.Addr}
	if m.mesh, err = meshadmin.CreateSealed(context.Background(), srv.Store, nil, "bench", hex.EncodeToString(owner), nil, time.Now()); err != nil {
		b.Fatal(err)
	}
	add := func(name string) (store.Member, ed25519.PrivateKey) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		mem, err := meshadmin.AddMember(context.Background(), srv.Store, m.mesh.ID, hex.EncodeToString(pub), name, store.RoleMember, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		return mem, priv
	}
	m.alice, m.aliceKey = add("alice")
	m.bob, m.bobKey = add("bob")
	return m
}

// sender is alice's one-shot session.
func (m *benchMesh) sender(b *testing.B) *client.Client {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{BrokerURL: m.url, MeshID: m.mesh.ID, MemberID: m.alice.ID,
		MemberKey: m.aliceKey, DisplayName: "alice", Ephemeral: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// waitPeer waits until bob has a live session.
func waitPeer(b *testing.B, c *client.Client) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		peers, err := c.ListPeers(context.Background())
		if err == nil && slices.ContainsFunc(peers, func(p protocol.Peer) bool { return p.DisplayName == "bob" }) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("bob never came online")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// measure sends b.N direct messages to bob, one at a time, and waits for
// each to arrive (arrived receives message ids); it reports the median and
// p99 send-to-arrival latency.
func measure(b *testing.B, alice *client.Client, bobPub string, arrived <-chan string) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		env, err := alice.SealDirect([]byte("ping from alice"), bobPub)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		ack, err := alice.Send(context.Background(), client.Outgoing{To: []string{bobPub}, Envelope: env})
		if err != nil {
			b.Fatal(err)
		}
		for id := range arrived {
			if id == ack.MessageID {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkDirectMessageToClaudeCode is a DM from a CLI session to a
// Claude Code session: broker, bridge, decryption, the channel event on the
// bridge's stdout, and mcp-go's client reading it.
func BenchmarkDirectMessageToClaudeCode(b *testing.B) {
	m := newBenchMesh(b)
	bobMesh := cliconfig.Mesh{MeshID: m.mesh.ID, MemberID: m.bob.ID, Slug: "bench", Name: "bench",
		Pubkey: m.bob.Pubkey, SecretKey: hex.EncodeToString(m.bobKey), BrokerURL: m.url}
	br, err := bridge.New(bridge.Options{Meshes: []cliconfig.Mesh{bobMesh}, ConfigDir: b.TempDir(),
		DisplayName: "bob", CWD: "/bench", Mode: "push"})
	if err != nil {
		b.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = br.Serve(ctx, inR, outW) }()
	// The IO transport logs its closed pipe at cleanup through slog's default.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	mc := mcpclient.NewClient(transport.NewIO(outR, inW, io.NopCloser(strings.NewReader(""))))
	b.Cleanup(func() { mc.Close(); cancel(); inW.Close(); outR.Close(); <-served })
	if err := mc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	arrived := make(chan string, 1024)
	mc.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != bridge.ChannelMethod {
			return
		}
		raw, _ := json.Marshal(n.Params)
		var p struct {
			Meta map[string]string `json:"meta"`
		}
		if json.Unmarshal(raw, &p) == nil {
			arrived <- p.Meta["message_id"]
		}
	})
	if _, err := mc.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{
		ProtocolVersion: mcp.LATEST_LEGACY_PROTOCOL_VERSION, ClientInfo: mcp.Implementation{Name: "bench", Version: "1"}}}); err != nil {
		b.Fatal(err)
	}
	alice := m.sender(b)
	waitPeer(b, alice)
	measure(b, alice, m.bob.Pubkey, arrived)
}

// BenchmarkDirectMessageToRawClient is the same DM to a plain
// internal/client session, the baseline the bridge adds to.
func BenchmarkDirectMessageToRawClient(b *testing.B) {
	m := newBenchMesh(b)
	arrived := make(chan string, 1024)
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	var bob *client.Client // the handler decrypts like the bridge does
	bob, err := client.New(client.Config{BrokerURL: m.url, MeshID: m.mesh.ID, MemberID: m.bob.ID, MemberKey: m.bobKey,
		SessionKey: sk, DisplayName: "bob", Handler: func(_ context.Context, ev client.Event) error {
			if ev.Push != nil && ev.Push.Subtype == "" {
				if _, err := bob.Open(ev.Push, nil); err == nil {
					arrived <- ev.Push.MessageID
				}
			}
			return nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = bob.Run(context.Background()) }()
	b.Cleanup(func() { bob.Close() })
	alice := m.sender(b)
	waitPeer(b, alice)
	measure(b, alice, m.bob.Pubkey, arrived)
}
