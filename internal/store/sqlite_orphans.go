package store

import "context"

func (s *sqliteStore) SessionsWithPendingRows(ctx context.Context) ([]SessionRef, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT m.mesh_id, d.member_id, d.session_id
		FROM deliveries d JOIN messages m ON m.seq = d.message_seq
		WHERE d.status = 'pending' AND d.session_id <> '' AND d.pinned = 0
		ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, sqliteErr("sessions with pending rows", err)
	}
	defer rows.Close()
	var out []SessionRef
	for rows.Next() {
		var r SessionRef
		if err := rows.Scan(&r.MeshID, &r.MemberID, &r.SessionID); err != nil {
			return nil, sqliteErr("sessions with pending rows", err)
		}
		out = append(out, r)
	}
	return out, sqliteErr("sessions with pending rows", rows.Err())
}
