package store

import (
	"context"
	"database/sql"
	"time"
)

func (s *sqliteStore) MessageStatus(ctx context.Context, meshID, messageID string) (MessageStatus, error) {
	// One statement, so the message and its rows come from one snapshot.
	rows, err := s.r.QueryContext(ctx, `SELECT m.id, m.mesh_id, m.sender_member_id, m.target_spec, m.priority,
		d.member_id, d.session_id, d.recipient_pubkey, d.recipient_name, d.status, d.delivered_at
		FROM messages m LEFT JOIN deliveries d ON d.message_seq = m.seq
		WHERE m.id = ? AND m.mesh_id = ?
		ORDER BY d.member_id, d.session_id`, messageID, meshID)
	if err != nil {
		return MessageStatus{}, sqliteErr("message status", err)
	}
	defer rows.Close()
	var st MessageStatus
	found := false
	for rows.Next() {
		var member, session, pubkey, name, status sql.NullString
		var delivered sql.NullInt64
		if err := rows.Scan(&st.MessageID, &st.MeshID, &st.SenderMemberID, &st.TargetSpec, &st.Priority,
			&member, &session, &pubkey, &name, &status, &delivered); err != nil {
			return MessageStatus{}, sqliteErr("message status", err)
		}
		found = true
		if member.Valid { // NULL: a message whose rows were all swept
			st.Recipients = append(st.Recipients, RecipientStatus{MemberID: member.String,
				SessionID: session.String, Pubkey: pubkey.String, Name: name.String,
				Status: status.String, DeliveredAt: fromNullMS(delivered)})
		}
	}
	if err := rows.Err(); err != nil {
		return MessageStatus{}, sqliteErr("message status", err)
	}
	if !found {
		return MessageStatus{}, sqliteErr("message status", ErrNotFound)
	}
	return st, nil
}

func (s *sqliteStore) ExpireDeliveries(ctx context.Context, now time.Time, retain time.Duration) (int, error) {
	var expired int64
	cutoff := msOf(now.Add(-retain))
	// Every statement walks messages_expires_idx and probes deliveries by
	// its primary key (message_seq first).
	err := s.tx(ctx, "expire deliveries", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'expired'
			WHERE status = 'pending'
			  AND message_seq IN (SELECT seq FROM messages WHERE expires_at <= ?)`, msOf(now))
		if err != nil {
			return err
		}
		if expired, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deliveries
			WHERE status IN ('expired', 'delivered')
			  AND message_seq IN (SELECT seq FROM messages WHERE expires_at <= ?)`, cutoff); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM messages
			WHERE expires_at <= ?
			  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_seq = messages.seq)`, cutoff)
		return err
	})
	return int(expired), err
}

func (s *sqliteStore) CountMessages(ctx context.Context, meshID string) (messages, pending int, err error) {
	// One statement, so both counts come from one snapshot.
	err = s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM messages WHERE mesh_id = ?1),
		(SELECT count(*) FROM deliveries d JOIN messages m ON m.seq = d.message_seq
		 WHERE d.status = 'pending' AND m.mesh_id = ?1)`, meshID).Scan(&messages, &pending)
	return messages, pending, sqliteErr("count messages", err)
}
