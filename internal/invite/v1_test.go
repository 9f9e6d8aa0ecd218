package invite_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

type inviteVectors struct {
	Identities map[string]struct {
		SecretKeyHex string `json:"ed25519_secret_key_hex"`
		PubkeyHex    string `json:"ed25519_pubkey_hex"`
	} `json:"identities"`
	Vectors struct {
		V1 struct {
			Payload     invite.V1Payload `json:"payload"`
			Canonical   string           `json:"canonical"`
			TokenB64url string           `json:"token_b64url"`
			Link        string           `json:"link"`
		} `json:"invite_v1"`
		V2 struct {
			Canonical    string `json:"canonical"`
			SignatureHex string `json:"signature_hex"`
			Owner        string `json:"owner"`
		} `json:"invite_v2"`
	} `json:"vectors"`
}

func loadInviteVectors(t testing.TB) inviteVectors {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "libsodium-vectors.json"))
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v inviteVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	return v
}

func v1VecKey(t testing.TB, v inviteVectors, who string) ed25519.PrivateKey {
	t.Helper()
	priv, err := protocol.ParseSecretKeyHex(v.Identities[who].SecretKeyHex)
	if err != nil {
		t.Fatalf("identity %q: %v", who, err)
	}
	return priv
}

func TestV1Vector(t *testing.T) {
	v := loadInviteVectors(t)
	want := v.Vectors.V1
	owner := v1VecKey(t, v, "owner")

	if got := want.Payload.Canonical(); got != want.Canonical {
		t.Fatalf("canonical = %q, want %q", got, want.Canonical)
	}
	unsigned := want.Payload
	unsigned.Signature, unsigned.OwnerPubkey, unsigned.V = "", "", 0
	signed := invite.SignV1(unsigned, owner)
	if signed != want.Payload {
		t.Errorf("SignV1 = %+v, want %+v", signed, want.Payload)
	}
	if err := want.Payload.VerifySignature(); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}

	token, err := invite.EncodeV1Token(want.Payload)
	if err != nil {
		t.Fatalf("EncodeV1Token: %v", err)
	}
	if token != want.TokenB64url {
		t.Errorf("token =\n%s\nwant\n%s", token, want.TokenB64url)
	}
	decoded, err := invite.DecodeV1Token(want.TokenB64url)
	if err != nil {
		t.Fatalf("DecodeV1Token: %v", err)
	}
	if decoded != want.Payload {
		t.Errorf("decoded = %+v, want %+v", decoded, want.Payload)
	}

	got, err := invite.ParseV1Link(want.Link)
	if err != nil || got != want.TokenB64url {
		t.Errorf("ParseV1Link(ic) = %q, %v", got, err)
	}
	got, err = invite.ParseV1Link("https://broker.example.com/join/" + want.TokenB64url)
	if err != nil || got != want.TokenB64url {
		t.Errorf("ParseV1Link(https) = %q, %v", got, err)
	}
}

func TestV2Vector(t *testing.T) {
	v := loadInviteVectors(t)
	p := v.Vectors.V1.Payload // same mesh, expiry, role and owner
	owner := v1VecKey(t, v, v.Vectors.V2.Owner)

	// "inv_0001" is the invite id the vector generator used.
	canon := invite.V2Canonical(p.MeshID, "inv_0001", p.ExpiresAt, p.Role, p.OwnerPubkey)
	if canon != v.Vectors.V2.Canonical {
		t.Fatalf("canonical = %q, want %q", canon, v.Vectors.V2.Canonical)
	}
	if got := protocol.SignHex(owner, canon); got != v.Vectors.V2.SignatureHex {
		t.Errorf("signature = %s, want %s", got, v.Vectors.V2.SignatureHex)
	}
	if !protocol.VerifyHex(p.OwnerPubkey, canon, v.Vectors.V2.SignatureHex) {
		t.Error("VerifyHex rejected the v2 vector")
	}
}

func TestOwnerFingerprint(t *testing.T) {
	v := loadInviteVectors(t)
	// Pinned with Python: hashlib.sha256(bytes.fromhex(pub)).hexdigest()[:20].
	fp, err := invite.OwnerFingerprint(v.Identities["owner"].PubkeyHex)
	if err != nil || fp != "795ed5ffe9039bf56d22" {
		t.Errorf("OwnerFingerprint = %q, %v", fp, err)
	}
	for _, bad := range []string{"", "abc", strings.ToUpper(v.Identities["owner"].PubkeyHex)} {
		if _, err := invite.OwnerFingerprint(bad); err == nil {
			t.Errorf("OwnerFingerprint(%q) accepted", bad)
		}
	}
}

