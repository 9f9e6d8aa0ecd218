package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/mail/mailtest"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// TestEmailInvite: the mail carries the link and no secret; a claim of
// that code marks the email invite accepted.
func TestEmailInvite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		sink := mailtest.Start(t)
		h := startBroker(t, b, func(c *config.Broker) { c.SMTPURL, c.MailFrom = sink.URL(), "broker@example.com" })
		m := h.createMesh("Mailroom")
		body := mintBody(m, "member", 1, time.Now().Add(time.Hour))
		body["email"] = "dana@example.com"
		status, out := h.admin(m.owner, "POST", "/meshes/"+m.id+"/invites", body)
		if status != 201 || out["email_status"] != "sent" {
			t.Fatalf("mint with email: %d %v", status, out)
		}
		code := out["code"].(string)
		mails := sink.Wait(t, 1, 5*time.Second)
		got := mails[0]
		if got.To != "dana@example.com" || got.From != "broker@example.com" {
			t.Fatalf("envelope %s -> %s", got.From, got.To)
		}
		if !strings.Contains(got.Data, h.srv.PublicURL+"/i/"+code) || !strings.Contains(got.Data, "text/html") {
			t.Fatalf("mail lacks the link or the HTML part:\n%s", got.Data)
		}
		capSig := body["capability"].(map[string]any)["signature"].(string)
		for _, secret := range []string{protocol.EncodeB64URL(m.rootKey), capSig, string(m.owner.Priv), "root_key"} {
			if strings.Contains(got.Data, secret) {
				t.Fatalf("mail contains a secret")
			}
		}
		status, out = h.admin(m.owner, "GET", "/meshes/"+m.id+"/invites", nil)
		if email := firstEmail(t, status, out); email["status"] != "sent" || email["sent_at"] == nil || email["accepted_at"] != nil {
			t.Fatalf("before the claim: %v", email)
		}
		if status, out := h.call("POST", "/invites/"+code+"/claim", newJoiner(t).claimBody(code)); status != 200 {
			t.Fatalf("claim: %d %v", status, out)
		}
		status, out = h.admin(m.owner, "GET", "/meshes/"+m.id+"/invites", nil)
		if email := firstEmail(t, status, out); email["status"] != "accepted" || email["accepted_at"] == nil {
			t.Fatalf("after the claim: %v", email)
		}
	})
}

func firstEmail(t *testing.T, status int, out map[string]any) map[string]any {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("list invites: %d %v", status, out)
	}
	invites := out["invites"].([]any)
	emails := invites[0].(map[string]any)["emails"].([]any)
	return emails[0].(map[string]any)
}

// TestEmailInviteWithoutSMTP says honestly that nothing was sent.
func TestEmailInviteWithoutSMTP(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	m := h.createMesh("no mail")
	out := h.mint(m, "member", 1, map[string]any{"email": "erin@example.com"})
	if out["email_status"] != "not_sent" || !strings.Contains(out["email_message"].(string), "SMTP_URL") {
		t.Fatalf("mint: %v", out)
	}
	status, list := h.admin(m.owner, "GET", "/meshes/"+m.id+"/invites", nil)
	if email := firstEmail(t, status, list); email["status"] != "not_sent" || email["sent_at"] != nil {
		t.Fatalf("listed email: %v", email)
	}
	if status, out := h.admin(m.owner, "POST", "/meshes/"+m.id+"/invites",
		map[string]any{"email": "not an address", "role": "member"}); status != 400 || out["error"] != "malformed" {
		t.Fatalf("bad address: %d %v", status, out)
	}
}

// TestPublicRoutesAreRateLimited: claim, info, resolve, /join and /i/ share
// one budget per client address.
func TestPublicRoutesAreRateLimited(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker) { c.HTTPRateLimitPerMin = 4 })
	m := h.createMesh("busy")
	code := h.mint(m, "member", 1)["code"].(string)
	for i := range 4 {
		if status, out := h.call("GET", "/api/public/invite-code/"+code, nil); status != 404 {
			t.Fatalf("resolve %d within the limit: %d %v", i, status, out)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/invites/" + code + "/claim"}, {"GET", "/api/public/invite-code/" + code},
		{"GET", "/invites/" + code}, {"POST", "/join"}, {"GET", "/i/" + code},
	} {
		status, out := h.call(c.method, c.path, newJoiner(t).claimBody(code))
		if status != http.StatusTooManyRequests {
			t.Errorf("%s %s over the limit: %d %v", c.method, c.path, status, out)
		}
	}
	if inv := h.invite(code); inv.UsedCount != 0 {
		t.Fatal("a rate-limited claim consumed a use")
	}
	resp, err := http.Get(h.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `claudemesh_rate_limited_total{kind="http"} 5`) {
		t.Errorf("/metrics does not count the five 429s:\n%s", body)
	}
	// Admin routes are signed, not rate limited by address.
	if status, _ := h.admin(m.owner, "GET", "/meshes/"+m.id, nil); status != 200 {
		t.Fatalf("admin route: %d", status)
	}
}
