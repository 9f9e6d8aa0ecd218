package store

import (
	"context"
	"errors"
	"time"
)

// Invite lifecycle errors. A claim checks them in this order after the
// invite and its mesh were found (invites.md §3).
var (
	ErrInviteRevoked   = errors.New("store: invite revoked")
	ErrInviteExpired   = errors.New("store: invite expired")
	ErrInviteExhausted = errors.New("store: invite exhausted")
)

// Invite is one v1 or v2 invite.
type Invite struct {
	ID          string
	MeshID      string
	Code        string // 8 base62 chars; "" when the invite has no short code
	Version     int    // 1 or 2
	Role        string
	MaxUses     int
	UsedCount   int
	ExpiresAt   time.Time
	RevokedAt   *time.Time
	CreatedBy   string // pubkey of the admin who minted it
	InviterName string // shown on the consent page
	CreatedAt   time.Time
	// v2: the owner-signed capability, stored as sent and re-checked on claim.
	CapabilityCanonical string
	CapabilitySignature string
	// v1: the token embeds the root key, so it is stored sealed with the
	// broker's data key; TokenHash (hex sha256) finds it on /join.
	TokenHash       string
	TokenSealed     []byte
	ClaimedByPubkey string
	Preset          string // JSON object, "{}" when none
}

// Status is the invite's lifecycle state at now, checked in the order
// revoked, expired, exhausted.
func (i Invite) Status(now time.Time) string {
	switch {
	case i.RevokedAt != nil:
		return "revoked"
	case !now.Before(i.ExpiresAt):
		return "expired"
	case i.UsedCount >= i.MaxUses:
		return "exhausted"
	}
	return "active"
}

// PendingInvite is an email invite: who was invited with which code.
type PendingInvite struct {
	ID         string
	MeshID     string
	InviteID   string
	Email      string
	Code       string
	SentAt     *time.Time
	SendError  string // why the last send failed, "" otherwise
	AcceptedAt *time.Time
	RevokedAt  *time.Time
	CreatedBy  string
	CreatedAt  time.Time
}

// InviteListing is an invite with its email invites.
type InviteListing struct {
	Invite
	Emails []PendingInvite
}

// Claim describes one invite claim. Exactly one of Code (v2) and TokenHash
// (v1 /join) selects the invite.
type Claim struct {
	Code        string
	TokenHash   string
	PeerPubkey  string // the new member's ed25519 key
	DisplayName string
	ClaimedBy   string // x25519 key (v2) or the ed25519 key (v1), kept as claimed_by_pubkey
	MemberID    string // id for a new member
	Now         time.Time
	// Check runs inside the transaction on the rows it read, before anything
	// is written; an error aborts the claim and is returned as is.
	Check func(Invite, Mesh) error
}

// ClaimResult is a successful claim.
type ClaimResult struct {
	Invite Invite
	Mesh   Mesh
	Member Member
	// Existing: PeerPubkey was already a member; nothing was consumed.
	Existing bool
}

// AuditEntry is one audit event to append.
type AuditEntry struct {
	MeshID  string
	At      time.Time
	Event   string
	Actor   string
	Details map[string]any // metadata only; never content or keys
}

// AuditRecord is one stored audit row. Seq is its position in the mesh's
// chain (1, 2, ...); ID orders rows store-wide.
type AuditRecord struct {
	ID       int64
	MeshID   string
	Seq      int64
	At       time.Time
	Event    string
	Actor    string
	Details  string // canonical JSON, exactly as hashed
	PrevHash string
	Hash     string
}

// AuditHead is the last link of a mesh's chain as the head row records it.
type AuditHead struct {
	Seq  int64
	Hash string
}

// InviteStore holds invites, pending email invites, mesh administration and
// the hash-chained audit log (invites.md).
type InviteStore interface {
	// CreateMeshWithMember stores a mesh and its first member in one transaction.
	CreateMeshWithMember(ctx context.Context, m Mesh, first Member) error
	// RenameMesh sets name and slug; ErrNotFound for an unknown mesh.
	RenameMesh(ctx context.Context, meshID, name, slug string) (Mesh, error)
	// MembersLastSeen maps member id to the latest start or end of any of
	// its presences.
	MembersLastSeen(ctx context.Context, meshID string) (map[string]time.Time, error)

	// CreateInvite stores an invite and, when email is non-nil, its email
	// invite in one transaction. ErrConflict when the id or code is taken.
	CreateInvite(ctx context.Context, inv Invite, email *PendingInvite) error
	GetInvite(ctx context.Context, id string) (Invite, error)
	GetInviteByCode(ctx context.Context, code string) (Invite, error)
	// ListInvites returns the mesh's invites, newest first, with their emails.
	ListInvites(ctx context.Context, meshID string) ([]InviteListing, error)
	// RevokeInvite revokes the invite and its pending email invites
	// (idempotent: the first time is kept).
	RevokeInvite(ctx context.Context, meshID, inviteID string, at time.Time) (Invite, error)
	// SetEmailSent records a send attempt: sent_at when sendErr is "", the
	// error text otherwise.
	SetEmailSent(ctx context.Context, pendingID string, at time.Time, sendErr string) error
	// ClaimInvite runs a claim in ONE transaction: the guarded use-count
	// update, the member row, claimed_by_pubkey, accepted_at of a pending
	// email invite and the audit rows. Errors: ErrNotFound (no invite, or
	// the mesh is archived), Check's error, ErrInviteRevoked/Expired/
	// Exhausted. A failed claim writes nothing.
	ClaimInvite(ctx context.Context, c Claim) (ClaimResult, error)

	// AppendAudit appends entries in ONE transaction, chaining each mesh's
	// rows in the order given. Entries for unknown meshes are dropped.
	AppendAudit(ctx context.Context, entries []AuditEntry) error
	// ListAudit returns up to limit rows with seq < before (0: no bound),
	// newest first.
	ListAudit(ctx context.Context, meshID string, before int64, limit int) ([]AuditRecord, error)
	// AuditAfter returns up to limit rows with seq > after, oldest first.
	AuditAfter(ctx context.Context, meshID string, after int64, limit int) ([]AuditRecord, error)
	// GetAuditHead returns the chain head (Seq 0 when the chain is empty).
	GetAuditHead(ctx context.Context, meshID string) (AuditHead, error)
}
