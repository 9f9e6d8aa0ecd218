package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// TestConcurrentClaims: N claims race for a max_uses invite; exactly
// max_uses succeed, the rest get 410 exhausted, and exactly that many
// member rows appear (R3).
func TestConcurrentClaims(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		for _, maxUses := range []int{1, 3} {
			m := h.createMesh("race")
			code := h.mint(m, "member", maxUses)["code"].(string)
			const n = 200
			joiners := make([]joiner, n)
			for i := range joiners {
				joiners[i] = newJoiner(t)
			}
			statuses := make([]int, n)
			codes := make([]string, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					st, out := h.call("POST", "/invites/"+code+"/claim", joiners[i].claimBody(code))
					statuses[i] = st
					if e, ok := out["error"].(string); ok {
						codes[i] = e
					}
				}()
			}
			close(start)
			wg.Wait()
			ok, gone := 0, 0
			for i, st := range statuses {
				switch {
				case st == http.StatusOK:
					ok++
				case st == http.StatusGone && codes[i] == "exhausted":
					gone++
				default:
					t.Errorf("max_uses %d: claim %d got %d %q", maxUses, i, st, codes[i])
				}
			}
			if ok != maxUses || gone != n-maxUses {
				t.Fatalf("max_uses %d: %d ok, %d exhausted; want %d and %d", maxUses, ok, gone, maxUses, n-maxUses)
			}
			if got := h.memberCount(m.id); got != 1+maxUses { // the creator plus the winners
				t.Fatalf("max_uses %d: %d member rows, want %d", maxUses, got, 1+maxUses)
			}
			if inv := h.invite(code); inv.UsedCount != maxUses {
				t.Fatalf("used_count = %d, want %d", inv.UsedCount, maxUses)
			}
		}
	})
}

// TestFailedClaimsConsumeNothing: each refused claim leaves used_count and
// the member rows as they were.
func TestFailedClaimsConsumeNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		m := h.createMesh("careful")
		code := h.mint(m, "member", 1)["code"].(string)
		cases := []struct {
			name, code string
			status     int
			body       func(j joiner) map[string]any
			tamper     string // SQL run before the claim
		}{
			{name: "x25519 key 31 bytes", status: 400, code: "malformed", body: func(j joiner) map[string]any {
				b := j.claimBody(code)
				b["recipient_x25519_pubkey"] = protocol.EncodeB64URL(j.xpub[:31])
				return b
			}},
			{name: "x25519 key padded base64", status: 400, code: "malformed", body: func(j joiner) map[string]any {
				b := j.claimBody(code)
				b["recipient_x25519_pubkey"] = b["recipient_x25519_pubkey"].(string) + "="
				return b
			}},
			{name: "x25519 key low order", status: 400, code: "malformed", body: func(j joiner) map[string]any {
				zero := protocol.EncodeB64URL(make([]byte, 32))
				return signedClaim(j, code, zero)
			}},
			{name: "display name with U+0000", status: 400, code: "malformed", body: func(j joiner) map[string]any {
				b := j.claimBody(code)
				b["display_name"] = "Da\x00na"
				return b
			}},
			{name: "claim signed by another key", status: 400, code: "bad_signature", body: func(j joiner) map[string]any {
				b := j.claimBody(code)
				b["signature"] = newJoiner(t).claimBody(code)["signature"]
				return b
			}},
			{name: "claim signature over another code", status: 400, code: "bad_signature", body: func(j joiner) map[string]any {
				return j.claimBody("ZZZZZZZZ")
			}},
			{name: "stored capability tampered", status: 400, code: "bad_signature", body: func(j joiner) map[string]any { return j.claimBody(code) },
				tamper: `UPDATE invite SET role = 'admin' WHERE code = ` + sqlQuote(code)},
			{name: "stored capability signature replaced", status: 400, code: "bad_signature", body: func(j joiner) map[string]any { return j.claimBody(code) },
				tamper: `UPDATE invite SET capability_v2 = replace(capability_v2, '"signature":"', '"signature":"00') WHERE code = ` + sqlQuote(code)},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.tamper != "" {
					h.exec(c.tamper)
				}
				status, out := h.call("POST", "/invites/"+code+"/claim", c.body(newJoiner(t)))
				if status != c.status || out["error"] != c.code {
					t.Fatalf("got %d %v, want %d %s", status, out, c.status, c.code)
				}
				if msg, _ := out["message"].(string); len(msg) < 10 || out["timestamp"] == nil {
					t.Fatalf("error body lacks a readable message or timestamp: %v", out)
				}
				if inv := h.invite(code); inv.UsedCount != 0 {
					t.Fatalf("used_count = %d after a failed claim", inv.UsedCount)
				}
				if got := h.memberCount(m.id); got != 1 {
					t.Fatalf("%d members after a failed claim, want 1", got)
				}
			})
		}
	})
}

