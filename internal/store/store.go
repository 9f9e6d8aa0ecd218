// Package store is the broker's durable state behind one interface, with an
// embedded SQLite implementation (the default) and a PostgreSQL one.
//
// The store is the source of truth. The broker caches members and presences
// in memory, but every acked message and every delivery row lives here first.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend maps its own failures onto.
var (
	// ErrNotFound: the row does not exist (or is not visible to the caller's mesh).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a uniqueness rule was violated (duplicate pubkey in a mesh, ...).
	ErrConflict = errors.New("store: conflict")
)

// Delivery row states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryExpired   = "expired"
)

// Member roles.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Mesh is a group of members sharing a root key. Slugs are not unique.
type Mesh struct {
	ID          string
	Name        string
	Slug        string
	OwnerPubkey string // ed25519 hex
	// RootKey is the mesh root key sealed with the broker's data key
	// (meshadmin.NewSealedMesh / meshadmin.RootKey); exactly 32 bytes means
	// a key stored in the clear before encryption at rest. Empty when the
	// mesh was created without one.
	RootKey    []byte
	CreatedAt  time.Time
	ArchivedAt *time.Time
}

// Group is one remembered group membership.
type Group struct {
	Name string `json:"name"`
	Role string `json:"role,omitempty"`
}

// Member is one identity (an ed25519 key) inside one mesh.
type Member struct {
	ID          string
	MeshID      string
	Pubkey      string // ed25519 hex, unique among a mesh's members
	DisplayName string
	Role        string
	Groups      []Group // remembered groups, restored on the next hello without groups
	JoinedAt    time.Time
	RevokedAt   *time.Time
	// UpdatedAt moves on every change (add, revoke, rename, groups). Brokers
	// poll MembersChangedSince with it to keep their caches coherent.
	UpdatedAt time.Time
}

// Presence is one connected session as recorded for operators and for
// other broker nodes (cluster.go). The live routing table of a node's own
// sessions is in that node's memory.
type Presence struct {
	ID            string
	MeshID        string
	MemberID      string
	SessionID     string
	SessionPubkey string // "" when the session proved no key of its own
	NodeID        string
	DisplayName   string
	PID           int
	CWD           string
	Hostname      string
	PeerType      string
	Channel       string
	Model         string
	Ephemeral     bool
	ConnectedAt   time.Time
	EndedAt       *time.Time
	// Capabilities come from the hello; the PresenceState fields are kept
	// current by the session's node so other nodes can list the peer.
	Capabilities []string
	PresenceState
}

// Recipient is one delivery row to create. SessionID "" makes the row
// member-bound: it waits for the next session of that member to claim it.
type Recipient struct {
	MemberID  string
	SessionID string
	Pubkey    string // the recipient's routing address at send time (for message_status)
	Name      string // display name at send time (for message_status)
	// Pinned: the message is encrypted to this session's own key, so the row
	// is never handed to another session. Requires a SessionID; when the same
	// (member, session) is listed twice, the row is pinned if either is.
	Pinned bool
}

// NewMessage is a message to commit together with its delivery rows.
type NewMessage struct {
	ID                 string // broker-assigned message id
	MeshID             string
	SenderMemberID     string
	SenderSessionID    string
	SenderPubkey       string // sender's routing address
	SenderMemberPubkey string
	SenderName         string
	ClientMessageID    string // "" when the client sent none
	TargetSpec         string // the target as the client sent it, JSON-encoded
	Priority           string // now | next | low
	Kind               string // direct | group | broadcast
	Group              string
	Enc                string // box | secretbox | plain
	Nonce              string // opaque to the broker
	Ciphertext         string // opaque to the broker
	CreatedAt          time.Time
	ExpiresAt          time.Time
	Recipients         []Recipient
}

// CommitResult answers one NewMessage of a batch, in the same position.
type CommitResult struct {
	MessageID string // the original id when Duplicate
	Seq       int64  // store-wide order; larger means committed later
	// Duplicate: the sender already used this ClientMessageID within the
	// idempotency window; nothing new was created.
	Duplicate  bool
	Recipients int
}

// Delivery is one pending delivery row joined with its message, ready to push.
type Delivery struct {
	Seq                int64
	MessageID          string
	MeshID             string
	MemberID           string // recipient
	SessionID          string // recipient session ("" for a member-bound row)
	Pinned             bool   // encrypted to the session's own key (see Recipient)
	SenderPubkey       string
	SenderMemberPubkey string
	SenderName         string
	Priority           string
	Kind               string
	Group              string
	Enc                string
	Nonce              string
	Ciphertext         string
	CreatedAt          time.Time
	ExpiresAt          time.Time
}

// SessionRef names one session of one member.
type SessionRef struct {
	MeshID    string
	MemberID  string
	SessionID string
}

// RecentSession is a presence of a previous broker process; EndedAt is nil
// when that process died without recording the end.
type RecentSession struct {
	SessionRef
	PresenceID string
	EndedAt    *time.Time
}

// DeliveryKey names one delivery row.
type DeliveryKey struct {
	MessageID string
	MemberID  string
	SessionID string
}

