package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Bounds on what an admin may mint.
const (
	maxUsesLimit = 10000
	maxLifetime  = 366 * 24 * time.Hour
)

type mintReq struct {
	Version    int             `json:"version"`
	InviteID   string          `json:"invite_id"`
	Role       string          `json:"role"`
	MaxUses    *int            `json:"max_uses"`
	ExpiresAt  int64           `json:"expires_at"`
	Capability *capabilityJSON `json:"capability"`
	Preset     json.RawMessage `json:"preset"`
	Email      string          `json:"email"`
	Token      string          `json:"token"`
}

type capabilityJSON struct {
	Canonical string `json:"canonical"`
	Signature string `json:"signature"`
}

func (a *API) mintInvite(w http.ResponseWriter, r *http.Request, req *adminReq) {
	var body mintReq
	if err := decodeJSON(req.body, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	inv, err := a.newInvite(r.Context(), req, body)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var email *store.PendingInvite
	if body.Email != "" {
		email = &store.PendingInvite{ID: ids.New("pinv"), MeshID: inv.MeshID, Email: body.Email,
			CreatedBy: req.actor, CreatedAt: inv.CreatedAt}
	}
	if err := a.storeWithCode(r.Context(), &inv, email); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(inv.MeshID, "invite_created", req.actor, map[string]any{"invite_id": inv.ID, "version": inv.Version,
		"role": inv.Role, "max_uses": inv.MaxUses, "expires_at": inv.ExpiresAt.Unix(), "email": email != nil})
	fp, _ := invite.OwnerFingerprint(req.mesh.OwnerPubkey)
	out := map[string]any{"invite_id": inv.ID, "code": inv.Code, "url": a.inviteURL(inv.Code, fp),
		"expires_at": inv.ExpiresAt.Unix(), "role": inv.Role, "max_uses": inv.MaxUses, "version": inv.Version}
	if inv.Version == 1 {
		out["token"] = body.Token
	}
	if email != nil {
		out["email_status"], out["email_message"] = a.sendInviteMail(r.Context(), req, inv, *email, a.inviteURL(inv.Code, fp))
	}
	writeJSON(w, http.StatusCreated, out)
}

// newInvite validates a v2 (default) or v1 mint request into a row.
func (a *API) newInvite(ctx context.Context, req *adminReq, body mintReq) (store.Invite, error) {
	now := a.now()
	inv := store.Invite{MeshID: req.mesh.ID, CreatedBy: req.actor, InviterName: a.inviterName(ctx, req), CreatedAt: now, MaxUses: 1}
	if body.MaxUses != nil {
		inv.MaxUses = *body.MaxUses
	}
	if inv.MaxUses < 1 || inv.MaxUses > maxUsesLimit {
		return inv, malformed("max_uses must be 1 to %d", maxUsesLimit)
	}
	preset, err := presetJSON(body.Preset)
	if err != nil {
		return inv, err
	}
	inv.Preset = preset
	if body.Email != "" {
		if addr, err := netmail.ParseAddress(body.Email); err != nil || addr.Address != body.Email {
			return inv, malformed("email must be a plain address like name@example.com")
		}
	}
	switch body.Version {
	case 0, 2:
		return a.newV2(req, body, inv, now)
	case 1:
		return a.newV1(req, body, inv, now)
	}
	return inv, malformed("version must be 2 (default) or 1")
}

func (a *API) newV2(req *adminReq, body mintReq, inv store.Invite, now time.Time) (store.Invite, error) {
	inv.Version, inv.ID, inv.Role = 2, body.InviteID, body.Role
	switch {
	case inv.ID == "" || len(inv.ID) > 64 || strings.ContainsAny(inv.ID, "| \t\r\n"):
		return inv, malformed("invite_id must be 1 to 64 characters without '|' or spaces")
	case inv.Role != store.RoleMember && inv.Role != store.RoleAdmin:
		return inv, malformed(`role must be "member" or "admin"`)
	case body.ExpiresAt <= now.Unix() || time.Unix(body.ExpiresAt, 0).Sub(now) > maxLifetime:
		return inv, malformed("expires_at must be a unix time in seconds, in the future and within a year")
	case body.Capability == nil:
		return inv, malformed("capability {canonical, signature} is required for a v2 invite")
	}
	inv.ExpiresAt = time.Unix(body.ExpiresAt, 0)
	want := invite.V2Canonical(req.mesh.ID, inv.ID, body.ExpiresAt, inv.Role, req.mesh.OwnerPubkey)
	if body.Capability.Canonical != want {
		return inv, badSignature("capability.canonical must be %q", want)
	}
	if !protocol.VerifyHex(req.mesh.OwnerPubkey, want, body.Capability.Signature) {
		return inv, badSignature("the capability signature does not verify against the mesh owner key")
	}
	inv.CapabilityCanonical, inv.CapabilitySignature = want, body.Capability.Signature
	return inv, nil
}

func (a *API) newV1(req *adminReq, body mintReq, inv store.Invite, now time.Time) (store.Invite, error) {
	p, err := invite.DecodeV1Token(body.Token)
	if err != nil {
		return inv, malformed("token: %s", err.Error())
	}
	switch {
	case p.VerifySignature() != nil || p.OwnerPubkey != req.mesh.OwnerPubkey:
		return inv, badSignature("the v1 token is not signed by this mesh's owner key")
	case p.MeshID != req.mesh.ID:
		return inv, malformed("the v1 token is for mesh %q, not this one", p.MeshID)
	case p.Expired(now):
		return inv, malformed("the v1 token has already expired")
	}
	if a.Keys == nil {
		return inv, errNoDataKey
	}
	inv.Version, inv.ID, inv.Role, inv.ExpiresAt = 1, ids.New("inv"), p.Role, time.Unix(p.ExpiresAt, 0)
	inv.TokenHash = tokenHash(body.Token)
	if inv.TokenSealed, err = a.Keys.Seal([]byte(body.Token), tokenContext(inv.ID)); err != nil {
		return inv, err
	}
	return inv, nil
}

// storeWithCode draws codes until one is free (a clash is a 1 in 62^8
// event per existing invite, so one retry is already rare). A v1 token has
// no nonce, so minting the same token twice clashes on its hash every time:
// two clashes in a row with a v1 token are reported as that.
func (a *API) storeWithCode(ctx context.Context, inv *store.Invite, email *store.PendingInvite) error {
	for attempt := range 5 {
		code, err := invite.NewCode()
		if err != nil {
			return err
		}
		inv.Code = code
		if email != nil {
			email.Code, email.InviteID = code, inv.ID
		}
		err = a.st.CreateInvite(ctx, *inv, email)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		if _, gerr := a.st.GetInvite(ctx, inv.ID); gerr == nil {
			return errorf(http.StatusConflict, "conflict", "an invite with id %q already exists; mint with a new invite_id", inv.ID)
		}
		if inv.TokenHash != "" && attempt >= 1 {
			return errorf(http.StatusConflict, "conflict", "this v1 token is already minted as an invite here; sign a new token (v1 tokens with the same fields are identical)")
		}
	}
	return errInternal
}

// inviterName is who the consent page says invites you: the signer's
// member name, or the mesh creator's when the owner key itself signed.
func (a *API) inviterName(ctx context.Context, req *adminReq) string {
	if req.member != nil {
		return req.member.DisplayName
	}
	members, err := a.st.ListMembers(ctx, req.mesh.ID)
	if err == nil {
		for _, m := range members {
			if m.Role == store.RoleAdmin && m.RevokedAt == nil {
				return m.DisplayName
			}
		}
	}
	return "the mesh owner"
}

func presetJSON(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	var p struct {
		DisplayName string `json:"display_name"`
		RoleTag     string `json:"role_tag"`
		Groups      []any  `json:"groups"`
		MessageMode string `json:"message_mode"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || len(raw) > 4096 {
		return "", malformed("preset must be an object {display_name, role_tag, groups, message_mode} under 4 KiB")
	}
	return string(raw), nil
}
