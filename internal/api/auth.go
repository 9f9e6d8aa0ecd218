package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// skew is how far a signed timestamp may be from the broker clock.
const skew = 60 * time.Second

// adminReq is an authenticated admin request on one mesh.
type adminReq struct {
	mesh   store.Mesh
	actor  string        // the signing pubkey
	member *store.Member // the signer's member row; nil for an owner key that is not a member
	body   []byte
}

// admin authenticates `Authorization: Claudemesh-Sig pubkey=..,ts=..,sig=..`
// (invites.md §2) and authorizes the key as owner or live admin of {id}.
func (a *API) admin(h func(http.ResponseWriter, *http.Request, *adminReq)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// An address over its failure budget is refused before its
		// signature is verified or anything is audited.
		if a.AuthGuard.Blocked("admin", r.RemoteAddr, a.now()) {
			w.Header().Set("Retry-After", "60")
			a.writeError(w, r, errRateLimited)
			return
		}
		req, err := a.authenticate(r)
		if err != nil {
			if e := classify(err); e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
				a.AuthGuard.Failed("admin", r.RemoteAddr, a.now())
				// Metadata only; the record is dropped for an unknown mesh id.
				a.record(r.PathValue("id"), "auth_failed", "", map[string]any{
					"reason": e.Code, "remote_address": r.RemoteAddr, "route": r.Method + " " + r.URL.Path})
			}
			a.writeError(w, r, err)
			return
		}
		h(w, r, req)
	}
}

func unauthenticated(format string, args ...any) *Error {
	return errorf(http.StatusUnauthorized, "unauthenticated", format, args...)
}

func (a *API) authenticate(r *http.Request) (*adminReq, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, malformed("the request body is larger than %d bytes or unreadable", maxBody)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	pubkey, ts, sig, err := parseSigHeader(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	if d := a.now().Sub(time.UnixMilli(ts)); d > skew || d < -skew {
		return nil, unauthenticated("the request timestamp is %s away from the broker clock (limit 60s); check this machine's clock", d.Round(time.Second))
	}
	sum := sha256.Sum256(body)
	canonical := r.Method + "\n" + r.URL.RequestURI() + "\n" + strconv.FormatInt(ts, 10) + "\n" + hex.EncodeToString(sum[:])
	if !protocol.VerifyHex(pubkey, canonical, sig) {
		return nil, unauthenticated("the request signature does not verify for that key, method, path and body")
	}
	mesh, err := a.liveMesh(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	req := &adminReq{mesh: mesh, actor: pubkey, body: body}
	members, err := a.st.ListMembers(r.Context(), mesh.ID)
	if err != nil {
		return nil, err
	}
	for i, m := range members {
		if m.Pubkey == pubkey && m.RevokedAt == nil {
			req.member = &members[i]
		}
	}
	if pubkey != mesh.OwnerPubkey && (req.member == nil || req.member.Role != store.RoleAdmin) {
		return nil, errForbidden
	}
	// Recorded only once authorized, so strangers cannot grow the cache.
	if !a.replays.remember(sig, a.now().Add(2*skew)) {
		return nil, unauthenticated("this signed request was already used; sign a fresh one")
	}
	return req, nil
}

// liveMesh loads a mesh that is not archived.
func (a *API) liveMesh(ctx context.Context, id string) (store.Mesh, error) {
	m, err := a.st.GetMesh(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.ArchivedAt != nil) {
		return store.Mesh{}, notFound("no mesh with id %q", id)
	}
	return m, err
}

// parseSigHeader reads `Claudemesh-Sig pubkey=<hex>,ts=<ms>,sig=<hex>`.
func parseSigHeader(h string) (pubkey string, ts int64, sig string, err error) {
	rest, ok := strings.CutPrefix(h, "Claudemesh-Sig ")
	if !ok {
		return "", 0, "", unauthenticated("admin requests need an `Authorization: Claudemesh-Sig pubkey=..,ts=..,sig=..` header")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	pubkey, sig = fields["pubkey"], fields["sig"]
	ts, perr := strconv.ParseInt(fields["ts"], 10, 64)
	if !protocol.IsHexKey(pubkey) || !protocol.IsHexSig(sig) || perr != nil {
		return "", 0, "", unauthenticated("the Claudemesh-Sig header needs pubkey (64 hex), ts (ms) and sig (128 hex)")
	}
	return pubkey, ts, sig, nil
}

// replayCache remembers accepted signatures until they could no longer
// pass the skew check anyway.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newReplayCache() *replayCache { return &replayCache{seen: map[string]time.Time{}} }

// remember reports false when sig was already seen.
func (c *replayCache) remember(sig string, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := until.Add(-2 * skew)
	if exp, ok := c.seen[sig]; ok && now.Before(exp) {
		return false
	}
	if len(c.seen) > 4096 {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
	}
	c.seen[sig] = until
	return true
}