// MessageStatus is a message and all of its delivery rows.
type MessageStatus struct {
	MessageID      string
	MeshID         string
	SenderMemberID string
	TargetSpec     string
	Priority       string
	Recipients     []RecipientStatus
}

// RecipientStatus is one delivery row as message_status reports it.
type RecipientStatus struct {
	MemberID    string
	SessionID   string
	Pubkey      string
	Name        string
	Status      string // pending | delivered | expired
	DeliveredAt *time.Time
}

// Store is implemented by the SQLite and PostgreSQL backends. All methods
// are safe for concurrent use. Times are stored with millisecond precision.
type Store interface {
	StateStore
	InviteStore
	ClusterStore

	// Backend names the implementation: "sqlite" or "postgres".
	Backend() string
	// Ping checks the database answers (for /health).
	Ping(ctx context.Context) error
	Close() error

	CreateMesh(ctx context.Context, m Mesh) error
	GetMesh(ctx context.Context, id string) (Mesh, error)

	// AddMember fails with ErrConflict when the pubkey is already a
	// non-revoked member of the mesh.
	AddMember(ctx context.Context, m Member) error
	GetMember(ctx context.Context, meshID, memberID string) (Member, error)
	// ListMembers returns every member, revoked ones included, oldest first.
	ListMembers(ctx context.Context, meshID string) ([]Member, error)
	// RevokeMember sets RevokedAt (idempotent: a second call keeps the first time).
	RevokeMember(ctx context.Context, meshID, memberID string, at time.Time) (Member, error)
	SetMemberGroups(ctx context.Context, meshID, memberID string, groups []Group) error
	// MembersChangedSince returns members (of every mesh) whose UpdatedAt >= since.
	MembersChangedSince(ctx context.Context, since time.Time) ([]Member, error)

	InsertPresence(ctx context.Context, p Presence) error
	EndPresence(ctx context.Context, presenceID string, at time.Time) error

	// CommitMessages writes a batch in ONE transaction and returns one result
	// per message, in order. When the sender's ClientMessageID was used within
	// idempotencyWindow the original is returned and nothing is written for it.
	// An error means nothing in the batch was committed.
	CommitMessages(ctx context.Context, msgs []NewMessage, idempotencyWindow time.Duration) ([]CommitResult, error)
	// ClaimMemberQueue binds the member's member-bound pending rows to sessionID.
	// Member-bound rows are never pinned.
	ClaimMemberQueue(ctx context.Context, meshID, memberID, sessionID string, now time.Time) (int, error)
	// ReleaseSessionRows hands a finished session's pending, unpinned rows
	// back to its member (session_id ''), so the member's next session claims
	// them. Where the member already has a member-bound row for the same
	// message, the session row is deleted instead (it is redundant). Pinned
	// rows stay bound to the session (only a resume with the same session can
	// read them). Returns how many rows were released (deleted redundant rows
	// are not counted). An empty sessionID releases nothing.
	ReleaseSessionRows(ctx context.Context, meshID, memberID, sessionID string) (int, error)
	// SessionsWithPendingRows lists the sessions holding pending, unpinned
	// rows. A starting broker releases them: their sockets died with the
	// previous process, and a session that never resumes must not keep its
	// member's mail.
	SessionsWithPendingRows(ctx context.Context) ([]SessionRef, error)
	// RecentSessions lists the non-ephemeral presences (of node nodeID, or
	// of every node when nodeID is "") that have not ended, or ended at or
	// after since: the sessions a restarted single-node broker lets resume.
	RecentSessions(ctx context.Context, nodeID string, since time.Time) ([]RecentSession, error)
	// PendingForSession returns pending, unexpired rows bound to the session
	// with Seq > afterSeq, in Seq order, at most limit (0: no limit). Paging
	// by afterSeq lets a reader walk a large backlog in bounded steps.
	PendingForSession(ctx context.Context, meshID, memberID, sessionID string, now time.Time, afterSeq int64, limit int) ([]Delivery, error)
	// MarkDelivered marks pending rows delivered; unknown or already
	// delivered keys are ignored.
	MarkDelivered(ctx context.Context, keys []DeliveryKey, at time.Time) error
	// MessageStatus returns the message with its rows, or ErrNotFound when it
	// does not exist in meshID.
	MessageStatus(ctx context.Context, meshID, messageID string) (MessageStatus, error)
	// ExpireDeliveries marks pending rows past ExpiresAt as expired. Then,
	// once a message is past ExpiresAt+retain, it deletes the message's
	// expired and delivered rows, and the message itself when no rows are
	// left: a fully delivered message keeps its ciphertext only until then.
	// Returns how many rows it newly marked expired.
	ExpireDeliveries(ctx context.Context, now time.Time, retain time.Duration) (expired int, err error)
	// CountMessages returns how many messages of the mesh are stored, and how
	// many of their delivery rows are pending (rows past ExpiresAt count until
	// a sweep marks them). It scans the mesh's messages: meant for operators
	// and tests, not for a hot path.
	CountMessages(ctx context.Context, meshID string) (messages, pending int, err error)
}
