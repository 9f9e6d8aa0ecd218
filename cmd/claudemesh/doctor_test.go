package main_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
)

// A revoked member: doctor names the refused hello with its fix (exit 1),
// and status exits 3 (refused) rather than 4 (unreachable).
func TestDoctorAndStatusOnARevokedMember(t *testing.T) {
	b, _, bob := twoUsers(t)
	m := bob.soleMesh()
	if _, err := b.srv.Store.RevokeMember(t.Context(), m.MeshID, m.MemberID, time.Now()); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the broker refuses bob", func() bool { return bob.run("peers").code == 3 })
	r := bob.run("doctor")
	if r.code != 1 || !strings.Contains(r.stdout, "✗ authenticated hello") || !strings.Contains(r.stdout, "unauthorized") ||
		!strings.Contains(r.stdout, "fix: your membership was revoked") {
		t.Fatalf("doctor for a revoked member:\n%s", r)
	}
	if r := bob.run("status"); r.code != 3 || !strings.Contains(r.stderr, "hello refused") {
		t.Fatalf("status for a revoked member must exit 3:\n%s", r)
	}
}

// A loose config directory and a clock far from the broker's each fail
// with their fix; a broker whose /ws does not answer counts as unreachable.
func TestDoctorFlagsALooseDirectoryAndClockSkew(t *testing.T) {
	skewed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(-2*time.Minute).UTC().Format(http.TimeFormat))
		if r.URL.Path == "/health" {
			w.Write([]byte(`{"status":"ok","db":"up","version":"fake"}`))
			return
		}
		http.NotFound(w, r) // no WebSocket here: the hello fails too
	}))
	t.Cleanup(skewed.Close)
	u := newUser(t, "sam")
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	f := u.loadCfg()
	f.Upsert(cliconfig.Mesh{MeshID: "mesh_skew", MemberID: "mem_1", Slug: "skew", Name: "Skew", BrokerURL: skewed.URL,
		Pubkey: hex.EncodeToString(key.Public().(ed25519.PublicKey)), SecretKey: hex.EncodeToString(key), Role: "member",
		RootKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(u.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := u.runUnchecked("doctor")
	for _, want := range []string{"✗ config directory mode", "fix: chmod 700 " + u.dir, "✓ broker reachable", "✗ authenticated hello",
		"✗ clock skew", "broker's clock is 1", "s behind this machine's", "fix: synchronise the clock"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("doctor lacks %q:\n%s", want, r)
		}
	}
	if r.code != 4 { // the WebSocket did not answer: unreachable wins
		t.Fatalf("doctor exit %d, want 4:\n%s", r.code, r)
	}
}
