package store

import (
	"context"
	"database/sql"
	"time"
)

// claimFilter selects the member's unexpired, pending, member-bound rows in a mesh.
const claimFilter = `d.member_id = ?1 AND d.session_id = '' AND d.status = 'pending'
	AND EXISTS (SELECT 1 FROM messages m WHERE m.seq = d.message_seq AND m.mesh_id = ?2 AND m.expires_at > ?3)`

// sessionRowExists: the message already has a row for the claiming session.
const sessionRowExists = `EXISTS (SELECT 1 FROM deliveries x
	WHERE x.message_seq = d.message_seq AND x.member_id = d.member_id AND x.session_id = ?4)`

func (s *sqliteStore) ClaimMemberQueue(ctx context.Context, meshID, memberID, sessionID string, now time.Time) (int, error) {
	args := []any{memberID, meshID, msOf(now), sessionID}
	// Most session starts find nothing to claim: a read on the reader pool
	// answers that without queueing behind message commits on the writer.
	// It is the claim's own filter, so "none" here is what the claim would
	// have found at this instant; rows committed later are offered live or
	// claimed by the next sync, as before.
	var any bool
	if err := s.reads.hasClaimable.QueryRowContext(ctx, args[:3]...).Scan(&any); err != nil {
		return 0, sqliteErr("claim member queue", err)
	}
	if !any {
		return 0, nil
	}
	var n int64
	err := s.tx(ctx, "claim member queue", func(tx *sql.Tx) error {
		t := s.bind(ctx, tx)
		res, err := t.exec(t.ps.claimRows, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// What is left collides with a row the session already has: redundant.
		_, err = t.exec(t.ps.dropClaimed, args...)
		return err
	})
	return int(n), err
}

// releaseFilter selects the session's pending, unpinned rows in a mesh.
const releaseFilter = `d.member_id = ?1 AND d.session_id = ?2 AND d.status = 'pending' AND d.pinned = 0
	AND EXISTS (SELECT 1 FROM messages m WHERE m.seq = d.message_seq AND m.mesh_id = ?3)`

// memberRowExists: the message already has a member-bound row for the member.
const memberRowExists = `EXISTS (SELECT 1 FROM deliveries x
	WHERE x.message_seq = d.message_seq AND x.member_id = d.member_id AND x.session_id = '')`

func (s *sqliteStore) ReleaseSessionRows(ctx context.Context, meshID, memberID, sessionID string) (int, error) {
	if sessionID == "" {
		return 0, nil // member-bound rows are released already
	}
	var n int64
	err := s.tx(ctx, "release session rows", func(tx *sql.Tx) error {
		args := []any{memberID, sessionID, meshID}
		res, err := tx.ExecContext(ctx, `UPDATE deliveries AS d SET session_id = ''
			WHERE `+releaseFilter+` AND NOT `+memberRowExists, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// What is left collides with a member-bound row: redundant.
		_, err = tx.ExecContext(ctx, `DELETE FROM deliveries AS d WHERE `+releaseFilter+` AND `+memberRowExists, args...)
		return err
	})
	return int(n), err
}

func (s *sqliteStore) PendingForSession(ctx context.Context, meshID, memberID, sessionID string, now time.Time, afterSeq int64, limit int) ([]Delivery, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.reads.pendingForSession.QueryContext(ctx, memberID, sessionID, meshID, msOf(now), afterSeq, limit)
	if err != nil {
		return nil, sqliteErr("pending for session", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var created, expires int64
		if err := rows.Scan(&d.Seq, &d.MessageID, &d.MeshID, &d.MemberID, &d.SessionID, &d.Pinned,
			&d.SenderPubkey, &d.SenderMemberPubkey, &d.SenderName, &d.Priority, &d.Kind, &d.Group,
			&d.Enc, &d.Nonce, &d.Ciphertext, &created, &expires); err != nil {
			return nil, sqliteErr("pending for session", err)
		}
		d.CreatedAt, d.ExpiresAt = fromMS(created), fromMS(expires)
		out = append(out, d)
	}
	return out, sqliteErr("pending for session", rows.Err())
}

func (s *sqliteStore) MarkDelivered(ctx context.Context, keys []DeliveryKey, at time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	return s.tx(ctx, "mark delivered", func(tx *sql.Tx) error {
		t := s.bind(ctx, tx)
		for _, k := range keys {
			if _, err := t.exec(t.ps.markDelivered, msOf(at), k.MemberID, k.SessionID, k.MessageID); err != nil {
				return err
			}
		}
		return nil
	})
}