func TestV1TamperedFieldFailsVerify(t *testing.T) {
	v := loadInviteVectors(t)
	good := v.Vectors.V1.Payload
	otherKey := protocol.EncodeB64URL(bytes.Repeat([]byte{0x5b}, 32))
	flipped := "0" + good.Signature[1:]
	if flipped == good.Signature {
		flipped = "1" + good.Signature[1:]
	}

	tests := []struct {
		name   string
		tamper func(*invite.V1Payload)
	}{
		{"mesh_id", func(p *invite.V1Payload) { p.MeshID = "mesh_0002" }},
		{"mesh_slug", func(p *invite.V1Payload) { p.MeshSlug = "platforms" }},
		{"broker_url", func(p *invite.V1Payload) { p.BrokerURL = "wss://evil.example/ws" }},
		{"expires_at", func(p *invite.V1Payload) { p.ExpiresAt++ }},
		{"mesh_root_key", func(p *invite.V1Payload) { p.MeshRootKey = otherKey }},
		{"role", func(p *invite.V1Payload) { p.Role = "admin" }},
		{"owner_pubkey", func(p *invite.V1Payload) { p.OwnerPubkey = v.Identities["bob"].PubkeyHex }},
		{"signature", func(p *invite.V1Payload) { p.Signature = flipped }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			tt.tamper(&p)
			// Still well-formed: it survives a token round trip...
			token, err := invite.EncodeV1Token(p)
			if err != nil {
				t.Fatalf("EncodeV1Token: %v", err)
			}
			decoded, err := invite.DecodeV1Token(token)
			if err != nil {
				t.Fatalf("DecodeV1Token: %v", err)
			}
			// ...but the signature gives it away.
			if err := decoded.VerifySignature(); !errors.Is(err, invite.ErrBadSignature) {
				t.Errorf("VerifySignature err = %v, want ErrBadSignature", err)
			}
		})
	}

	bad := good
	bad.Signature = strings.ToUpper(good.Signature)
	if err := bad.VerifySignature(); err == nil || errors.Is(err, invite.ErrBadSignature) {
		t.Errorf("uppercase signature: err = %v, want a shape error", err)
	}
}

// v1VecJSON is the vector token's JSON, which the cases below edit as text so
// they can express duplicates, nulls and wrong types.
const v1VecJSON = `{"v":1,"mesh_id":"mesh_0001","mesh_slug":"platform","broker_url":"ws://127.0.0.1:7900/ws","expires_at":1893456000,"mesh_root_key":"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo","role":"member","owner_pubkey":"d9bf2148748a85c89da5aad8ee0b0fc2d105fd39d41a4c796536354f0ae2900c","signature":"7427d32656e8bd9b56e97b7f212e0ab53dbfec0a039324c2ad5b34d7ee6efc15b4ca80623b105953465e76aeaddcef1b41a8c6189d69a94215690b3679abd509"}`

