package invite_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// FuzzParseV1Link feeds arbitrary text to the v1 link parser. A link it
// accepts yields a non-empty base64url token of at most MaxV1TokenLen that
// appears in the link, and that token parses back to itself from both
// canonical link forms; anything else is an error, never a panic.
func FuzzParseV1Link(f *testing.F) {
	f.Fuzz(func(t *testing.T, link string) {
		token, err := invite.ParseV1Link(link)
		if err != nil {
			if token != "" {
				t.Fatalf("error %v with token %q", err, token)
			}
			return
		}
		if token == "" || len(token) > invite.MaxV1TokenLen || strings.Trim(token, b64urlAlphabet) != "" {
			t.Fatalf("ParseV1Link(%q) accepted token %q", link, token)
		}
		if !strings.Contains(link, "/"+token) {
			t.Fatalf("token %q is not in link %q", token, link)
		}
		for _, canonical := range []string{"ic://join/" + token, "https://broker.example/join/" + token, "http://h:7900/prefix/join/" + token} {
			if again, err := invite.ParseV1Link(canonical); err != nil || again != token {
				t.Fatalf("ParseV1Link(%q) = %q, %v; want %q", canonical, again, err, token)
			}
		}
		// Whatever the link held, decoding it is safe (and strict).
		if p, err := invite.DecodeV1Token(token); err == nil {
			checkDecoded(t, token, p)
		}
	})
}

const b64urlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzDecodeV1Token feeds arbitrary strings to the strict v1 token decoder.
// An accepted token holds a payload that passes Validate, re-encodes to a
// token that decodes to the same payload, has a canonical string that
// splits back into exactly its eight fields, and verifies only if
// crypto/ed25519 agrees.
func FuzzDecodeV1Token(f *testing.F) {
	f.Fuzz(func(t *testing.T, token string) {
		p, err := invite.DecodeV1Token(token)
		if err != nil {
			return
		}
		checkDecoded(t, token, p)
	})
}

func checkDecoded(t *testing.T, token string, p invite.V1Payload) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("decoded payload fails Validate: %v", err)
	}
	again, err := invite.EncodeV1Token(p)
	if err != nil {
		t.Fatalf("a decoded payload does not encode: %v", err)
	}
	back, err := invite.DecodeV1Token(again)
	if err != nil || back != p {
		t.Fatalf("round trip of %q: %+v, %v; want %+v", token, back, err, p)
	}
	fields := strings.Split(p.Canonical(), "|")
	want := []string{strconv.Itoa(p.V), p.MeshID, p.MeshSlug, p.BrokerURL, strconv.FormatInt(p.ExpiresAt, 10), p.MeshRootKey, p.Role, p.OwnerPubkey}
	if strings.Join(fields, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("canonical %q does not split into its fields %q", p.Canonical(), want)
	}
	pub, _ := hex.DecodeString(p.OwnerPubkey)
	sig, _ := hex.DecodeString(p.Signature)
	if verr := p.VerifySignature(); verr == nil && !ed25519.Verify(pub, []byte(p.Canonical()), sig) {
		t.Fatalf("VerifySignature accepted a signature ed25519 rejects: %+v", p)
	} else if verr != nil && !errors.Is(verr, invite.ErrBadSignature) {
		t.Fatalf("a validated payload failed verification with %v, not ErrBadSignature", verr)
	}
}

// FuzzV1SignRoundTrip builds payloads from arbitrary field values and signs
// them. Every payload Validate accepts encodes, links (ic://join/<token>)
// and decodes back unchanged and verifies; changing any signed field
// afterwards breaks the signature. Payloads Validate refuses, and those
// too long for a token, are refused by EncodeV1Token.
func FuzzV1SignRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, seed []byte, meshID, slug, brokerURL string, expiresAt int64, rootKey []byte, admin bool) {
		s := sha256.Sum256(seed)
		owner := ed25519.NewKeyFromSeed(s[:])
		role := "member"
		if admin {
			role = "admin"
		}
		p := invite.SignV1(invite.V1Payload{MeshID: meshID, MeshSlug: slug, BrokerURL: brokerURL, ExpiresAt: expiresAt,
			MeshRootKey: protocol.EncodeB64URL(rootKey), Role: role}, owner)
		token, err := invite.EncodeV1Token(p)
		if verr := p.Validate(); verr != nil {
			if err == nil {
				t.Fatalf("EncodeV1Token accepted a payload Validate refuses (%v)", verr)
			}
			return
		}
		if err != nil {
			if !strings.Contains(err.Error(), "more than the") {
				t.Fatalf("EncodeV1Token refused a valid payload: %v", err)
			}
			return // too long to be a token: refused at mint, not handed out undecodable
		}
		link, err := invite.ParseV1Link("ic://join/" + token)
		if err != nil || link != token {
			t.Fatalf("the ic:// link of a fresh token does not parse: %q, %v", link, err)
		}
		back, err := invite.DecodeV1Token(token)
		if err != nil || back != p {
			t.Fatalf("decode of a fresh token: %+v, %v; want %+v", back, err, p)
		}
		if err := back.VerifySignature(); err != nil {
			t.Fatalf("a freshly signed token does not verify: %v", err)
		}
		for name, tampered := range map[string]invite.V1Payload{
			"mesh_id": with(p, func(q *invite.V1Payload) { q.MeshID += "x" }), "mesh_slug": with(p, func(q *invite.V1Payload) { q.MeshSlug += "x" }),
			"broker_url": with(p, func(q *invite.V1Payload) { q.BrokerURL += "x" }), "expires_at": with(p, func(q *invite.V1Payload) { q.ExpiresAt ^= 1 }),
			"role":          with(p, func(q *invite.V1Payload) { q.Role = map[string]string{"member": "admin", "admin": "member"}[q.Role] }),
			"mesh_root_key": with(p, func(q *invite.V1Payload) { q.MeshRootKey = protocol.EncodeB64URL(append([]byte{1}, rootKey...)) }),
		} {
			if err := tampered.VerifySignature(); !errors.Is(err, invite.ErrBadSignature) {
				t.Fatalf("changing %s after signing: VerifySignature = %v, want ErrBadSignature", name, err)
			}
		}
	})
}

func with(p invite.V1Payload, edit func(*invite.V1Payload)) invite.V1Payload {
	edit(&p)
	return p
}
