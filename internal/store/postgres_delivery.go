package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) ClaimMemberQueue(ctx context.Context, meshID, memberID, sessionID string, now time.Time) (int, error) {
	// One statement, one snapshot: the DELETE takes the rows whose message
	// the session already has (redundant), the UPDATE binds the others. The
	// two predicates are disjoint, so no row is touched twice.
	var n int
	err := s.retry(ctx, "claim member queue", func() error {
		return s.pool.QueryRow(ctx, `WITH q AS (
			SELECT d.message_seq,
			       EXISTS (SELECT 1 FROM deliveries x WHERE x.message_seq = d.message_seq
			               AND x.member_id = d.member_id AND x.session_id = $4) AS redundant
			FROM deliveries d JOIN messages m ON m.seq = d.message_seq
			WHERE d.member_id = $1 AND d.session_id = '' AND d.status = 'pending'
			  AND m.mesh_id = $2 AND m.expires_at > $3
		), dropped AS (
			DELETE FROM deliveries d USING q
			WHERE q.redundant AND d.message_seq = q.message_seq AND d.member_id = $1 AND d.session_id = ''
		), claimed AS (
			UPDATE deliveries d SET session_id = $4 FROM q
			WHERE NOT q.redundant AND d.message_seq = q.message_seq AND d.member_id = $1
			  AND d.session_id = '' AND d.status = 'pending'
			RETURNING 1
		)
		SELECT count(*) FROM claimed`, memberID, meshID, toMS(now), sessionID).Scan(&n)
	})
	return n, err
}

// ReleaseSessionRows moves rows by delete-and-insert in one statement. ON
// CONFLICT DO NOTHING drops a row whose member-bound twin exists, also when
// a concurrent release of another session of the member just created it
// (an UPDATE of the key would fail with a unique violation there).
func (s *pgStore) ReleaseSessionRows(ctx context.Context, meshID, memberID, sessionID string) (int, error) {
	if sessionID == "" {
		return 0, nil // member-bound rows are released already
	}
	var n int
	err := s.retry(ctx, "release session rows", func() error {
		return s.pool.QueryRow(ctx, `WITH moved AS (
			DELETE FROM deliveries d USING messages m
			WHERE m.seq = d.message_seq AND d.member_id = $1 AND d.session_id = $2
			  AND d.status = 'pending' AND NOT d.pinned AND m.mesh_id = $3
			RETURNING d.message_seq, d.member_id, d.recipient_pubkey, d.recipient_name
		), released AS (
			INSERT INTO deliveries (message_seq, member_id, session_id, recipient_pubkey, recipient_name)
			SELECT message_seq, member_id, '', recipient_pubkey, recipient_name FROM moved
			ON CONFLICT DO NOTHING
			RETURNING 1
		)
		SELECT count(*) FROM released`, memberID, sessionID, meshID).Scan(&n)
	})
	return n, err
}