func TestDecodeV1TokenRejects(t *testing.T) {
	v := loadInviteVectors(t)
	if got := protocol.EncodeB64URL([]byte(v1VecJSON)); got != v.Vectors.V1.TokenB64url {
		t.Fatal("v1VecJSON is out of date with the vector token")
	}
	edit := func(old, new string) string {
		if !strings.Contains(v1VecJSON, old) {
			t.Fatalf("test bug: %q not in v1VecJSON", old)
		}
		return protocol.EncodeB64URL([]byte(strings.Replace(v1VecJSON, old, new, 1)))
	}
	tok := v.Vectors.V1.TokenB64url
	rootKey := `"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo"`

	tests := []struct{ name, token, mention string }{
		{"empty", "", "empty"},
		{"too long", strings.Repeat("A", invite.MaxV1TokenLen+1), "allowed"},
		{"padded", tok + "==", "padded"},
		{"std alphabet", base64.StdEncoding.EncodeToString([]byte(v1VecJSON + " ?>")), "base64"},
		{"not JSON", protocol.EncodeB64URL([]byte("hello")), "JSON object"},
		{"JSON array", protocol.EncodeB64URL([]byte(`[1,2]`)), "JSON object"},
		{"truncated JSON", protocol.EncodeB64URL([]byte(v1VecJSON[:40])), "JSON"},
		{"trailing data", protocol.EncodeB64URL([]byte(v1VecJSON + `{}`)), "after the JSON"},
		{"missing field", edit(`,"role":"member"`, ``), "no role"},
		{"duplicate field", edit(`"role":"member"`, `"role":"member","role":"admin"`), "repeats"},
		{"unknown field", edit(`"v":1,`, `"v":1,"admin":true,`), "unknown field"},
		{"null field", edit(`"mesh_slug":"platform"`, `"mesh_slug":null`), "null"},
		{"v as string", edit(`"v":1`, `"v":"1"`), "integer"},
		{"v fraction", edit(`"v":1`, `"v":1.5`), "integer"},
		{"v is 2", edit(`"v":1`, `"v":2`), "v must be 1"},
		{"expires_at string", edit(`1893456000`, `"1893456000"`), "expires_at"},
		{"expires_at zero", edit(`1893456000`, `0`), "expires_at"},
		{"empty mesh_id", edit(`"mesh_0001"`, `""`), "mesh_id"},
		{"pipe in slug", edit(`"platform"`, `"plat|form"`), "'|'"},
		{"http broker_url", edit(`"ws://127.0.0.1:7900/ws"`, `"http://127.0.0.1:7900/ws"`), "ws://"},
		{"broker_url no host", edit(`"ws://127.0.0.1:7900/ws"`, `"ws:///ws"`), "ws://"},
		{"bad role", edit(`"member"`, `"owner"`), "role"},
		{"uppercase owner_pubkey", edit(`"d9bf`, `"D9BF`), "owner_pubkey"},
		{"short signature", edit(`abd509"`, `"`), "signature"},
		{"root key 31 bytes", edit(rootKey, `"`+protocol.EncodeB64URL(make([]byte, 31))+`"`), "32 bytes"},
		{"root key padded", edit(rootKey, `"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo="`), "mesh_root_key"},
		{"root key std alphabet", edit(rootKey, `"+lpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo"`), "mesh_root_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := invite.DecodeV1Token(tt.token)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("err %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestEncodeV1TokenMatchesJSONStringify(t *testing.T) {
	v := loadInviteVectors(t)
	p := v.Vectors.V1.Payload
	p.BrokerURL = "wss://h.example/ws?a=1&b=<2>"
	p = invite.SignV1(p, v1VecKey(t, v, "owner"))
	token, err := invite.EncodeV1Token(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := protocol.DecodeB64URL(token)
	// JSON.stringify leaves &, < and > alone; Go would escape them by default.
	if !bytes.Contains(raw, []byte(`"wss://h.example/ws?a=1&b=<2>"`)) || bytes.HasSuffix(raw, []byte("\n")) {
		t.Errorf("token JSON = %s", raw)
	}
	back, err := invite.DecodeV1Token(token)
	if err != nil || back != p {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if err := back.VerifySignature(); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}

	p.Role = "guest"
	if _, err := invite.EncodeV1Token(p); err == nil {
		t.Error("EncodeV1Token accepted an invalid payload")
	}
}

func TestV1Expired(t *testing.T) {
	p := invite.V1Payload{ExpiresAt: 1893456000}
	if p.Expired(time.Unix(1893455999, 0)) || !p.Expired(time.Unix(1893456000, 0)) {
		t.Error("Expired boundary is wrong: an invite expires at expires_at")
	}
}

func TestParseV1Link(t *testing.T) {
	const tok = "eyJ2IjoxfQ"
	tests := []struct {
		link string
		ok   bool
	}{
		{"ic://join/" + tok, true},
		{"  ic://join/" + tok + "\n", true},
		{"https://broker.example.com/join/" + tok, true},
		{"http://127.0.0.1:7900/join/" + tok, true},
		{"https://example.com/claudemesh/join/" + tok, true},
		{"ic://join/", false},
		{"ic://other/" + tok, false},
		{"ic://join/" + tok + "/", false},
		{"ic://join/" + tok + "==", false},
		{"ic://join/%41" + tok, false},
		{"ftp://host/join/" + tok, false},
		{"https://host/" + tok, false},
		{"https://host/xjoin/" + tok, false},
		{"https:///join/" + tok, false},
		{"https://host/join/" + tok + "?x=1", false},
		{"https://host/join/" + tok + "#frag", false},
		{"https://user@host/join/" + tok, false},
		{tok, false},
		{"", false},
		{"ic://join/" + strings.Repeat("A", invite.MaxV1TokenLen+1), false},
	}
	for _, tt := range tests {
		got, err := invite.ParseV1Link(tt.link)
		if tt.ok && (err != nil || got != tok) {
			t.Errorf("ParseV1Link(%q) = %q, %v; want %q", tt.link, got, err, tok)
		}
		if !tt.ok && err == nil {
			t.Errorf("ParseV1Link(%q) accepted: %q", tt.link, got)
		}
	}
}

func TestV2Canonical(t *testing.T) {
	got := invite.V2Canonical("m", "i", 42, "admin", "pk")
	if got != "v=2|m|i|42|admin|pk" {
		t.Errorf("V2Canonical = %q", got)
	}
}

// The owner key in the vectors must be the one in the v1 payload; a
// mismatch would make TestV2Vector reuse the wrong fields.
func TestVectorOwnerConsistency(t *testing.T) {
	v := loadInviteVectors(t)
	pub := v1VecKey(t, v, "owner").Public().(ed25519.PublicKey)
	if hex.EncodeToString(pub) != v.Vectors.V1.Payload.OwnerPubkey {
		t.Error("owner identity does not match invite_v1 owner_pubkey")
	}
}
