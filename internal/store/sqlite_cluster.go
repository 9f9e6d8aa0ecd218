package store

import (
	"context"
	"database/sql"
	"time"
)

// SQLite side of clustering. The server takes an exclusive lock file on the
// data directory, so one broker serves it: every other node is dead, and
// nothing needs waking across processes (Listen is unsupported and Notify
// does nothing). The node and presence queries are real so that takeover
// of the previous process's sessions follows the same path as PostgreSQL.

func (s *sqliteStore) RegisterNode(ctx context.Context, nodeID string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO nodes (id, started_at, last_seen) VALUES (?1, ?2, ?2)
		ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, dead_at = NULL`, nodeID, msOf(now))
	return sqliteErr("register node", err)
}

func (s *sqliteStore) HeartbeatNode(ctx context.Context, nodeID string, now time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE nodes SET last_seen = MAX(last_seen, ?2)
		WHERE id = ?1 AND dead_at IS NULL`, nodeID, msOf(now))
	if err != nil {
		return false, sqliteErr("heartbeat node", err)
	}
	n, err := res.RowsAffected()
	return n == 1, sqliteErr("heartbeat node", err)
}

// ClaimDeadNodes declares every other node dead: see the lock file above.
func (s *sqliteStore) ClaimDeadNodes(ctx context.Context, rule DeadNodeRule) ([]NodeSession, error) {
	var out []NodeSession
	self, now := rule.Self, rule.Now
	err := s.tx(ctx, "claim dead nodes", func(tx *sql.Tx) error {
		out = nil
		if _, err := tx.ExecContext(ctx, `UPDATE nodes SET dead_at = ?2 WHERE dead_at IS NULL AND id <> ?1`,
			self, msOf(now)); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `UPDATE presences SET ended_at = ?2
			WHERE ended_at IS NULL AND node_id IN (SELECT id FROM nodes WHERE id <> ?1 AND dead_at = ?2)
			RETURNING mesh_id, member_id, session_id, node_id, id, ephemeral`, self, msOf(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n NodeSession
			if err := rows.Scan(&n.MeshID, &n.MemberID, &n.SessionID, &n.NodeID, &n.PresenceID, &n.Ephemeral); err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

const sqliteLivePresence = `p.ended_at IS NULL AND EXISTS (SELECT 1 FROM nodes n WHERE n.id = p.node_id AND n.dead_at IS NULL)`

func (s *sqliteStore) OrphanedSessions(ctx context.Context) ([]SessionRef, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT m.mesh_id, d.member_id, d.session_id
		FROM deliveries d JOIN messages m ON m.seq = d.message_seq
		WHERE d.status = 'pending' AND d.session_id <> '' AND d.pinned = 0
		  AND NOT EXISTS (SELECT 1 FROM presences p WHERE p.member_id = d.member_id
		                  AND p.session_id = d.session_id AND `+sqliteLivePresence+`)
		ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, sqliteErr("orphaned sessions", err)
	}
	return scanSessionRefs(rows, "orphaned sessions")
}

func scanSessionRefs(rows *sql.Rows, op string) ([]SessionRef, error) {
	defer rows.Close()
	var out []SessionRef
	for rows.Next() {
		var r SessionRef
		if err := rows.Scan(&r.MeshID, &r.MemberID, &r.SessionID); err != nil {
			return nil, sqliteErr(op, err)
		}
		out = append(out, r)
	}
	return out, sqliteErr(op, rows.Err())
}

func (s *sqliteStore) SessionPresences(ctx context.Context, meshID, memberID, sessionID string, endedAfter time.Time) ([]Presence, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+presenceCols+` FROM presences p
		WHERE p.mesh_id = ? AND p.member_id = ? AND p.session_id = ?
		  AND ((`+sqliteLivePresence+`) OR p.ended_at > ?)
		ORDER BY p.connected_at DESC, p.id`, meshID, memberID, sessionID, msOf(endedAfter))
	if err != nil {
		return nil, sqliteErr("session presences", err)
	}
	return scanSQLitePresences(rows, "session presences")
}

func (s *sqliteStore) LivePresences(ctx context.Context, exceptNode string) ([]Presence, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+presenceCols+` FROM presences p
		WHERE p.node_id <> ? AND `+sqliteLivePresence+` ORDER BY p.connected_at, p.id`, exceptNode)
	if err != nil {
		return nil, sqliteErr("live presences", err)
	}
	return scanSQLitePresences(rows, "live presences")
}

func scanSQLitePresences(rows *sql.Rows, op string) ([]Presence, error) {
	defer rows.Close()
	var out []Presence
	for rows.Next() {
		var p Presence
		var connected int64
		var ended sql.NullInt64
		var groups, caps []byte
		if err := rows.Scan(&p.ID, &p.MeshID, &p.MemberID, &p.SessionID, &p.SessionPubkey, &p.NodeID,
			&p.DisplayName, &p.PID, &p.CWD, &p.Hostname, &p.PeerType, &p.Channel, &p.Model, &p.Ephemeral,
			&connected, &ended, &p.Status, &p.StatusSource, &p.Summary, &groups, &caps); err != nil {
			return nil, sqliteErr(op, err)
		}
		p.ConnectedAt, p.EndedAt = fromMS(connected), fromNullMS(ended)
		var err error
		if p.Groups, err = decodeGroups(groups); err != nil {
			return nil, err
		}
		if p.Capabilities, err = decodeStrings(caps); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, sqliteErr(op, rows.Err())
}

func (s *sqliteStore) UpdatePresenceState(ctx context.Context, presenceID string, st PresenceState) error {
	groups, err := encodeGroups(st.Groups)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE presences SET status = ?, status_source = ?, summary = ?, groups = ?
		WHERE id = ?`, st.Status, st.StatusSource, st.Summary, groups, presenceID)
	return sqliteErr("update presence state", affectedOne(res, err))
}

func (s *sqliteStore) PendingWakeups(ctx context.Context, nodeID string, now time.Time, afterSeq int64) ([]Wakeup, int64, error) {
	var maxSeq int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM messages`).Scan(&maxSeq); err != nil {
		return nil, 0, sqliteErr("pending wakeups", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT p.mesh_id, p.member_id, p.session_id, MAX(d.message_seq)
		FROM presences p
		JOIN deliveries d ON d.member_id = p.member_id AND d.session_id IN (p.session_id, '')
		                 AND d.status = 'pending' AND d.message_seq > ?3
		JOIN messages m ON m.seq = d.message_seq AND m.mesh_id = p.mesh_id AND m.expires_at > ?2
		WHERE p.node_id = ?1 AND p.ended_at IS NULL AND p.ephemeral = 0
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, nodeID, msOf(now), afterSeq)
	if err != nil {
		return nil, 0, sqliteErr("pending wakeups", err)
	}
	defer rows.Close()
	var out []Wakeup
	for rows.Next() {
		var w Wakeup
		if err := rows.Scan(&w.MeshID, &w.MemberID, &w.SessionID, &w.MaxSeq); err != nil {
			return nil, 0, sqliteErr("pending wakeups", err)
		}
		out = append(out, w)
	}
	return out, maxSeq, sqliteErr("pending wakeups", rows.Err())
}

func (s *sqliteStore) RememberHello(ctx context.Context, key string, now, expiresAt time.Time) (bool, error) {
	var fresh bool
	err := s.tx(ctx, "remember hello", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM hello_replays WHERE expires_at <= ?`, msOf(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO hello_replays (key, expires_at) VALUES (?, ?)
			ON CONFLICT (key) DO NOTHING`, key, msOf(expiresAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh, err
}

// Notify does nothing: a single broker dispatches in memory.
func (s *sqliteStore) Notify(context.Context, []string) error { return nil }

func (s *sqliteStore) Listen(context.Context, string) (Listener, error) { return nil, ErrUnsupported }
