package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// resolveV1 turns a short code into its v1 token, for live v1 invites only.
func (a *API) resolveV1(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	inv, _, err := a.publicInvite(r.Context(), r.PathValue("code"))
	if err != nil && classify(err).Status >= 500 {
		a.writeError(w, r, err)
		return
	}
	if err != nil || inv.Version != 1 || inv.Status(a.now()) != "active" {
		writeResolveMiss(w)
		return
	}
	if a.Keys == nil {
		a.writeError(w, r, errNoDataKey)
		return
	}
	token, err := a.Keys.Open(inv.TokenSealed, tokenContext(inv.ID))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"found": true, "token": string(token)})
}

type joinReq struct {
	InviteToken   string          `json:"invite_token"`
	InvitePayload json.RawMessage `json:"invite_payload"`
	PeerPubkey    string          `json:"peer_pubkey"`
	DisplayName   string          `json:"display_name"`
}

func mismatch(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "mismatch", format, args...)
}

// joinV1 is the deprecated v1 join: the token must decode to exactly the
// payload sent with it, both expiries count, and the role is the row's.
func (a *API) joinV1(w http.ResponseWriter, r *http.Request) {
	var req joinReq
	if err := readJSON(r, &req); err != nil {
		a.writeJoinError(w, r, err)
		return
	}
	p, err := a.checkJoin(req)
	if err != nil {
		a.writeJoinError(w, r, err)
		return
	}
	res, err := a.st.ClaimInvite(r.Context(), store.Claim{
		TokenHash: tokenHash(req.InviteToken), PeerPubkey: req.PeerPubkey,
		DisplayName: orDefault(req.DisplayName, "member-"+req.PeerPubkey[:8]),
		ClaimedBy:   req.PeerPubkey, MemberID: ids.New("mem"), Now: a.now(),
		Check: func(inv store.Invite, mesh store.Mesh) error {
			if inv.Version != 1 || p.MeshID != mesh.ID || p.OwnerPubkey != mesh.OwnerPubkey {
				return mismatch("the invite token does not belong to this broker's invite for that mesh")
			}
			return nil
		},
	})
	if errors.Is(err, store.ErrNotFound) && !errors.As(err, new(*Error)) {
		err = notFound("this broker has no invite for that token; ask for a new link")
	}
	if err != nil {
		a.writeJoinError(w, r, err)
		return
	}
	out := map[string]any{"ok": true, "memberId": res.Member.ID}
	if res.Existing {
		out["alreadyMember"] = true
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) checkJoin(req joinReq) (invite.V1Payload, error) {
	p, err := invite.DecodeV1Token(req.InviteToken)
	if err != nil {
		return p, malformed("invite_token: %s", err.Error())
	}
	// The payload is parsed as strictly as a token, then compared field by
	// field: a live token cannot carry a different (admin, unexpired) payload.
	sent, err := invite.DecodeV1Token(protocol.EncodeB64URL(req.InvitePayload))
	if err != nil {
		return p, mismatch("invite_payload is not a valid v1 invite payload: %s", err.Error())
	}
	if sent != p {
		return p, mismatch("invite_payload does not match the payload inside invite_token")
	}
	if p.VerifySignature() != nil {
		return p, badSignature("the invite token is not validly signed by its owner key")
	}
	if p.Expired(a.now()) {
		return p, errorf(http.StatusGone, "expired", "this invite has expired; ask for a new one")
	}
	if !protocol.IsHexKey(req.PeerPubkey) {
		return p, malformed("peer_pubkey must be 64 lowercase hex characters (an ed25519 public key)")
	}
	if len(req.DisplayName) > protocol.MaxNameLen {
		return p, malformed("display_name must be at most 128 characters")
	}
	return p, nil
}
