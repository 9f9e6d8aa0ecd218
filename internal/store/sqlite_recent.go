package store

import (
	"context"
	"database/sql"
	"time"
)

func (s *sqliteStore) RecentSessions(ctx context.Context, nodeID string, since time.Time) ([]RecentSession, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT mesh_id, member_id, session_id, id, ended_at FROM presences
		WHERE (?1 = '' OR node_id = ?1) AND NOT ephemeral AND (ended_at IS NULL OR ended_at >= ?2)
		ORDER BY connected_at`, nodeID, msOf(since))
	if err != nil {
		return nil, sqliteErr("recent sessions", err)
	}
	defer rows.Close()
	var out []RecentSession
	for rows.Next() {
		var r RecentSession
		var ended sql.NullInt64
		if err := rows.Scan(&r.MeshID, &r.MemberID, &r.SessionID, &r.PresenceID, &ended); err != nil {
			return nil, sqliteErr("recent sessions", err)
		}
		r.EndedAt = fromNullMS(ended)
		out = append(out, r)
	}
	return out, sqliteErr("recent sessions", rows.Err())
}
