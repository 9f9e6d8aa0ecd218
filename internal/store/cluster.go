package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// ErrUnsupported: the backend cannot do this (SQLite has no LISTEN/NOTIFY;
// it serves one broker per data directory, which needs neither).
var ErrUnsupported = errors.New("store: not supported by this backend")

// PresenceState is the part of a presence that changes while the session
// lives (what list_peers shows on other nodes).
type PresenceState struct {
	Status       string // idle | working | dnd
	StatusSource string // manual | inferred | hook | ttl
	Summary      string
	Groups       []Group
}

// Wakeup is a session with pending rows up to MaxSeq (see PendingWakeups).
type Wakeup struct {
	SessionRef
	MaxSeq int64
}

// DeadNodeRule says which other nodes ClaimDeadNodes declares dead.
type DeadNodeRule struct {
	Self string // the caller, never claimed
	// StaleBefore: a node whose last heartbeat is older is dead, even if it
	// holds its liveness lock (a hung process).
	StaleBefore time.Time
	// QuietBefore: a node whose liveness lock is free (its process or its
	// database connection is gone) is dead once its last heartbeat is older
	// than this; the grace lets a node reconnect its listener after a blip.
	QuietBefore time.Time
	Now         time.Time // the dead nodes' presences end at this time
}

// NodeSession is one session a dead node held when it was declared dead.
type NodeSession struct {
	SessionRef
	NodeID     string
	PresenceID string
	Ephemeral  bool
}

// Listener receives the payloads of Notify, in commit order, on one
// dedicated connection that also holds its node's liveness lock.
type Listener interface {
	// Wait blocks for the next payload. An error means the connection is
	// gone (and with it the lock): Close it and Listen again.
	Wait(ctx context.Context) (string, error)
	Close() error
}

// ClusterStore is what several brokers sharing one database use to find
// each other. The store stays the source of truth for messages; these are
// node liveness, presences on every node and wake-up hints.
//
// A node is live from RegisterNode until it is declared dead (dead_at set)
// by ClaimDeadNodes; a presence counts as live when it is open (no
// ended_at) and its node is live. Presences of unknown nodes (written
// before clustering) never count as live.
type ClusterStore interface {
	// RegisterNode records the node as live (again, if it had been declared
	// dead) with last_seen = now.
	RegisterNode(ctx context.Context, nodeID string, now time.Time) error
	// HeartbeatNode moves last_seen to now; false when the node has been
	// declared dead meanwhile (its sessions were taken over).
	HeartbeatNode(ctx context.Context, nodeID string, now time.Time) (bool, error)
	// ClaimDeadNodes declares dead every other live node that rule calls
	// dead, ends their open presences at rule.Now and returns those
	// sessions. Each dead node is claimed by exactly one caller. On SQLite,
	// where the server's lock file admits one broker per data directory,
	// every other node is dead.
	ClaimDeadNodes(ctx context.Context, rule DeadNodeRule) ([]NodeSession, error)
	// OrphanedSessions lists sessions holding pending, unpinned rows that
	// have no live presence: their node died or they ended. The caller
	// releases them after a resume window.
	OrphanedSessions(ctx context.Context) ([]SessionRef, error)
	// SessionPresences returns the session's presences that are live, or
	// ended after endedAfter, newest first.
	SessionPresences(ctx context.Context, meshID, memberID, sessionID string, endedAfter time.Time) ([]Presence, error)
	// LivePresences returns every live presence on nodes other than exceptNode.
	LivePresences(ctx context.Context, exceptNode string) ([]Presence, error)
	// UpdatePresenceState writes a presence's status, summary and groups.
	UpdatePresenceState(ctx context.Context, presenceID string, st PresenceState) error
	// PendingWakeups lists the live, non-ephemeral sessions of nodeID that
	// have pending, unexpired rows with seq > afterSeq, bound to them or to
	// their member, each with the largest such seq; and the largest message
	// seq in the store. A node polls it to deliver what a lost notification
	// did not announce.
	PendingWakeups(ctx context.Context, nodeID string, now time.Time, afterSeq int64) ([]Wakeup, int64, error)
	// RememberHello records a hello (by key) until expiresAt; false when the
	// key is already recorded and unexpired: a replay. Expired keys are
	// deleted along the way.
	RememberHello(ctx context.Context, key string, now, expiresAt time.Time) (bool, error)
	// Notify sends payloads to every Listener of this store (PostgreSQL
	// NOTIFY). Payloads are hints (ids), never message content.
	Notify(ctx context.Context, payloads []string) error
	// Listen opens a Listener and takes nodeID's liveness lock on its
	// connection: while it is open, ClaimDeadNodes treats the node as live
	// unless its heartbeat is stale. ErrUnsupported on SQLite.
	Listen(ctx context.Context, nodeID string) (Listener, error)
}

// nodeLockKey is the advisory lock a node holds on its Listener connection.
func nodeLockKey(nodeID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("claudemesh-node/" + nodeID))
	return int64(h.Sum64())
}

// presenceExtras fills defaults and encodes the JSON columns of a presence.
func presenceExtras(p Presence) (PresenceState, string, string, error) {
	st := p.PresenceState
	if st.Status == "" {
		st.Status = "idle"
	}
	if st.StatusSource == "" {
		st.StatusSource = "manual"
	}
	groups, err := encodeGroups(st.Groups)
	if err != nil {
		return st, "", "", err
	}
	caps, err := encodeStrings(p.Capabilities)
	return st, groups, caps, err
}

func encodeStrings(v []string) (string, error) {
	if v == nil {
		v = []string{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("store: encode strings: %w", err)
	}
	return string(b), nil
}

func decodeStrings(b []byte) ([]string, error) {
	out := []string{}
	if len(b) == 0 {
		return out, nil
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("store: decode strings: %w", err)
	}
	return out, nil
}

// presenceCols is the column list both backends scan presences with.
const presenceCols = `p.id, p.mesh_id, p.member_id, p.session_id, p.session_pubkey, p.node_id,
	p.display_name, p.pid, p.cwd, p.hostname, p.peer_type, p.channel, p.model, p.ephemeral,
	p.connected_at, p.ended_at, p.status, p.status_source, p.summary, p.groups, p.capabilities`
