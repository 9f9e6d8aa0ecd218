package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// The precomputed-key box must be byte-compatible with the project's
// crypto_box_easy in both directions, or meshload would not be a real client.
func TestSharedKeyBoxInteroperatesWithProtocolBox(t *testing.T) {
	_, alice, _ := ed25519.GenerateKey(rand.Reader)
	_, bob, _ := ed25519.GenerateKey(rand.Reader)
	ak, err := NewBoxKeys(alice)
	if err != nil {
		t.Fatal(err)
	}
	bk, err := NewBoxKeys(bob)
	if err != nil {
		t.Fatal(err)
	}
	shared := SharedKey(&ak.Sec, &bk.Pub)
	if other := SharedKey(&bk.Sec, &ak.Pub); *other != *shared {
		t.Fatal("the shared key must be the same from both sides")
	}
	msg := []byte("meshload|0|1|hello")
	n, ct, err := SealBox(msg, shared)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := protocol.OpenBox(n, ct, alice.Public().(ed25519.PublicKey), bob)
	if err != nil || !bytes.Equal(pt, msg) {
		t.Fatalf("protocol.OpenBox of a meshload DM = %q, %v", pt, err)
	}
	n, ct, err = protocol.SealBox(msg, alice.Public().(ed25519.PublicKey), bob)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := OpenBox(n, ct, shared); err != nil || !bytes.Equal(pt, msg) {
		t.Fatalf("OpenBox of a protocol DM = %q, %v", pt, err)
	}
	_, eve, _ := ed25519.GenerateKey(rand.Reader)
	ek, _ := NewBoxKeys(eve)
	if _, err := OpenBox(n, ct, SharedKey(&ek.Sec, &bk.Pub)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a wrong key must fail with ErrDecrypt, got %v", err)
	}
}

func TestOpenSecretboxMatchesProtocol(t *testing.T) {
	root := make([]byte, 32)
	rand.Read(root)
	key, err := protocol.MeshMessageKey(root, "mesh_1")
	if err != nil {
		t.Fatal(err)
	}
	n, ct, err := protocol.SealSecretbox([]byte("hi all"), key)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := OpenSecretbox(n, ct, key); err != nil || string(pt) != "hi all" {
		t.Fatalf("OpenSecretbox = %q, %v", pt, err)
	}
	if _, err := OpenSecretbox(n, "!!!", key); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("bad base64 must fail with ErrDecrypt, got %v", err)
	}
}

func TestWSURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:7900":   "ws://127.0.0.1:7900/ws",
		"https://mesh.example/":   "wss://mesh.example/ws",
		"ws://127.0.0.1:1/prefix": "ws://127.0.0.1:1/prefix/ws",
		"ws://127.0.0.1:1/ws":     "ws://127.0.0.1:1/ws",
	} {
		if got, err := WSURL(in); err != nil || got != want {
			t.Errorf("WSURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := WSURL("ftp://x"); err == nil {
		t.Error("ftp:// must be refused")
	}
}
