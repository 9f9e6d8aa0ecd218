package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgreSQL side of clustering.
//
// Liveness: a node holds a session-level advisory lock (nodeLockKey) on its
// Listener connection for as long as it runs. A killed process loses its
// connection and with it the lock, so ClaimDeadNodes sees the death at its
// next run instead of waiting for the heartbeat to go stale; the heartbeat
// still catches a node that hangs with its connection open.
//
// ClaimDeadNodes locks candidate node rows FOR UPDATE SKIP LOCKED, so two
// nodes checking at once never claim the same dead node twice, and it tests
// each lock with pg_try_advisory_xact_lock, released when its transaction
// ends.

func pgChannel(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var schema *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", pgErr("current schema", err)
	}
	name := ""
	if schema != nil {
		name = *schema
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return fmt.Sprintf("claudemesh_%016x", h.Sum64()), nil
}

func (s *pgStore) RegisterNode(ctx context.Context, nodeID string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO nodes (id, started_at, last_seen) VALUES ($1, $2, $2)
		ON CONFLICT (id) DO UPDATE SET last_seen = EXCLUDED.last_seen, dead_at = NULL`, nodeID, toMS(now))
	return pgErr("register node", err)
}

func (s *pgStore) HeartbeatNode(ctx context.Context, nodeID string, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE nodes SET last_seen = GREATEST(last_seen, $2)
		WHERE id = $1 AND dead_at IS NULL`, nodeID, toMS(now))
	if err != nil {
		return false, pgErr("heartbeat node", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *pgStore) ClaimDeadNodes(ctx context.Context, rule DeadNodeRule) ([]NodeSession, error) {
	var out []NodeSession
	now := rule.Now
	err := s.tx(ctx, "claim dead nodes", func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `SELECT id, last_seen < $2, last_seen < $3 FROM nodes
			WHERE dead_at IS NULL AND id <> $1 ORDER BY id FOR UPDATE SKIP LOCKED`,
			rule.Self, toMS(rule.StaleBefore), toMS(rule.QuietBefore))
		if err != nil {
			return err
		}
		type cand struct {
			id           string
			stale, quiet bool
		}
		cands, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (cand, error) {
			var c cand
			return c, r.Scan(&c.id, &c.stale, &c.quiet)
		})
		if err != nil {
			return err
		}
		var dead []string
		for _, c := range cands {
			free := false
			if !c.stale && c.quiet {
				if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, nodeLockKey(c.id)).Scan(&free); err != nil {
					return err
				}
			}
			if c.stale || free {
				dead = append(dead, c.id)
			}
		}
		if len(dead) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE nodes SET dead_at = $2 WHERE id = ANY($1)`, dead, toMS(now)); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `UPDATE presences SET ended_at = $2
			WHERE node_id = ANY($1) AND ended_at IS NULL
			RETURNING mesh_id, member_id, session_id, node_id, id, ephemeral`, dead, toMS(now))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (NodeSession, error) {
			var n NodeSession
			return n, r.Scan(&n.MeshID, &n.MemberID, &n.SessionID, &n.NodeID, &n.PresenceID, &n.Ephemeral)
		})
		return err
	})
	return out, err
}

// pgLivePresence is the predicate of a live presence p.
const pgLivePresence = `p.ended_at IS NULL AND EXISTS (SELECT 1 FROM nodes n WHERE n.id = p.node_id AND n.dead_at IS NULL)`

func (s *pgStore) OrphanedSessions(ctx context.Context) ([]SessionRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT m.mesh_id, d.member_id, d.session_id
		FROM deliveries d JOIN messages m ON m.seq = d.message_seq
		WHERE d.status = 'pending' AND d.session_id <> '' AND NOT d.pinned
		  AND NOT EXISTS (SELECT 1 FROM presences p WHERE p.member_id = d.member_id
		                  AND p.session_id = d.session_id AND `+pgLivePresence+`)
		ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, pgErr("orphaned sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SessionRef, error) {
		var ref SessionRef
		return ref, r.Scan(&ref.MeshID, &ref.MemberID, &ref.SessionID)
	})
	return out, pgErr("orphaned sessions", err)
}

func (s *pgStore) SessionPresences(ctx context.Context, meshID, memberID, sessionID string, endedAfter time.Time) ([]Presence, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+presenceCols+` FROM presences p
		WHERE p.mesh_id = $1 AND p.member_id = $2 AND p.session_id = $3
		  AND ((`+pgLivePresence+`) OR p.ended_at > $4)
		ORDER BY p.connected_at DESC, p.id`, meshID, memberID, sessionID, toMS(endedAfter))
	if err != nil {
		return nil, pgErr("session presences", err)
	}
	out, err := pgx.CollectRows(rows, scanPgPresence)
	return out, pgErr("session presences", err)
}

func (s *pgStore) LivePresences(ctx context.Context, exceptNode string) ([]Presence, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+presenceCols+` FROM presences p
		WHERE p.node_id <> $1 AND `+pgLivePresence+` ORDER BY p.connected_at, p.id`, exceptNode)
	if err != nil {
		return nil, pgErr("live presences", err)
	}
	out, err := pgx.CollectRows(rows, scanPgPresence)
	return out, pgErr("live presences", err)
}

func scanPgPresence(r pgx.CollectableRow) (Presence, error) {
	var p Presence
	var groups, caps []byte
	err := r.Scan(&p.ID, &p.MeshID, &p.MemberID, &p.SessionID, &p.SessionPubkey, &p.NodeID,
		&p.DisplayName, &p.PID, &p.CWD, &p.Hostname, &p.PeerType, &p.Channel, &p.Model, &p.Ephemeral,
		&p.ConnectedAt, &p.EndedAt, &p.Status, &p.StatusSource, &p.Summary, &groups, &caps)
	if err != nil {
		return p, err
	}
	p.ConnectedAt, p.EndedAt = p.ConnectedAt.UTC(), utcPtr(p.EndedAt)
	if p.Groups, err = decodeGroups(groups); err != nil {
		return p, err
	}
	p.Capabilities, err = decodeStrings(caps)
	return p, err
}

func (s *pgStore) UpdatePresenceState(ctx context.Context, presenceID string, st PresenceState) error {
	groups, err := encodeGroups(st.Groups)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE presences SET status = $2, status_source = $3, summary = $4, groups = $5::jsonb
		WHERE id = $1`, presenceID, st.Status, st.StatusSource, st.Summary, groups)
	return pgErr("update presence state", pgAffectedOne(tag, err))
}

