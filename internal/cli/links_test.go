package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

func TestParseInviteRef(t *testing.T) {
	const fp = "0123456789abcdef0123"
	token := strings.Repeat("A", 40)
	cases := []struct {
		name, arg, broker string
		want              inviteRef
		usage             string // non-empty: a usage error containing this
	}{
		{"v2 link", "https://mesh.example/i/Ab3dE6gH", "", inviteRef{Base: "https://mesh.example", Code: "Ab3dE6gH"}, ""},
		{"v2 link with fp", "http://127.0.0.1:7900/i/Ab3dE6gH#" + fp, "", inviteRef{Base: "http://127.0.0.1:7900", Code: "Ab3dE6gH", FP: fp}, ""},
		{"fp in capitals", "https://mesh.example/i/Ab3dE6gH#" + strings.ToUpper(fp), "", inviteRef{Base: "https://mesh.example", Code: "Ab3dE6gH", FP: fp}, ""},
		{"path prefix kept", "https://example.com/mesh/i/Ab3dE6gH", "", inviteRef{Base: "https://example.com/mesh", Code: "Ab3dE6gH"}, ""},
		{"surrounding space", "  https://mesh.example/i/Ab3dE6gH \n", "", inviteRef{Base: "https://mesh.example", Code: "Ab3dE6gH"}, ""},
		{"bare code", "Ab3dE6gH", "https://mesh.example/", inviteRef{Base: "https://mesh.example", Code: "Ab3dE6gH"}, ""},
		{"bare code, ws broker", "Ab3dE6gH", "wss://mesh.example/ws", inviteRef{Base: "https://mesh.example", Code: "Ab3dE6gH"}, ""},
		{"v1 ic link", "ic://join/" + token, "", inviteRef{Token: token}, ""},
		{"v1 https link", "https://mesh.example/join/" + token, "", inviteRef{Base: "https://mesh.example", Token: token}, ""},
		{"v1 link behind a prefix", "https://example.com/cm/join/" + token, "", inviteRef{Base: "https://example.com/cm", Token: token}, ""},

		{"empty", " ", "", inviteRef{}, "needs an invite link"},
		{"bare code without broker", "Ab3dE6gH", "", inviteRef{}, "--broker"},
		{"bare code, bad broker", "Ab3dE6gH", "ftp://x", inviteRef{}, "--broker"},
		{"not a link", "hello", "", inviteRef{}, "neither an invite link"},
		{"short code", "https://mesh.example/i/abc", "", inviteRef{}, "must be 8 letters or digits"},
		{"code with symbols", "https://mesh.example/i/Ab3dE6g!", "", inviteRef{}, "must be 8 letters or digits"},
		{"fragment not a fingerprint", "https://mesh.example/i/Ab3dE6gH#nothex", "", inviteRef{}, "owner fingerprint"},
		{"fragment too short", "https://mesh.example/i/Ab3dE6gH#0123", "", inviteRef{}, "owner fingerprint"},
		{"query", "https://mesh.example/i/Ab3dE6gH?x=1", "", inviteRef{}, "no user info or query"},
		{"user info", "https://u:p@mesh.example/i/Ab3dE6gH", "", inviteRef{}, "no user info or query"},
		{"other scheme", "ftp://mesh.example/i/Ab3dE6gH", "", inviteRef{}, "scheme"},
		{"no invite path", "https://mesh.example/hello", "", inviteRef{}, "must end in /i/<code>"},
		{"ic link to elsewhere", "ic://open/" + token, "", inviteRef{}, "ic://join/<token>"},
		{"v1 token outside base64url", "https://mesh.example/join/abc$def", "", inviteRef{}, "base64url"},
		{"v1 link with fragment", "https://mesh.example/join/" + token + "#x", "", inviteRef{}, "fragment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseInviteRef(c.arg, c.broker)
			if c.usage != "" {
				var ue usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.usage) {
					t.Fatalf("want a usage error mentioning %q, got %v (%+v)", c.usage, err, got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestParseLifetime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"7d", 7 * 24 * time.Hour, false},
		{"24h", 24 * time.Hour, false},
		{"30m", 30 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"366d", 366 * 24 * time.Hour, false},
		{"367d", 0, true},
		{"30s", 0, true},
		{"0d", 0, true},
		{"-1h", 0, true},
		{"d", 0, true},
		{"7 days", 0, true},
		{"", 0, true},
	}
	for _, c := range cases {
		got, err := parseLifetime(c.in)
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), "--expires") {
				t.Errorf("%q: want an error naming --expires, got %v, %v", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// TestVerifyClaim feeds verifyClaim a genuine claim answer and versions of
// it with one field tampered; only the genuine one may pass.
func TestVerifyClaim(t *testing.T) {
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	ownerHex := pubHex(owner)
	fp, _ := invite.OwnerFingerprint(ownerHex)
	rootKey := make([]byte, 32)
	rand.Read(rootKey)
	xpub, xsk, err := protocol.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	const meshID, expires = "mesh_1", int64(1900000000)
	canonical := invite.V2Canonical(meshID, "inv_1", expires, "member", ownerHex)
	sealed, _ := protocol.SealRootKey(rootKey, xpub)
	good := brokerapi.Claimed{SealedRootKey: sealed, MeshID: meshID, MemberID: "mem_1", OwnerPubkey: ownerHex,
		CanonicalV2: canonical, CapabilitySignature: protocol.SignHex(owner, canonical), Role: "member"}
	info := brokerapi.InviteInfo{MeshID: meshID, Role: "member", ExpiresAt: expires, OwnerPubkey: ownerHex}
	ref := inviteRef{FP: fp}

	key, err := verifyClaim(ref, info, good, xpub, xsk)
	if err != nil || string(key) != string(rootKey) {
		t.Fatalf("genuine claim: %x, %v", key, err)
	}
	otherCanonical := invite.V2Canonical(meshID, "inv_1", expires, "admin", ownerHex)
	otherExpiry := invite.V2Canonical(meshID, "inv_1", expires+1, "member", ownerHex)
	otherMesh := invite.V2Canonical("mesh_2", "inv_1", expires, "member", ownerHex)
	cases := []struct {
		name   string
		tamper func(c *brokerapi.Claimed, i *brokerapi.InviteInfo, r *inviteRef)
	}{
		{"signature by another key", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) {
			c.CapabilitySignature = protocol.SignHex(other, canonical)
		}},
		{"owner swapped with its own signature", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) {
			oc := invite.V2Canonical(meshID, "inv_1", expires, "member", pubHex(other))
			c.OwnerPubkey, c.CanonicalV2, c.CapabilitySignature = pubHex(other), oc, protocol.SignHex(other, oc)
		}},
		{"fp from another owner", func(_ *brokerapi.Claimed, _ *brokerapi.InviteInfo, r *inviteRef) {
			r.FP, _ = invite.OwnerFingerprint(pubHex(other))
		}},
		{"role upgraded in the answer", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) { c.Role = "admin" }},
		{"capability for another role", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) {
			c.CanonicalV2, c.CapabilitySignature, c.Role = otherCanonical, protocol.SignHex(owner, otherCanonical), "admin"
		}},
		{"capability with another expiry", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) {
			c.CanonicalV2, c.CapabilitySignature = otherExpiry, protocol.SignHex(owner, otherExpiry)
		}},
		{"capability for another mesh", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) {
			c.CanonicalV2, c.CapabilitySignature = otherMesh, protocol.SignHex(owner, otherMesh)
		}},
		{"answer names another mesh", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) { c.MeshID = "mesh_2" }},
		{"public info named another owner", func(_ *brokerapi.Claimed, i *brokerapi.InviteInfo, _ *inviteRef) { i.OwnerPubkey = pubHex(other) }},
		{"root key sealed to someone else", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) {
			p, _, _ := protocol.GenerateX25519()
			c.SealedRootKey, _ = protocol.SealRootKey(rootKey, p)
		}},
		{"non-canonical number", func(c *brokerapi.Claimed, _ *brokerapi.InviteInfo, _ *inviteRef) {
			s := strings.Replace(canonical, "|1900000000|", "|+1900000000|", 1)
			c.CanonicalV2, c.CapabilitySignature = s, protocol.SignHex(owner, s)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, i, r := good, info, ref
			tc.tamper(&c, &i, &r)
			if _, err := verifyClaim(r, i, c, xpub, xsk); err == nil {
				t.Fatal("a tampered claim answer verified")
			}
		})
	}
}