func (s *pgStore) PendingForSession(ctx context.Context, meshID, memberID, sessionID string, now time.Time, afterSeq int64, limit int) ([]Delivery, error) {
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT m.seq, m.id, m.mesh_id, d.member_id, d.session_id, d.pinned,
		m.sender_pubkey, m.sender_member_pubkey, m.sender_name, m.priority, m.kind, m.grp, m.enc,
		m.nonce, m.ciphertext, m.created_at, m.expires_at
		FROM deliveries d JOIN messages m ON m.seq = d.message_seq
		WHERE d.member_id = $1 AND d.session_id = $2 AND d.status = 'pending'
		  AND m.mesh_id = $3 AND m.expires_at > $4 AND d.message_seq > $6
		ORDER BY d.message_seq LIMIT $5`, memberID, sessionID, meshID, toMS(now), lim, afterSeq)
	if err != nil {
		return nil, pgErr("pending for session", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.Seq, &d.MessageID, &d.MeshID, &d.MemberID, &d.SessionID, &d.Pinned,
			&d.SenderPubkey, &d.SenderMemberPubkey, &d.SenderName, &d.Priority, &d.Kind, &d.Group,
			&d.Enc, &d.Nonce, &d.Ciphertext, &d.CreatedAt, &d.ExpiresAt)
		d.CreatedAt, d.ExpiresAt = d.CreatedAt.UTC(), d.ExpiresAt.UTC()
		return d, err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, pgErr("pending for session", err)
}

// MarkDelivered sends one point update per key in a single round trip; the
// pipeline runs as one implicit transaction. Point updates on the primary
// key keep an index plan whatever the table statistics say.
func (s *pgStore) MarkDelivered(ctx context.Context, keys []DeliveryKey, at time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(`UPDATE deliveries SET status = 'delivered', delivered_at = $1
			WHERE message_seq = (SELECT seq FROM messages WHERE id = $2)
			  AND member_id = $3 AND session_id = $4 AND status = 'pending'`,
			toMS(at), k.MessageID, k.MemberID, k.SessionID)
	}
	return s.retry(ctx, "mark delivered", func() error { return s.pool.SendBatch(ctx, b).Close() })
}

func (s *pgStore) MessageStatus(ctx context.Context, meshID, messageID string) (MessageStatus, error) {
	// One statement, so the message and its rows come from one snapshot.
	// COLLATE "C": byte order, the same as SQLite's, whatever the locale.
	rows, err := s.pool.Query(ctx, `SELECT m.id, m.mesh_id, m.sender_member_id, m.target_spec, m.priority,
		d.member_id, d.session_id, d.recipient_pubkey, d.recipient_name, d.status, d.delivered_at
		FROM messages m LEFT JOIN deliveries d ON d.message_seq = m.seq
		WHERE m.id = $1 AND m.mesh_id = $2
		ORDER BY d.member_id COLLATE "C", d.session_id COLLATE "C"`, messageID, meshID)
	if err != nil {
		return MessageStatus{}, pgErr("message status", err)
	}
	var st MessageStatus
	found := false
	var member, session, pubkey, name, status *string
	var delivered *time.Time
	_, err = pgx.ForEachRow(rows, []any{&st.MessageID, &st.MeshID, &st.SenderMemberID, &st.TargetSpec,
		&st.Priority, &member, &session, &pubkey, &name, &status, &delivered}, func() error {
		found = true
		if member != nil { // NULL: a message whose rows were all swept
			st.Recipients = append(st.Recipients, RecipientStatus{MemberID: *member, SessionID: *session,
				Pubkey: *pubkey, Name: *name, Status: *status, DeliveredAt: utcPtr(delivered)})
		}
		return nil
	})
	if err != nil {
		return MessageStatus{}, pgErr("message status", err)
	}
	if !found {
		return MessageStatus{}, pgErr("message status", ErrNotFound)
	}
	return st, nil
}

func (s *pgStore) ExpireDeliveries(ctx context.Context, now time.Time, retain time.Duration) (int, error) {
	var expired int64
	cutoff := toMS(now.Add(-retain))
	err := s.tx(ctx, "expire deliveries", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE deliveries d SET status = 'expired' FROM messages m
			WHERE m.seq = d.message_seq AND d.status = 'pending' AND m.expires_at <= $1`, toMS(now))
		if err != nil {
			return err
		}
		expired = tag.RowsAffected()
		// = ANY(ARRAY(...)) pins the plan to probes of the primary key: as a
		// join, delivered rows (the bulk of the table) invite a seq scan.
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM deliveries d
			WHERE d.message_seq = ANY (ARRAY(SELECT seq FROM messages WHERE expires_at <= $1))
			  AND d.status IN ('expired', 'delivered')`, cutoff)
		b.Queue(`DELETE FROM messages m WHERE m.expires_at <= $1
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_seq = m.seq)`, cutoff)
		return tx.SendBatch(ctx, b).Close()
	})
	return int(expired), err
}

func (s *pgStore) CountMessages(ctx context.Context, meshID string) (messages, pending int, err error) {
	// One statement, so both counts come from one snapshot.
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM messages WHERE mesh_id = $1),
		(SELECT count(*) FROM deliveries d JOIN messages m ON m.seq = d.message_seq
		 WHERE d.status = 'pending' AND m.mesh_id = $1)`, meshID).Scan(&messages, &pending)
	return messages, pending, pgErr("count messages", err)
}
