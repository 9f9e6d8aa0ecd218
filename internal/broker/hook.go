package broker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

const (
	hookMaxBody = 64 << 10
	// pendingHookTTL is how long a hook for a session that has not
	// connected yet waits for it (cli.md).
	pendingHookTTL = 10 * time.Second
)

// serveHook handles POST /hook/set-status: a Claude Code hook reporting its
// session's status. Checks run cheapest first; every refusal changes
// nothing. Every refused request is 401 ("unsigned or bad requests get
// 401", cli.md) with the error code saying why; the rate limit is 429.
//
// An address over its failed-authentication budget (AuthGuard) is refused
// 429 before the body is read; each 401 spends from that budget.
func (b *Broker) serveHook(w http.ResponseWriter, r *http.Request) {
	if b.auth.Blocked("hook", r.RemoteAddr, b.now()) {
		b.hookRefuse(w, http.StatusTooManyRequests, protocol.Errorf(protocol.CodeRateLimited, "too many failed authentications from this address; wait a minute"))
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	b.handleHook(sw, r)
	if sw.status == http.StatusUnauthorized {
		b.auth.Failed("hook", r.RemoteAddr, b.now())
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (b *Broker) handleHook(w http.ResponseWriter, r *http.Request) {
	var req protocol.HookRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, hookMaxBody))
	if err := dec.Decode(&req); err != nil {
		b.hookRefuse(w, http.StatusUnauthorized, protocol.Errorf(protocol.CodeMalformed, "body must be one JSON object of at most 64 KiB"))
		return
	}
	if !req.Signed() {
		b.hookRefuse(w, http.StatusUnauthorized, protocol.Errorf(protocol.CodeBadSignature, "the request must carry a 64-hex pubkey and a 128-hex signature"))
		return
	}
	if perr := req.ValidateShape(); perr != nil {
		b.hookRefuse(w, http.StatusUnauthorized, perr)
		return
	}
	member, status, perr := b.authenticateHook(r.Context(), &req)
	if perr != nil {
		b.audit(req.MeshID, "auth_failed", req.Pubkey, map[string]any{
			"reason": string(perr.Code), "remote_address": r.RemoteAddr, "route": "hook"})
		b.hookRefuse(w, status, perr)
		return
	}
	if !b.hooks.allow(req.MeshID+"|"+member.ID, b.now()) {
		b.metrics.rateLimited.WithLabelValues("hook").Inc()
		b.hookRefuse(w, http.StatusTooManyRequests, protocol.Errorf(protocol.CodeRateLimited, "too many hook requests for this member; slow down"))
		return
	}
	matched := b.applyHook(pendingHook{meshID: req.MeshID, memberID: member.ID, sessionID: req.SessionID,
		cwd: req.CWD, status: req.Status, at: b.now()})
	b.metrics.hooks.WithLabelValues("ok").Inc()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "matched": matched})
}

// authenticateHook runs the hello's checks on a hook: timestamp skew,
// signature over HookCanonical, a live member owning the key, and replay.
func (b *Broker) authenticateHook(ctx context.Context, req *protocol.HookRequest) (store.Member, int, *protocol.Error) {
	now := b.now()
	ts := time.UnixMilli(req.Timestamp)
	if skew := now.Sub(ts); skew > helloSkew || skew < -helloSkew {
		return store.Member{}, http.StatusUnauthorized, protocol.Errorf(protocol.CodeTimestampSkew, "hook timestamp is more than 60 s away from the broker clock")
	}
	canon := protocol.HookCanonical(req.MeshID, req.MemberID, req.SessionID, req.Status, req.Timestamp)
	if !protocol.VerifyHex(req.Pubkey, canon, req.Signature) {
		return store.Member{}, http.StatusUnauthorized, protocol.Errorf(protocol.CodeBadSignature, "hook signature does not verify against pubkey")
	}
	mesh, member, err := b.members.member(ctx, req.MeshID, req.MemberID)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && (mesh.ArchivedAt != nil || member.Pubkey != req.Pubkey):
		return store.Member{}, http.StatusUnauthorized, protocol.Errorf(protocol.CodeUnauthorized, "no live member with this id and key in this mesh")
	case err != nil:
		return store.Member{}, http.StatusServiceUnavailable, errStoreDown
	}
	if !b.replays.remember("hook|"+req.Pubkey+"|"+req.Signature, now, ts.Add(helloSkew)) {
		return store.Member{}, http.StatusUnauthorized, protocol.Errorf(protocol.CodeReplayed, "this exact signed hook request was already used")
	}
	return member, 0, nil
}

func (b *Broker) hookRefuse(w http.ResponseWriter, status int, perr *protocol.Error) {
	b.metrics.hooks.WithLabelValues(string(perr.Code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(protocol.HookError{Error: perr.Code, Message: perr.Message, Timestamp: isoTime(b.now())})
}

// applyHook applies a verified hook to the member's session with the same
// session_id, else the newest with the same cwd, else parks it as pending
// for pendingHookTTL. It reports how it matched: session, cwd or pending.
//
// A session that registers while the hook is parked looks for it after its
// register (applyPendingHook); the hook looks for the session again after
// parking. Whichever side then takes the parked hook applies it, so it is
// applied exactly once even when the two race.
func (b *Broker) applyHook(h pendingHook) string {
	if s, how := b.findHookSession(h); s != nil {
		s.applyStatus(h.status, sourceHook, h.at)
		return how
	}
	if how := b.cluster.forwardHook(h); how != "" {
		return how // the session lives on another node
	}
	b.hooks.park(h)
	if s, how := b.findHookSession(h); s != nil {
		if p, ok := b.hooks.take(s, b.now()); ok {
			s.applyStatus(p.status, sourceHook, p.at)
			return how
		}
	}
	return "pending"
}

func (b *Broker) findHookSession(h pendingHook) (*session, string) {
	var byCWD *session
	for _, s := range b.hub.memberSessions(h.meshID, h.memberID) {
		switch {
		case s.ephemeral:
		case h.sessionID != "" && s.sessionID == h.sessionID:
			return s, "session"
		case h.cwd != "" && s.hello.CWD == h.cwd && (byCWD == nil || s.connectedAt.After(byCWD.connectedAt)):
			byCWD = s
		}
	}
	if byCWD != nil {
		return byCWD, "cwd"
	}
	return nil, ""
}

// applyPendingHook applies a hook that arrived before this session
// connected. Called right after the session is registered.
func (b *Broker) applyPendingHook(s *session) {
	if s.ephemeral {
		return
	}
	if p, ok := b.hooks.take(s, b.now()); ok {
		s.applyStatus(p.status, sourceHook, p.at)
	}
}