func TestPickMember(t *testing.T) {
	list := []brokerapi.Member{
		{MemberID: "mem_a", Pubkey: "aaaa1111" + strings.Repeat("0", 56), DisplayName: "Dana"},
		{MemberID: "mem_b", Pubkey: "aaaa2222" + strings.Repeat("0", 56), DisplayName: "Sam"},
		{MemberID: "mem_c", Pubkey: "cccc3333" + strings.Repeat("0", 56), DisplayName: "sam"},
		{MemberID: "mem_d", Pubkey: "dddd4444" + strings.Repeat("0", 56), DisplayName: "Old", RevokedAt: "2026-01-01T00:00:00Z"},
	}
	cases := []struct{ ref, want, err string }{
		{"mem_b", "mem_b", ""},
		{"DANA", "mem_a", ""},
		{"aaaa1111", "mem_a", ""},
		{list[2].Pubkey, "mem_c", ""},
		{"aaaa", "", "no live member"}, // prefixes shorter than 8 do not count
		{"sam", "", "names 2 members"},
		{"Old", "", "already revoked"},
		{"nobody", "", "no live member"},
	}
	for _, c := range cases {
		got, err := pickMember(list, c.ref)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: want error %q, got %v %v", c.ref, c.err, got, err)
			}
			continue
		}
		if err != nil || got.MemberID != c.want {
			t.Errorf("%q: got %v %v, want %s", c.ref, got.MemberID, err, c.want)
		}
	}
}
