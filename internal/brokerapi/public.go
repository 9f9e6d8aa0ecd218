package brokerapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// InviteInfo is the public GET /invites/{code}: what the consent card shows.
type InviteInfo struct {
	Code        string `json:"code"`
	MeshID      string `json:"mesh_id,omitempty"` // absent from brokers older than this CLI
	MeshName    string `json:"mesh_name"`
	MeshSlug    string `json:"mesh_slug"`
	Role        string `json:"role"`
	InviterName string `json:"inviter_name"`
	ExpiresAt   int64  `json:"expires_at"`
	MemberCount int    `json:"member_count"`
	OnlineCount int    `json:"online_count"`
	Status      string `json:"status"`
	Version     int    `json:"version"`
	OwnerPubkey string `json:"owner_pubkey,omitempty"` // absent from brokers older than this CLI
}

func (c *Client) InviteInfo(ctx context.Context, code string) (InviteInfo, error) {
	var out InviteInfo
	return out, c.do(ctx, http.MethodGet, "/invites/"+url.PathEscape(code), nil, false, &out)
}

// ClaimRequest is POST /invites/{code}/claim, signed by the new member key.
type ClaimRequest struct {
	RecipientX25519 string `json:"recipient_x25519_pubkey"`
	PeerPubkey      string `json:"peer_pubkey"`
	DisplayName     string `json:"display_name,omitempty"`
	Timestamp       int64  `json:"timestamp"`
	Signature       string `json:"signature"`
}

type Claimed struct {
	SealedRootKey       string `json:"sealed_root_key"`
	MeshID              string `json:"mesh_id"`
	MemberID            string `json:"member_id"`
	OwnerPubkey         string `json:"owner_pubkey"`
	CanonicalV2         string `json:"canonical_v2"`
	CapabilitySignature string `json:"capability_signature"`
	MeshName            string `json:"mesh_name"`
	MeshSlug            string `json:"mesh_slug"`
	Role                string `json:"role"`
	BrokerURL           string `json:"broker_url"`
	AlreadyMember       bool   `json:"already_member"`
}

func (c *Client) Claim(ctx context.Context, code string, req ClaimRequest) (Claimed, error) {
	var out Claimed
	return out, c.do(ctx, http.MethodPost, "/invites/"+url.PathEscape(code)+"/claim", req, false, &out)
}

// V1Token resolves a short code of a v1 invite to its token.
func (c *Client) V1Token(ctx context.Context, code string) (string, error) {
	var out struct {
		Found bool   `json:"found"`
		Token string `json:"token"`
	}
	err := c.do(ctx, http.MethodGet, "/api/public/invite-code/"+url.PathEscape(code), nil, false, &out)
	return out.Token, err
}

// JoinV1Request is the deprecated POST /join.
type JoinV1Request struct {
	InviteToken   string          `json:"invite_token"`
	InvitePayload json.RawMessage `json:"invite_payload"`
	PeerPubkey    string          `json:"peer_pubkey"`
	DisplayName   string          `json:"display_name"`
}

type JoinedV1 struct {
	OK            bool   `json:"ok"`
	MemberID      string `json:"memberId"`
	AlreadyMember bool   `json:"alreadyMember"`
}

func (c *Client) JoinV1(ctx context.Context, req JoinV1Request) (JoinedV1, error) {
	var out JoinedV1
	return out, c.do(ctx, http.MethodPost, "/join", req, false, &out)
}

// Health is GET /health; a 503 answer is returned as an *Error.
type Health struct {
	Status  string `json:"status"`
	DB      string `json:"db"`
	Version string `json:"version"`
	Uptime  any    `json:"uptime"`
}

func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	return out, c.do(ctx, http.MethodGet, "/health", nil, false, &out)
}
