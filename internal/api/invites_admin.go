package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/store"
)

func (a *API) listInvites(w http.ResponseWriter, r *http.Request, req *adminReq) {
	list, err := a.st.ListInvites(r.Context(), req.mesh.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	fp, _ := invite.OwnerFingerprint(req.mesh.OwnerPubkey)
	now := a.now()
	out := make([]map[string]any, 0, len(list))
	for _, inv := range list {
		emails := make([]map[string]any, 0, len(inv.Emails))
		for _, e := range inv.Emails {
			emails = append(emails, map[string]any{"email": e.Email, "status": emailStatus(e), "sent_at": isoPtr(e.SentAt),
				"accepted_at": isoPtr(e.AcceptedAt), "revoked_at": isoPtr(e.RevokedAt), "error": e.SendError})
		}
		out = append(out, map[string]any{"invite_id": inv.ID, "code": inv.Code, "url": a.inviteURL(inv.Code, fp),
			"version": inv.Version, "role": inv.Role, "max_uses": inv.MaxUses, "used_count": inv.UsedCount,
			"expires_at": inv.ExpiresAt.Unix(), "status": inv.Status(now), "inviter_name": inv.InviterName,
			"created_at": iso(inv.CreatedAt), "revoked_at": isoPtr(inv.RevokedAt), "preset": json.RawMessage(inv.Preset),
			"emails": emails})
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": out})
}

func emailStatus(e store.PendingInvite) string {
	switch {
	case e.AcceptedAt != nil:
		return "accepted"
	case e.RevokedAt != nil:
		return "revoked"
	case e.SentAt != nil:
		return "sent"
	case e.SendError != "":
		return "failed"
	}
	return "not_sent"
}

func (a *API) revokeInvite(w http.ResponseWriter, r *http.Request, req *adminReq) {
	inv, err := a.st.RevokeInvite(r.Context(), req.mesh.ID, r.PathValue("inviteId"), a.now())
	if errors.Is(err, store.ErrNotFound) {
		err = notFound("no invite %q in this mesh", r.PathValue("inviteId"))
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(inv.MeshID, "invite_revoked", req.actor, map[string]any{"invite_id": inv.ID})
	writeJSON(w, http.StatusOK, map[string]any{"invite_id": inv.ID, "status": inv.Status(a.now()), "revoked_at": isoPtr(inv.RevokedAt)})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, req *adminReq) {
	limit, before := 100, int64(0)
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			a.writeError(w, r, malformed("limit must be 1 to 1000"))
			return
		}
		limit = n
	}
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			a.writeError(w, r, malformed("before must be a positive row seq"))
			return
		}
		before = n
	}
	rows, err := a.st.ListAudit(r.Context(), req.mesh.ID, before, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(rows))
	for _, row := range rows {
		out = append(out, map[string]any{"seq": row.Seq, "at": iso(row.At), "event": row.Event, "actor": row.Actor,
			"details": json.RawMessage(row.Details), "prev_hash": row.PrevHash, "hash": row.Hash})
	}
	resp := map[string]any{"entries": out}
	if len(rows) == limit {
		resp["next_before"] = rows[len(rows)-1].Seq
	}
	writeJSON(w, http.StatusOK, resp)
}

// sendInviteMail sends the consent link (never a secret) when SMTP is
// configured and records the outcome on the pending invite.
func (a *API) sendInviteMail(ctx context.Context, req *adminReq, inv store.Invite, e store.PendingInvite, link string) (status, message string) {
	if a.Mail == nil {
		return "not_sent", "this broker has no SMTP_URL configured; send the link yourself"
	}
	msg := inviteMail(e.Email, req.mesh.Name, inv.InviterName, inv.Role, link, inv.ExpiresAt)
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := a.Mail.Send(sctx, msg)
	cancel()
	errText := ""
	if err != nil {
		errText = err.Error()
		a.log.Warn("invite email not sent", "invite", inv.ID, "err", err)
	}
	if serr := a.st.SetEmailSent(context.WithoutCancel(ctx), e.ID, a.now(), errText); serr != nil {
		a.log.Error("recording an invite email's state failed", "invite", inv.ID, "err", serr)
	}
	if err != nil {
		return "failed", "the mail server refused or could not be reached: " + errText
	}
	return "sent", "sent to " + e.Email
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func tokenContext(inviteID string) string { return "claudemesh-v1-token|" + inviteID }
