package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// publicInvite loads a code's invite and live mesh; unknown -> 404.
func (a *API) publicInvite(ctx context.Context, code string) (store.Invite, store.Mesh, error) {
	missing := notFound("no invite with code %q; check the link", code)
	if !invite.IsCode(code) {
		return store.Invite{}, store.Mesh{}, missing
	}
	inv, err := a.st.GetInviteByCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return inv, store.Mesh{}, missing
	}
	if err != nil {
		return inv, store.Mesh{}, err
	}
	mesh, err := a.liveMesh(ctx, inv.MeshID)
	if err != nil && classify(err).Status == http.StatusNotFound { // archived: the invite is gone with it
		return inv, mesh, missing
	}
	return inv, mesh, err
}

func (a *API) inviteInfo(w http.ResponseWriter, r *http.Request) {
	inv, mesh, err := a.publicInvite(r.Context(), r.PathValue("code"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	members, online, err := a.counts(r, mesh.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// mesh_id and owner_pubkey are public values (the claim answer and every
	// v1 token carry them): the joining CLI checks the link's #fp against the
	// owner key, and whether it already joined the mesh, before claiming.
	writeJSON(w, http.StatusOK, map[string]any{"code": inv.Code, "mesh_id": mesh.ID, "mesh_name": mesh.Name, "mesh_slug": mesh.Slug,
		"role": inv.Role, "inviter_name": inv.InviterName, "expires_at": inv.ExpiresAt.Unix(), "member_count": members,
		"online_count": online, "status": inv.Status(a.now()), "version": inv.Version, "owner_pubkey": mesh.OwnerPubkey})
}

type claimReq struct {
	RecipientX25519 string `json:"recipient_x25519_pubkey"`
	PeerPubkey      string `json:"peer_pubkey"`
	DisplayName     string `json:"display_name"`
	Timestamp       int64  `json:"timestamp"`
	Signature       string `json:"signature"`
}

func (a *API) claim(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	var req claimReq
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	x25519, err := a.checkClaim(code, req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var sealed string
	res, err := a.st.ClaimInvite(r.Context(), store.Claim{
		Code: code, PeerPubkey: req.PeerPubkey, DisplayName: orDefault(req.DisplayName, "member-"+req.PeerPubkey[:8]),
		ClaimedBy: req.RecipientX25519, MemberID: ids.New("mem"), Now: a.now(),
		Check: func(inv store.Invite, mesh store.Mesh) error {
			var err error
			sealed, err = a.checkCapability(inv, mesh, x25519)
			return err
		},
	})
	if errors.Is(err, store.ErrNotFound) && !errors.As(err, new(*Error)) {
		err = notFound("no invite with code %q; check the link", code)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sealed_root_key": sealed, "mesh_id": res.Mesh.ID, "member_id": res.Member.ID,
		"owner_pubkey": res.Mesh.OwnerPubkey, "canonical_v2": res.Invite.CapabilityCanonical,
		"capability_signature": res.Invite.CapabilitySignature, "mesh_name": res.Mesh.Name, "mesh_slug": res.Mesh.Slug,
		"role": res.Member.Role, "broker_url": a.brokerURL(), "already_member": res.Existing})
}

// checkClaim validates the request before any store access.
func (a *API) checkClaim(code string, req claimReq) (*[32]byte, error) {
	raw, err := protocol.DecodeB64URL(req.RecipientX25519)
	if err != nil || len(raw) != 32 {
		return nil, malformed("recipient_x25519_pubkey must be 32 bytes in base64url without padding")
	}
	if !protocol.IsHexKey(req.PeerPubkey) {
		return nil, malformed("peer_pubkey must be 64 lowercase hex characters (an ed25519 public key)")
	}
	if len(req.DisplayName) > protocol.MaxNameLen {
		return nil, malformed("display_name must be at most 128 characters")
	}
	if !protocol.IsHexSig(req.Signature) {
		return nil, malformed("signature must be 128 lowercase hex characters")
	}
	if err := a.checkSkew(req.Timestamp); err != nil {
		return nil, err
	}
	if !protocol.VerifyHex(req.PeerPubkey, protocol.ClaimCanonical(code, req.RecipientX25519, req.PeerPubkey, req.Timestamp), req.Signature) {
		return nil, badSignature("the claim signature does not verify against peer_pubkey over claudemesh-claim|code|recipient_x25519_pubkey|peer_pubkey|timestamp")
	}
	var key [32]byte
	copy(key[:], raw)
	return &key, nil
}

// checkCapability runs inside the claim transaction: the stored capability
// must still be the owner's signature over this very row, and the root key
// is sealed before anything is written, so a failure consumes nothing.
func (a *API) checkCapability(inv store.Invite, mesh store.Mesh, x25519 *[32]byte) (string, error) {
	if inv.Version != 2 {
		return "", notFound("code %q belongs to a v1 invite; join it with its v1 link", inv.Code)
	}
	want := invite.V2Canonical(mesh.ID, inv.ID, inv.ExpiresAt.Unix(), inv.Role, mesh.OwnerPubkey)
	if inv.CapabilityCanonical != want || !protocol.VerifyHex(mesh.OwnerPubkey, want, inv.CapabilitySignature) {
		return "", badSignature("this invite's stored capability does not verify against the mesh owner key; ask the owner for a new invite")
	}
	if a.Keys == nil && len(mesh.RootKey) != protocol.RootKeySize {
		return "", errNoDataKey
	}
	rootKey, err := meshadmin.RootKey(a.Keys, mesh)
	if err != nil {
		return "", err
	}
	sealed, err := protocol.SealRootKey(rootKey, x25519)
	if err != nil {
		return "", malformed("recipient_x25519_pubkey cannot receive a sealed key: %v", err)
	}
	return sealed, nil
}
