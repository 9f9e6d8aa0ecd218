package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/internal/invite"
)

//go:embed consent.css
var consentCSS string

//go:embed consent.js
var consentJS string

//go:embed consent.html
var consentHTML string

var consentTmpl = template.Must(template.New("consent").Parse(consentHTML))

// consentCSP allows exactly the page's own inline style and script by hash:
// nothing else loads, and the page works with scripts off (the script only
// adds the copy button's clipboard write).
var consentCSP = "default-src 'none'; style-src '" + cspHash(consentCSS) + "'; script-src '" + cspHash(consentJS) +
	"'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

type consentView struct {
	Title, Heading, Note string
	OK                   bool
	Mesh, Inviter, Role  string
	Members, Online      int
	Expires, Command     string
	CSS                  template.CSS
	JS                   template.JS
}

func (a *API) consentPage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	inv, mesh, err := a.publicInvite(r.Context(), code)
	if err != nil {
		a.writePageError(w, r, err)
		return
	}
	members, online, err := a.counts(r, mesh.ID)
	if err != nil {
		a.writePageError(w, r, err)
		return
	}
	now := a.now()
	if status := inv.Status(now); status != "active" {
		a.writePageError(w, r, errorf(http.StatusGone, status, "%s", gonePhrase(status, mesh.Name)))
		return
	}
	fp, _ := invite.OwnerFingerprint(mesh.OwnerPubkey)
	role := strings.ToUpper(inv.Role[:1]) + inv.Role[1:]
	v := consentView{Title: "Join " + mesh.Name + " on claudemesh", Heading: "Join " + mesh.Name + " as " + role, OK: true,
		Mesh: mesh.Name, Inviter: inv.InviterName, Role: role, Members: members, Online: online,
		Expires: inv.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC") + " (" + until(inv.ExpiresAt, now) + ")",
		Command: "claudemesh join " + a.inviteURL(code, fp)}
	renderPage(w, http.StatusOK, v)
}

func gonePhrase(status, mesh string) string {
	switch status {
	case "revoked":
		return "This invite to " + mesh + " was revoked by a mesh admin. Ask them for a new one."
	case "expired":
		return "This invite to " + mesh + " has expired. Ask for a new one."
	}
	return "This invite to " + mesh + " has already been used as many times as it allows. Ask for a new one."
}

// writePageError renders an error as the consent page's HTML, with the
// status and message of the one error mapping.
func (a *API) writePageError(w http.ResponseWriter, r *http.Request, err error) {
	e := a.classifyLogged(r, err)
	heading := map[int]string{http.StatusNotFound: "Invite not found", http.StatusGone: "This invite can no longer be used",
		http.StatusTooManyRequests: "Too many requests"}[e.Status]
	if heading == "" {
		heading = "Something failed on the broker"
	}
	renderPage(w, e.Status, consentView{Title: heading + " - claudemesh", Heading: heading, Note: e.Message})
}

func renderPage(w http.ResponseWriter, status int, v consentView) {
	v.CSS, v.JS = template.CSS(consentCSS), template.JS(consentJS)
	var buf bytes.Buffer
	if err := consentTmpl.Execute(&buf, v); err != nil {
		http.Error(w, "page rendering failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", consentCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func until(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d >= 48*time.Hour:
		return "in " + strconv.Itoa(int(d/(24*time.Hour))) + " days"
	case d >= 2*time.Hour:
		return "in " + strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return "in " + strconv.Itoa(max(1, int(d/time.Minute))) + " minutes"
}
