package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) SessionsWithPendingRows(ctx context.Context) ([]SessionRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT m.mesh_id, d.member_id, d.session_id
		FROM deliveries d JOIN messages m ON m.seq = d.message_seq
		WHERE d.status = 'pending' AND d.session_id <> '' AND NOT d.pinned
		ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, pgErr("sessions with pending rows", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SessionRef, error) {
		var ref SessionRef
		return ref, r.Scan(&ref.MeshID, &ref.MemberID, &ref.SessionID)
	})
	return out, pgErr("sessions with pending rows", err)
}
