// Package api is the broker's HTTP surface for meshes, members, invites
// and the audit log (invites.md), served on the broker's one listener.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/datakey"
	"github.com/claudemesh/claudemesh/internal/mail"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Auditor queues audit rows without blocking (audit.Recorder).
type Auditor interface {
	Append(store.AuditEntry)
}

// Deps wires the API.
type Deps struct {
	Store  store.Store
	Config config.Broker
	Keys   *datakey.Key // nil: root keys can be neither sealed nor opened
	Mail   mail.Sender  // nil: email invites are recorded as not sent
	Audit  Auditor
	// Revoked applies a committed revocation to the broker at once
	// (broker.MemberRevoked); nil leaves it to the broker's member poller.
	Revoked func(store.Member)
	// Online returns live sessions per member of a mesh (broker.OnlineSessions).
	Online func(meshID string) map[string]int
	// RateLimited counts a refusal by the per-address limit in /metrics.
	RateLimited func()
	// AuthGuard limits failed admin authentications per client address,
	// sharing the budget of hellos and hooks (broker.AuthGuard); nil: none.
	AuthGuard AuthGuard
	Log       *slog.Logger
	Now       func() time.Time
	// Next serves every path the API does not (/ws, /health, /metrics).
	Next http.Handler
}

// AuthGuard is the broker's per-address limit of failed authentications.
type AuthGuard interface {
	Blocked(route, remoteAddr string, now time.Time) bool
	Failed(route, remoteAddr string, now time.Time)
}

type noGuard struct{}

func (noGuard) Blocked(string, string, time.Time) bool { return false }
func (noGuard) Failed(string, string, time.Time)       {}

// API serves the routes of invites.md.
type API struct {
	Deps
	st      store.Store
	log     *slog.Logger
	limit   *limiter
	replays *replayCache
}

// maxBody bounds every request body.
const maxBody = 64 << 10

// New builds the API.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.RateLimited == nil {
		d.RateLimited = func() {}
	}
	if d.AuthGuard == nil {
		d.AuthGuard = noGuard{}
	}
	if d.Revoked == nil {
		d.Revoked = func(store.Member) {}
	}
	if d.Online == nil {
		d.Online = func(string) map[string]int { return nil }
	}
	return &API{Deps: d, st: d.Store, log: d.Log, limit: newLimiter(d.Config.HTTPRateLimitPerMin), replays: newReplayCache()}
}

func (a *API) now() time.Time { return a.Now() }

// Handler routes the API and hands everything else to Next.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /meshes", a.createMesh)
	mux.HandleFunc("GET /meshes/{id}", a.admin(a.getMesh))
	mux.HandleFunc("PATCH /meshes/{id}", a.admin(a.renameMesh))
	mux.HandleFunc("GET /meshes/{id}/members", a.admin(a.listMembers))
	mux.HandleFunc("DELETE /meshes/{id}/members/{memberId}", a.admin(a.revokeMember))
	mux.HandleFunc("POST /meshes/{id}/invites", a.admin(a.mintInvite))
	mux.HandleFunc("GET /meshes/{id}/invites", a.admin(a.listInvites))
	mux.HandleFunc("DELETE /meshes/{id}/invites/{inviteId}", a.admin(a.revokeInvite))
	mux.HandleFunc("GET /meshes/{id}/audit", a.admin(a.listAudit))

	mux.HandleFunc("GET /invites/{code}", a.limited(a.inviteInfo, a.writeError))
	mux.HandleFunc("POST /invites/{code}/claim", a.limited(a.claim, a.writeError))
	mux.HandleFunc("POST /api/public/invites/{code}/claim", a.limited(a.claim, a.writeError))
	mux.HandleFunc("GET /api/public/invite-code/{code}", a.limited(a.resolveV1, a.writeError))
	mux.HandleFunc("POST /join", a.limited(a.joinV1, a.writeJoinError))
	mux.HandleFunc("GET /i/{code}", a.limited(a.consentPage, a.writePageError))
	if a.Next != nil {
		mux.Handle("/", a.Next)
	}
	return mux
}

// readJSON decodes a bounded JSON object body into v.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return malformed("the request body is larger than %d bytes or unreadable", maxBody)
	}
	return decodeJSON(body, v)
}

func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return malformed("field %q has the wrong type (want %s)", typeErr.Field, typeErr.Type)
		}
		return malformed("the request body is not a JSON object: %v", err)
	}
	if hasNULString(body) {
		// PostgreSQL text cannot hold U+0000; refuse it here as the client's
		// mistake rather than fail in the store as "unavailable".
		return malformed("a string in the request body contains U+0000")
	}
	return nil
}

// hasNULString reports whether any JSON string (key or value) holds U+0000.
func hasNULString(body []byte) bool {
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return false // JSON can carry U+0000 only as this escape
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return true
		}
	}
}

// brokerURL is the WebSocket URL clients connect to.
func (a *API) brokerURL() string {
	u, err := url.Parse(a.Config.PublicURL)
	if err != nil {
		return a.Config.PublicURL
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/ws"
	return u.String()
}

// inviteURL is the consent link of a code, with the owner fingerprint.
func (a *API) inviteURL(code, fingerprint string) string {
	u := a.Config.PublicURL + "/i/" + code
	if fingerprint != "" {
		u += "#" + fingerprint
	}
	return u
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func isoPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := iso(*t)
	return &s
}