func (s *pgStore) PendingWakeups(ctx context.Context, nodeID string, now time.Time, afterSeq int64) ([]Wakeup, int64, error) {
	var maxSeq int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM messages`).Scan(&maxSeq); err != nil {
		return nil, 0, pgErr("pending wakeups", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT p.mesh_id, p.member_id, p.session_id, max(d.message_seq)
		FROM presences p
		JOIN deliveries d ON d.member_id = p.member_id AND d.session_id IN (p.session_id, '')
		                 AND d.status = 'pending' AND d.message_seq > $3
		JOIN messages m ON m.seq = d.message_seq AND m.mesh_id = p.mesh_id AND m.expires_at > $2
		WHERE p.node_id = $1 AND p.ended_at IS NULL AND NOT p.ephemeral
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, nodeID, toMS(now), afterSeq)
	if err != nil {
		return nil, 0, pgErr("pending wakeups", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Wakeup, error) {
		var w Wakeup
		return w, r.Scan(&w.MeshID, &w.MemberID, &w.SessionID, &w.MaxSeq)
	})
	return out, maxSeq, pgErr("pending wakeups", err)
}

func (s *pgStore) RememberHello(ctx context.Context, key string, now, expiresAt time.Time) (bool, error) {
	var fresh bool
	err := s.tx(ctx, "remember hello", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM hello_replays WHERE expires_at <= $1`, toMS(now)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO hello_replays (key, expires_at) VALUES ($1, $2)
			ON CONFLICT (key) DO NOTHING`, key, toMS(expiresAt))
		fresh = tag.RowsAffected() == 1
		return err
	})
	return fresh, err
}

func (s *pgStore) Notify(ctx context.Context, payloads []string) error {
	if len(payloads) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x`, s.channel, payloads)
	return pgErr("notify", err)
}

// pgListener is one dedicated connection: LISTEN on the store's channel
// and the node's liveness lock. Wait is called from one goroutine only.
type pgListener struct {
	conn *pgx.Conn
}

func (s *pgStore) Listen(ctx context.Context, nodeID string) (Listener, error) {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return nil, pgErr("listen", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, pgErr("listen", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, nodeLockKey(nodeID)); err != nil {
		conn.Close(context.Background())
		return nil, pgErr("listen: node lock", err)
	}
	return &pgListener{conn: conn}, nil
}

func (l *pgListener) Wait(ctx context.Context) (string, error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		return "", pgErr("wait for notification", err)
	}
	return n.Payload, nil
}

func (l *pgListener) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return l.conn.Close(ctx)
}
