package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// v1Token signs a v1 payload for m with the owner key.
func v1Token(t testing.TB, m mesh, role string, expires time.Time) (string, json.RawMessage) {
	p := invite.SignV1(invite.V1Payload{MeshID: m.id, MeshSlug: m.slug, BrokerURL: "ws://127.0.0.1:7900/ws",
		ExpiresAt: expires.Unix(), MeshRootKey: protocol.EncodeB64URL(m.rootKey), Role: role}, m.owner.Priv)
	token, err := invite.EncodeV1Token(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	return token, raw
}

func joinBody(token string, payload json.RawMessage, peer testkit.Identity) map[string]any {
	return map[string]any{"invite_token": token, "invite_payload": payload, "peer_pubkey": peer.Hex(), "display_name": "Old CLI"}
}

// TestV1Invites: minting with a token, the short-code resolver, /join with
// the token bound to its payload and the role from the row.
func TestV1Invites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		m := h.createMesh("legacy")
		liveToken, livePayload := v1Token(t, m, "member", time.Now().Add(time.Hour))
		status, minted := h.admin(m.owner, "POST", "/meshes/"+m.id+"/invites", map[string]any{"version": 1, "token": liveToken, "max_uses": 5})
		if status != 201 || minted["token"] != liveToken {
			t.Fatalf("mint v1: %d %v", status, minted)
		}
		code := minted["code"].(string)
		// v1 tokens carry no nonce: the same token minted twice is a clear
		// 409, not a 500 from the token's unique index.
		if status, again := h.admin(m.owner, "POST", "/meshes/"+m.id+"/invites", map[string]any{"version": 1, "token": liveToken, "max_uses": 5}); status != 409 || again["error"] != "conflict" {
			t.Fatalf("second mint of the same v1 token: %d %v", status, again)
		}

		status, res := h.call("GET", "/api/public/invite-code/"+code, nil)
		if status != 200 || res["found"] != true || res["token"] != liveToken {
			t.Fatalf("resolve: %d %v", status, res)
		}
		if status, res := h.call("GET", "/api/public/invite-code/"+h.mint(m, "member", 1)["code"].(string), nil); status != 404 || res["found"] != false {
			t.Fatalf("resolve of a v2 code: %d %v", status, res)
		}
		if status, res := h.call("POST", "/invites/"+code+"/claim", newJoiner(t).claimBody(code)); status != 404 {
			t.Fatalf("v2 claim of a v1 code: %d %v", status, res)
		}

		adminToken, adminPayload := v1Token(t, m, "admin", time.Now().Add(time.Hour))
		_, expiredPayload := v1Token(t, m, "member", time.Now().Add(-time.Minute))
		stranger := testkit.NewIdentity(t)
		for _, c := range []struct {
			name    string
			token   string
			payload json.RawMessage
			want    string
		}{
			{"admin payload with a live member token", liveToken, adminPayload, "invite_mismatch"},
			{"expired payload with a live member token", liveToken, expiredPayload, "invite_mismatch"},
			{"admin token never minted here", adminToken, adminPayload, "invite_not_found"},
			{"payload not JSON", liveToken, json.RawMessage(`"x"`), "invite_mismatch"},
		} {
			status, out := h.call("POST", "/join", joinBody(c.token, c.payload, stranger))
			if status != 400 || out["ok"] != false || out["error"] != c.want {
				t.Errorf("%s: %d %v, want 400 %s", c.name, status, out, c.want)
			}
		}
		if n := h.memberCount(m.id); n != 1 {
			t.Fatalf("refused joins created members: %d", n)
		}

		joiner := testkit.NewIdentity(t)
		status, out := h.call("POST", "/join", joinBody(liveToken, livePayload, joiner))
		if status != 200 || out["ok"] != true {
			t.Fatalf("join: %d %v", status, out)
		}
		memberID := out["memberId"].(string)
		member, err := h.st.GetMember(context.Background(), m.id, memberID)
		if err != nil || member.Role != "member" || member.Pubkey != joiner.Hex() {
			t.Fatalf("joined member %+v, %v", member, err)
		}
		status, out = h.call("POST", "/join", joinBody(liveToken, livePayload, joiner))
		if status != 200 || out["memberId"] != memberID || out["alreadyMember"] != true {
			t.Fatalf("second join: %d %v", status, out)
		}
		if inv := h.invite(code); inv.UsedCount != 1 {
			t.Fatalf("used_count %d, want 1", inv.UsedCount)
		}
		// The row's expiry counts too, even while the payload's has not passed.
		h.exec(`UPDATE invite SET expires_at = created_at WHERE code = ` + sqlQuote(code))
		if status, out := h.call("POST", "/join", joinBody(liveToken, livePayload, testkit.NewIdentity(t))); out["error"] != "invite_expired" {
			t.Fatalf("join after the row expired: %d %v", status, out)
		}
	})
}

// TestV1VectorJoins runs the invite_v1 vector's token through the broker's
// parser and join, on a mesh with the vector's id and owner.
func TestV1VectorJoins(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "invite", "testdata", "libsodium-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Identities map[string]struct {
			SecretKeyHex string `json:"ed25519_secret_key_hex"`
		} `json:"identities"`
		Vectors struct {
			V1 struct {
				Payload json.RawMessage `json:"payload"`
				Token   string          `json:"token_b64url"`
				Link    string          `json:"link"`
			} `json:"invite_v1"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	token, err := invite.ParseV1Link(v.Vectors.V1.Link)
	if err != nil || token != v.Vectors.V1.Token {
		t.Fatalf("ParseV1Link(vector link) = %q, %v", token, err)
	}
	p, err := invite.DecodeV1Token(token)
	if err != nil || p.VerifySignature() != nil {
		t.Fatalf("vector token: %+v, %v", p, err)
	}
	ownerKey, err := protocol.ParseSecretKeyHex(v.Identities["owner"].SecretKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			h := startBroker(t, b)
			rootKey, _ := protocol.DecodeB64URL(p.MeshRootKey)
			dbMesh, err := meshadmin.NewSealedMesh(nil, "vector", p.OwnerPubkey, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			// A 32-byte stored key is the pre-encryption layout: it must keep working.
			dbMesh.ID, dbMesh.Slug, dbMesh.RootKey = p.MeshID, p.MeshSlug, rootKey
			if err := h.st.CreateMesh(context.Background(), dbMesh); err != nil {
				t.Fatal(err)
			}
			m := mesh{id: p.MeshID, owner: testkit.Identity{Pub: ownerKey.Public().(ed25519.PublicKey), Priv: ownerKey}}
			status, out := h.admin(m.owner, "POST", "/meshes/"+m.id+"/invites", map[string]any{"version": 1, "token": token})
			if status != 201 {
				t.Fatalf("mint the vector token: %d %v", status, out)
			}
			status, out = h.call("POST", "/join", joinBody(token, v.Vectors.V1.Payload, testkit.NewIdentity(t)))
			if status != 200 || out["ok"] != true {
				t.Fatalf("join with the vector token: %d %v", status, out)
			}
		})
	}
}
