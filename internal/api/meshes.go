package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

type createMeshReq struct {
	Name        string `json:"name"`
	OwnerPubkey string `json:"owner_pubkey"`
	RootKey     string `json:"root_key"`
	PeerPubkey  string `json:"peer_pubkey"`
	DisplayName string `json:"display_name"`
	Timestamp   int64  `json:"timestamp"`
	Signature   string `json:"signature"`
}

// mayCreate: the bearer token when one is configured, else loopback only.
func (a *API) mayCreate(r *http.Request) error {
	if a.Config.AdminToken == "" {
		if isLoopback(r) {
			return nil
		}
		return errorf(http.StatusForbidden, "forbidden", "this broker creates meshes only for local clients; its operator can set BROKER_ADMIN_TOKEN to allow remote creation")
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(got), []byte(a.Config.AdminToken)) == 1 {
		return nil
	}
	return errorf(http.StatusForbidden, "forbidden", "creating a mesh on this broker needs `Authorization: Bearer <BROKER_ADMIN_TOKEN>`")
}

func (a *API) createMesh(w http.ResponseWriter, r *http.Request) {
	if err := a.mayCreate(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	var req createMeshReq
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	mesh, member, err := a.newMesh(req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.st.CreateMeshWithMember(r.Context(), mesh, member); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(mesh.ID, "mesh_created", req.OwnerPubkey, map[string]any{"slug": mesh.Slug, "member_id": member.ID})
	a.record(mesh.ID, "member_joined", member.Pubkey, map[string]any{"member_id": member.ID, "role": member.Role, "via": "mesh_create"})
	writeJSON(w, http.StatusCreated, map[string]any{"mesh_id": mesh.ID, "slug": mesh.Slug, "member_id": member.ID, "broker_url": a.brokerURL()})
}

func (a *API) newMesh(req createMeshReq) (store.Mesh, store.Member, error) {
	var none store.Mesh
	switch {
	case !protocol.IsHexKey(req.OwnerPubkey) || !protocol.IsHexKey(req.PeerPubkey):
		return none, store.Member{}, malformed("owner_pubkey and peer_pubkey must be 64 lowercase hex characters")
	case !protocol.IsHexSig(req.Signature):
		return none, store.Member{}, malformed("signature must be 128 lowercase hex characters")
	}
	if err := a.checkSkew(req.Timestamp); err != nil {
		return none, store.Member{}, err
	}
	rootKey, err := protocol.DecodeB64URL(req.RootKey)
	if err != nil || len(rootKey) != protocol.RootKeySize {
		return none, store.Member{}, malformed("root_key must be 32 bytes in base64url without padding")
	}
	if !protocol.VerifyHex(req.OwnerPubkey, protocol.CreateMeshCanonical(req.Name, req.OwnerPubkey, req.PeerPubkey, req.Timestamp), req.Signature) {
		return none, store.Member{}, badSignature("the signature does not verify against owner_pubkey over claudemesh-create-mesh|name|owner_pubkey|peer_pubkey|timestamp")
	}
	if !a.replays.remember(req.Signature, a.now().Add(2*skew)) {
		return none, store.Member{}, unauthenticated("this signed request was already used; sign a fresh one")
	}
	if a.Keys == nil {
		return none, store.Member{}, errNoDataKey
	}
	now := a.now()
	mesh, err := meshadmin.NewSealedMesh(a.Keys, req.Name, req.OwnerPubkey, rootKey, now)
	if err != nil {
		return none, store.Member{}, malformed("%s", err.Error())
	}
	member, err := meshadmin.NewMember(mesh.ID, req.PeerPubkey, orDefault(req.DisplayName, "owner"), store.RoleAdmin, now)
	if err != nil {
		return none, store.Member{}, malformed("%s", err.Error())
	}
	return mesh, member, nil
}

func (a *API) checkSkew(tsMs int64) error {
	if d := a.now().Sub(time.UnixMilli(tsMs)); d > skew || d < -skew {
		return malformed("timestamp is %s away from the broker clock (limit 60s); check this machine's clock", d.Round(time.Second))
	}
	return nil
}

func (a *API) record(meshID, event, actor string, details map[string]any) {
	if a.Audit != nil {
		a.Audit.Append(store.AuditEntry{MeshID: meshID, At: a.now(), Event: event, Actor: actor, Details: details})
	}
}

// counts returns live members and members with a live session.
func (a *API) counts(r *http.Request, meshID string) (members, online int, err error) {
	list, err := a.st.ListMembers(r.Context(), meshID)
	if err != nil {
		return 0, 0, err
	}
	live := a.Online(meshID)
	for _, m := range list {
		if m.RevokedAt == nil {
			members++
			if live[m.ID] > 0 {
				online++
			}
		}
	}
	return members, online, nil
}

func (a *API) getMesh(w http.ResponseWriter, r *http.Request, req *adminReq) {
	members, online, err := a.counts(r, req.mesh.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	m := req.mesh
	writeJSON(w, http.StatusOK, map[string]any{"mesh_id": m.ID, "name": m.Name, "slug": m.Slug, "owner_pubkey": m.OwnerPubkey,
		"member_count": members, "online_count": online, "created_at": iso(m.CreatedAt), "broker_url": a.brokerURL()})
}

func (a *API) renameMesh(w http.ResponseWriter, r *http.Request, req *adminReq) {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(req.body, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	name := strings.TrimSpace(body.Name)
	if name == "" || len(name) > protocol.MaxNameLen {
		a.writeError(w, r, malformed("name must be 1 to 128 characters"))
		return
	}
	m, err := a.st.RenameMesh(r.Context(), req.mesh.ID, name, meshadmin.Slugify(name))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(m.ID, "mesh_renamed", req.actor, map[string]any{"slug": m.Slug, "previous_slug": req.mesh.Slug})
	writeJSON(w, http.StatusOK, map[string]any{"mesh_id": m.ID, "name": m.Name, "slug": m.Slug})
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, req *adminReq) {
	list, err := a.st.ListMembers(r.Context(), req.mesh.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	seen, err := a.st.MembersLastSeen(r.Context(), req.mesh.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	live := a.Online(req.mesh.ID)
	out := make([]map[string]any, 0, len(list))
	for _, m := range list {
		var lastSeen *string
		if live[m.ID] > 0 {
			lastSeen = isoPtr(new(a.now()))
		} else if t, ok := seen[m.ID]; ok {
			lastSeen = isoPtr(&t)
		}
		out = append(out, map[string]any{"member_id": m.ID, "pubkey": m.Pubkey, "display_name": m.DisplayName,
			"role": m.Role, "joined_at": iso(m.JoinedAt), "last_seen_at": lastSeen, "online_sessions": live[m.ID],
			"revoked_at": isoPtr(m.RevokedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

// revokeMember only writes the store: every broker's member poller closes
// the member's sessions with 4001 and pushes member_revoked.
func (a *API) revokeMember(w http.ResponseWriter, r *http.Request, req *adminReq) {
	m, err := a.st.RevokeMember(r.Context(), req.mesh.ID, r.PathValue("memberId"), a.now())
	if errors.Is(err, store.ErrNotFound) {
		err = notFound("no member %q in this mesh", r.PathValue("memberId"))
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.Revoked(m)
	a.record(m.MeshID, "member_revoked", req.actor, map[string]any{"member_id": m.ID, "pubkey": m.Pubkey})
	writeJSON(w, http.StatusOK, map[string]any{"member_id": m.ID, "revoked_at": isoPtr(m.RevokedAt)})
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}
