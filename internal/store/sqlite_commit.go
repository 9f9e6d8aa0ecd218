package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// sqliteMaxParams stays under SQLite's limit of bound parameters per
// statement (SQLITE_MAX_VARIABLE_NUMBER, 32766); larger batches are chunked.
const sqliteMaxParams = 16000

func (s *sqliteStore) CommitMessages(ctx context.Context, msgs []NewMessage, window time.Duration) ([]CommitResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var results []CommitResult
	err := s.tx(ctx, "commit messages", func(tx *sql.Tx) error {
		stored, err := sqliteKeyHolders(ctx, tx, batchKeys(msgs))
		if err != nil {
			return err
		}
		p := planCommit(msgs, window, stored)
		for _, seq := range p.clear {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET client_message_id = NULL WHERE seq = ?`, seq); err != nil {
				return err
			}
		}
		seqs, err := sqliteInsertMessages(ctx, tx, p)
		if err != nil {
			return err
		}
		var rows [][]any
		for i := range msgs {
			for _, r := range p.recips[i] {
				rows = append(rows, []any{seqs[i], r.MemberID, r.SessionID, r.Pinned, r.Pubkey, r.Name})
			}
		}
		err = sqliteInsertRows(ctx, tx, `INSERT INTO deliveries
			(message_seq, member_id, session_id, pinned, recipient_pubkey, recipient_name) VALUES `, "", rows, nil)
		if err != nil {
			return err
		}
		results = p.finish(seqs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// sqliteInsertMessages inserts the plan's new messages in batch order, so
// AUTOINCREMENT hands out seqs in that order, and returns seqs by position.
func sqliteInsertMessages(ctx context.Context, tx *sql.Tx, p *commitPlan) ([]int64, error) {
	var rows [][]any
	pos := make(map[string]int)
	for i, m := range p.msgs {
		if !p.insert[i] {
			continue
		}
		pos[m.ID] = i
		rows = append(rows, []any{m.ID, m.MeshID, m.SenderMemberID, m.SenderSessionID, m.SenderPubkey,
			m.SenderMemberPubkey, m.SenderName, p.cmid(i), m.TargetSpec, m.Priority, m.Kind, m.Group,
			m.Enc, m.Nonce, m.Ciphertext, len(p.recips[i]), msOf(m.CreatedAt), msOf(m.ExpiresAt)})
	}
	seqs := make([]int64, len(p.msgs))
	err := sqliteInsertRows(ctx, tx, `INSERT INTO messages
		(id, mesh_id, sender_member_id, sender_session_id, sender_pubkey, sender_member_pubkey,
		 sender_name, client_message_id, target_spec, priority, kind, grp, enc, nonce, ciphertext,
		 recipient_count, created_at, expires_at) VALUES `, " RETURNING id, seq", rows,
		func(r *sql.Rows) error {
			var id string
			var seq int64
			if err := r.Scan(&id, &seq); err != nil {
				return err
			}
			i, ok := pos[id]
			if !ok {
				return fmt.Errorf("insert returned unknown message %q", id)
			}
			seqs[i] = seq
			return nil
		})
	return seqs, err
}

// sqliteInsertRows runs head + "(?, ...), ..." + tail over rows in chunks.
// With scan set, each chunk is a query and scan sees every returned row.
func sqliteInsertRows(ctx context.Context, tx *sql.Tx, head, tail string, rows [][]any, scan func(*sql.Rows) error) error {
	if len(rows) == 0 {
		return nil
	}
	cols := len(rows[0])
	tuple := "(?" + strings.Repeat(", ?", cols-1) + ")"
	per := max(1, sqliteMaxParams/cols)
	for len(rows) > 0 {
		chunk := rows[:min(per, len(rows))]
		rows = rows[len(chunk):]
		var q strings.Builder
		q.WriteString(head)
		args := make([]any, 0, len(chunk)*cols)
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(tuple)
			args = append(args, r...)
		}
		q.WriteString(tail)
		if scan == nil {
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
			continue
		}
		if err := sqliteQueryEach(ctx, tx, q.String(), args, scan); err != nil {
			return err
		}
	}
	return nil
}

func sqliteQueryEach(ctx context.Context, tx *sql.Tx, q string, args []any, scan func(*sql.Rows) error) error {
	r, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		if err := scan(r); err != nil {
			return err
		}
	}
	return r.Err()
}

// sqliteKeyHolders loads the stored messages holding the batch's keys.
func sqliteKeyHolders(ctx context.Context, tx *sql.Tx, keys []cmidKey) (map[cmidKey]priorMsg, error) {
	out := make(map[cmidKey]priorMsg)
	per := sqliteMaxParams / 2
	for len(keys) > 0 {
		chunk := keys[:min(per, len(keys))]
		keys = keys[len(chunk):]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.sender, k.cmid)
		}
		q := `WITH k(s, c) AS (VALUES (?, ?)` + strings.Repeat(", (?, ?)", len(chunk)-1) + `)
			SELECT m.sender_member_id, m.client_message_id, m.seq, m.id, m.created_at, m.recipient_count
			FROM k JOIN messages m ON m.sender_member_id = k.s AND m.client_message_id = k.c
			WHERE m.client_message_id IS NOT NULL`
		err := sqliteQueryEach(ctx, tx, q, args, func(r *sql.Rows) error {
			var k cmidKey
			var p priorMsg
			var created int64
			if err := r.Scan(&k.sender, &k.cmid, &p.seq, &p.id, &created, &p.recipients); err != nil {
				return err
			}
			p.createdAt = fromMS(created)
			out[k] = p
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