func signedClaim(j joiner, code, x string) map[string]any {
	b := j.claimBody(code)
	ts := b["timestamp"].(int64)
	b["recipient_x25519_pubkey"] = x
	b["signature"] = protocol.SignHex(j.id.Priv, protocol.ClaimCanonical(code, x, j.id.Hex(), ts))
	return b
}

// TestClaimThenHello walks the v2 join as the CLI does it: public info,
// claim, open the sealed root key, verify the capability against the owner
// key and the #fp fragment, then a hello with the new member key.
func TestClaimThenHello(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		m := h.createMesh("Platform Team")
		minted := h.mint(m, "admin", 2)
		code := minted["code"].(string)

		status, info := h.call("GET", "/invites/"+code, nil)
		if status != 200 || info["mesh_name"] != "Platform Team" || info["role"] != "admin" || info["inviter_name"] != "Olivia" ||
			info["status"] != "active" || info["member_count"] != float64(1) || info["version"] != float64(2) ||
			info["owner_pubkey"] != m.owner.Hex() || info["mesh_id"] != m.id {
			t.Fatalf("public info: %d %v", status, info)
		}
		j := newJoiner(t)
		status, out := h.call("POST", "/api/public/invites/"+code+"/claim", j.claimBody(code))
		if status != 200 {
			t.Fatalf("claim: %d %v", status, out)
		}
		key, err := protocol.OpenRootKey(out["sealed_root_key"].(string), j.xpub, j.xsk)
		if err != nil || !bytes.Equal(key, m.rootKey) {
			t.Fatalf("sealed root key: %x, %v", key, err)
		}
		canonical := out["canonical_v2"].(string)
		if !protocol.VerifyHex(out["owner_pubkey"].(string), canonical, out["capability_signature"].(string)) {
			t.Fatal("capability does not verify against owner_pubkey")
		}
		fp, _ := invite.OwnerFingerprint(out["owner_pubkey"].(string))
		if !strings.HasSuffix(minted["url"].(string), "/i/"+code+"#"+fp) || !strings.HasPrefix(canonical, "v=2|"+m.id+"|") {
			t.Fatalf("url %v / canonical %q do not match the mesh and owner", minted["url"], canonical)
		}
		if out["role"] != "admin" || out["mesh_id"] != m.id || out["broker_url"] != "ws://"+h.srv.Addr+"/ws" {
			t.Fatalf("claim response: %v", out)
		}
		memberID := out["member_id"].(string)
		c, f := testkit.Connect(t, out["broker_url"].(string), testkit.Hello{MeshID: m.id, MemberID: memberID, Member: j.id})
		if f["type"] != "hello_ack" {
			t.Fatalf("hello after claim: %v", f)
		}
		c.WS.CloseNow()

		// Claiming again with the same key returns the same member and
		// consumes nothing.
		status, again := h.call("POST", "/invites/"+code+"/claim", j.claimBody(code))
		if status != 200 || again["member_id"] != memberID || again["already_member"] != true {
			t.Fatalf("second claim: %d %v", status, again)
		}
		if inv := h.invite(code); inv.UsedCount != 1 || inv.ClaimedByPubkey != protocol.EncodeB64URL(j.xpub[:]) {
			t.Fatalf("after the repeat claim: used_count %d, claimed_by %q", inv.UsedCount, inv.ClaimedByPubkey)
		}
	})
}
