package brokerapi

import (
	"context"
	"net/http"
	"net/url"
)

// CreateMeshRequest is POST /meshes, signed by the owner key.
type CreateMeshRequest struct {
	Name        string `json:"name"`
	OwnerPubkey string `json:"owner_pubkey"`
	RootKey     string `json:"root_key"`
	PeerPubkey  string `json:"peer_pubkey"`
	DisplayName string `json:"display_name"`
	Timestamp   int64  `json:"timestamp"`
	Signature   string `json:"signature"`
}

type CreatedMesh struct {
	MeshID    string `json:"mesh_id"`
	Slug      string `json:"slug"`
	MemberID  string `json:"member_id"`
	BrokerURL string `json:"broker_url"`
}

func (c *Client) CreateMesh(ctx context.Context, req CreateMeshRequest) (CreatedMesh, error) {
	var out CreatedMesh
	return out, c.do(ctx, http.MethodPost, "/meshes", req, false, &out)
}

type MeshInfo struct {
	MeshID      string `json:"mesh_id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	OwnerPubkey string `json:"owner_pubkey"`
	MemberCount int    `json:"member_count"`
	OnlineCount int    `json:"online_count"`
	CreatedAt   string `json:"created_at"`
	BrokerURL   string `json:"broker_url"`
}

func (c *Client) Mesh(ctx context.Context, meshID string) (MeshInfo, error) {
	var out MeshInfo
	return out, c.do(ctx, http.MethodGet, "/meshes/"+url.PathEscape(meshID), nil, true, &out)
}

type Member struct {
	MemberID       string `json:"member_id"`
	Pubkey         string `json:"pubkey"`
	DisplayName    string `json:"display_name"`
	Role           string `json:"role"`
	JoinedAt       string `json:"joined_at"`
	LastSeenAt     string `json:"last_seen_at,omitempty"`
	OnlineSessions int    `json:"online_sessions"`
	RevokedAt      string `json:"revoked_at,omitempty"`
}

func (c *Client) Members(ctx context.Context, meshID string) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	err := c.do(ctx, http.MethodGet, "/meshes/"+url.PathEscape(meshID)+"/members", nil, true, &out)
	return out.Members, err
}

type RevokedMember struct {
	MemberID  string `json:"member_id"`
	RevokedAt string `json:"revoked_at"`
}

func (c *Client) RevokeMember(ctx context.Context, meshID, memberID string) (RevokedMember, error) {
	var out RevokedMember
	return out, c.do(ctx, http.MethodDelete, "/meshes/"+url.PathEscape(meshID)+"/members/"+url.PathEscape(memberID), nil, true, &out)
}

// Capability is the owner's signature over the v2 canonical string.
type Capability struct {
	Canonical string `json:"canonical"`
	Signature string `json:"signature"`
}

// Preset is what an invite suggests to the joiner.
type Preset struct {
	DisplayName string   `json:"display_name,omitempty"`
	RoleTag     string   `json:"role_tag,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	MessageMode string   `json:"message_mode,omitempty"`
}

// MintRequest is POST /meshes/{id}/invites: v2 with Capability, or v1
// (Version 1) with Token.
type MintRequest struct {
	Version    int         `json:"version,omitempty"`
	InviteID   string      `json:"invite_id,omitempty"`
	Role       string      `json:"role,omitempty"`
	MaxUses    int         `json:"max_uses"`
	ExpiresAt  int64       `json:"expires_at,omitempty"`
	Capability *Capability `json:"capability,omitempty"`
	Preset     *Preset     `json:"preset,omitempty"`
	Email      string      `json:"email,omitempty"`
	Token      string      `json:"token,omitempty"`
}

type MintedInvite struct {
	InviteID     string `json:"invite_id"`
	Code         string `json:"code"`
	URL          string `json:"url"`
	ExpiresAt    int64  `json:"expires_at"`
	Role         string `json:"role"`
	MaxUses      int    `json:"max_uses"`
	Version      int    `json:"version"`
	Token        string `json:"token,omitempty"`
	EmailStatus  string `json:"email_status,omitempty"`
	EmailMessage string `json:"email_message,omitempty"`
}

func (c *Client) MintInvite(ctx context.Context, meshID string, req MintRequest) (MintedInvite, error) {
	var out MintedInvite
	return out, c.do(ctx, http.MethodPost, "/meshes/"+url.PathEscape(meshID)+"/invites", req, true, &out)
}

type InviteEmail struct {
	Email      string `json:"email"`
	Status     string `json:"status"`
	SentAt     string `json:"sent_at,omitempty"`
	AcceptedAt string `json:"accepted_at,omitempty"`
	RevokedAt  string `json:"revoked_at,omitempty"`
	Error      string `json:"error,omitempty"`
}

type Invite struct {
	InviteID    string        `json:"invite_id"`
	Code        string        `json:"code"`
	URL         string        `json:"url"`
	Version     int           `json:"version"`
	Role        string        `json:"role"`
	MaxUses     int           `json:"max_uses"`
	UsedCount   int           `json:"used_count"`
	ExpiresAt   int64         `json:"expires_at"`
	Status      string        `json:"status"`
	InviterName string        `json:"inviter_name"`
	CreatedAt   string        `json:"created_at"`
	RevokedAt   string        `json:"revoked_at,omitempty"`
	Emails      []InviteEmail `json:"emails,omitempty"`
}

func (c *Client) Invites(ctx context.Context, meshID string) ([]Invite, error) {
	var out struct {
		Invites []Invite `json:"invites"`
	}
	err := c.do(ctx, http.MethodGet, "/meshes/"+url.PathEscape(meshID)+"/invites", nil, true, &out)
	return out.Invites, err
}

type RevokedInvite struct {
	InviteID  string `json:"invite_id"`
	Status    string `json:"status"`
	RevokedAt string `json:"revoked_at"`
}

func (c *Client) RevokeInvite(ctx context.Context, meshID, inviteID string) (RevokedInvite, error) {
	var out RevokedInvite
	return out, c.do(ctx, http.MethodDelete, "/meshes/"+url.PathEscape(meshID)+"/invites/"+url.PathEscape(inviteID), nil, true, &out)
}
