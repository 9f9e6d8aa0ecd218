package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) RecentSessions(ctx context.Context, nodeID string, since time.Time) ([]RecentSession, error) {
	rows, err := s.pool.Query(ctx, `SELECT mesh_id, member_id, session_id, id, ended_at FROM presences
		WHERE ($1 = '' OR node_id = $1) AND NOT ephemeral AND (ended_at IS NULL OR ended_at >= $2)
		ORDER BY connected_at`, nodeID, toMS(since))
	if err != nil {
		return nil, pgErr("recent sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RecentSession, error) {
		var rs RecentSession
		err := r.Scan(&rs.MeshID, &rs.MemberID, &rs.SessionID, &rs.PresenceID, &rs.EndedAt)
		if rs.EndedAt != nil {
			t := rs.EndedAt.UTC()
			rs.EndedAt = &t
		}
		return rs, err
	})
	return out, pgErr("recent sessions", err)
}
