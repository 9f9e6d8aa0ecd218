package main_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// loadCfg reads this user's config.json.
func (u *user) loadCfg() *cliconfig.File {
	u.t.Helper()
	f, err := cliconfig.Load(u.dir)
	if err != nil {
		u.t.Fatal(err)
	}
	return f
}

// soleMesh is the user's single joined mesh.
func (u *user) soleMesh() cliconfig.Mesh {
	u.t.Helper()
	m, err := u.loadCfg().Find("")
	if err != nil {
		u.t.Fatal(err)
	}
	return *m
}

// liveSession is a real (non-ephemeral) session of a user, as Claude Code's
// bridge would hold: it is listed by peers and receives pushes.
type liveSession struct {
	c  *client.Client
	mu sync.Mutex
	in []string // decrypted texts, in arrival order
}

func (u *user) liveSession(t *testing.T, display string, groups ...string) *liveSession {
	t.Helper()
	m := u.soleMesh()
	key, err := protocol.ParseSecretKeyHex(m.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	root, err := protocol.DecodeB64URL(m.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := client.MeshKey(root, m.MeshID)
	if err != nil {
		t.Fatal(err)
	}
	_, sessKey, _ := ed25519.GenerateKey(rand.Reader)
	var gs []protocol.Group
	for _, g := range groups {
		gs = append(gs, protocol.Group{Name: g})
	}
	s := &liveSession{}
	c, err := client.New(client.Config{BrokerURL: m.BrokerURL, MeshID: m.MeshID, MemberID: m.MemberID, MemberKey: key,
		SessionKey: sessKey, DisplayName: display, Groups: gs, PeerType: "ai", Channel: "claude-code", CWD: "/work/" + display,
		Handler: func(_ context.Context, ev client.Event) error {
			if ev.Push == nil || ev.Push.Subtype == "system" {
				return nil
			}
			pt, err := s.c.Open(ev.Push, mk)
			if err != nil {
				pt = []byte("UNDECRYPTABLE: " + err.Error())
			}
			s.mu.Lock()
			s.in = append(s.in, string(pt))
			s.mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); c.Close() })
	pollUntil(t, display+" connected", func() bool { return c.HelloAck().PresenceID != "" })
	return s
}

func (s *liveSession) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.in...)
}

// pollUntil polls cond every 20 ms for up to 10 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
