package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// consentFixture is a broker with a live, a revoked, an exhausted and an
// expired invite on one mesh.
type consentFixture struct {
	h                                 *harness
	live, revoked, exhausted, expired string
}

func newConsentFixture(t *testing.T, b storetest.Backend) consentFixture {
	h := startBroker(t, b)
	m := h.createMesh("Design <Review>")
	f := consentFixture{h: h}
	f.live = h.mint(m, "admin", 3)["code"].(string)
	revoked := h.mint(m, "member", 1)
	f.revoked = revoked["code"].(string)
	if status, out := h.admin(m.owner, "DELETE", "/meshes/"+m.id+"/invites/"+revoked["invite_id"].(string), nil); status != 200 {
		t.Fatalf("revoke invite: %d %v", status, out)
	}
	f.exhausted = h.mint(m, "member", 1)["code"].(string)
	if status, out := h.call("POST", "/invites/"+f.exhausted+"/claim", newJoiner(t).claimBody(f.exhausted)); status != 200 {
		t.Fatalf("claim: %d %v", status, out)
	}
	// An expired invite cannot be minted, so it is written as time left it.
	f.expired = "Expired1"
	past := time.Now().Add(-time.Hour)
	if err := h.st.CreateInvite(context.Background(), store.Invite{ID: "inv_expired", MeshID: m.id, Code: f.expired,
		Version: 2, Role: "member", MaxUses: 1, ExpiresAt: past, CreatedBy: m.owner.Hex(), CreatedAt: past.Add(-time.Hour)}, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

func get(t *testing.T, url string) (int, http.Header, string) {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestConsentPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		f := newConsentFixture(t, b)
		status, header, page := get(t, f.h.base+"/i/"+f.live)
		if status != 200 {
			t.Fatalf("live invite page: %d", status)
		}
		for _, want := range []string{"Design &lt;Review&gt;", "Olivia", `id="role">Admin<`, `id="members">2<`, `id="online">0<`,
			"claudemesh join " + f.h.srv.PublicURL + "/i/" + f.live + "#", "cannot read messages", "Join Design &lt;Review&gt; as Admin"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		csp := header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("CSP %q is not strict", csp)
		}
		// The inline style and script are exactly the ones the CSP allows.
		for _, tag := range []string{"style", "script"} {
			m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(page)
			sum := sha256.Sum256([]byte(m[1]))
			if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
				t.Errorf("inline %s does not match its CSP hash", tag)
			}
		}
		for _, external := range []string{"src=", "href=", "<link", "@import", "url("} {
			if strings.Contains(page, external) {
				t.Errorf("page references an external asset (%s)", external)
			}
		}
		for code, want := range map[string]int{f.revoked: 410, f.exhausted: 410, f.expired: 410, "Unknown1": 404, "bad": 404} {
			status, _, page := get(t, f.h.base+"/i/"+code)
			if status != want || !strings.Contains(page, "<h1") {
				t.Errorf("/i/%s: %d, want %d with a page", code, status, want)
			}
		}
		for code, want := range map[string]string{f.live: "active", f.revoked: "revoked", f.exhausted: "exhausted", f.expired: "expired"} {
			if _, out := f.h.call("GET", "/invites/"+code, nil); out["status"] != want {
				t.Errorf("status of %s = %v, want %s", code, out["status"], want)
			}
		}
	})
}

// TestConsentPageInChromium renders the page in a real headless browser
// and checks the DOM it built. Under CI a missing chromium is a failure.
func TestConsentPageInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it (apt-get install -y chromium)")
		}
		t.Skip("chromium not installed: skipping the real-browser check (apt-get install -y chromium)")
	}
	f := newConsentFixture(t, storetest.Backends(t)[0])
	dump := func(code string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
			"--user-data-dir="+t.TempDir(), "--dump-dom", f.h.base+"/i/"+code).Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return string(out)
	}
	dom := dump(f.live)
	for _, want := range []string{`<h1 id="heading">Join Design &lt;Review&gt; as Admin</h1>`, `id="mesh">Design &lt;Review&gt;<`,
		`id="inviter">Olivia<`, `class="badge" id="role">Admin<`, `id="members">2<`, `id="online">0<`,
		`id="command">claudemesh join ` + f.h.srv.PublicURL + "/i/" + f.live + "#", `data-copy="command">Copy<`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q\n%s", want, dom)
		}
	}
	if dom := dump(f.exhausted); !strings.Contains(dom, "can no longer be used") || !strings.Contains(dom, "used as many times") {
		t.Errorf("exhausted invite DOM:\n%s", dom)
	}
	if dom := dump("Unknown1"); !strings.Contains(dom, "Invite not found") {
		t.Errorf("unknown code DOM:\n%s", dom)
	}
}
