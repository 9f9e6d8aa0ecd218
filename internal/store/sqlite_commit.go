package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// CommitMessages writes the batch, its delivery rows and its message_sent
// audit rows in one transaction, one prepared statement execution per row
// (the statements are parsed once per process, see sqliteStmts).
func (s *sqliteStore) CommitMessages(ctx context.Context, msgs []NewMessage, window time.Duration) ([]CommitResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var results []CommitResult
	err := s.tx(ctx, "commit messages", func(tx *sql.Tx) error {
		t := s.bind(ctx, tx)
		stored, err := t.keyHolders(batchKeys(msgs))
		if err != nil {
			return err
		}
		p := planCommit(msgs, window, stored)
		for _, seq := range p.clear {
			if _, err := t.exec(t.ps.clearKey, seq); err != nil {
				return err
			}
		}
		seqs, err := t.insertMessages(p)
		if err != nil {
			return err
		}
		if err := t.appendAudit(p.sentAudits()); err != nil {
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

// insertMessages inserts the plan's new messages and their rows in batch
// order, so AUTOINCREMENT hands out seqs in that order, and returns seqs by
// position (the seq is the rowid).
func (t *sqliteTx) insertMessages(p *commitPlan) ([]int64, error) {
	seqs := make([]int64, len(p.msgs))
	for i := range p.msgs {
		if !p.insert[i] {
			continue
		}
		m := &p.msgs[i]
		res, err := t.exec(t.ps.insertMessage, m.ID, m.MeshID, m.SenderMemberID, m.SenderSessionID, m.SenderPubkey,
			m.SenderMemberPubkey, m.SenderName, p.cmid(i), m.TargetSpec, m.Priority, m.Kind, m.Group,
			m.Enc, m.Nonce, m.Ciphertext, len(p.recips[i]), msOf(m.CreatedAt), msOf(m.ExpiresAt))
		if err != nil {
			return nil, err
		}
		if seqs[i], err = res.LastInsertId(); err != nil {
			return nil, err
		}
		for _, r := range p.recips[i] {
			if _, err := t.exec(t.ps.insertDelivery, seqs[i], r.MemberID, r.SessionID, r.Pinned, r.Pubkey, r.Name); err != nil {
				return nil, err
			}
		}
	}
	return seqs, nil
}

// keyHolders loads the stored messages holding the batch's keys, one
// indexed probe per key.
func (t *sqliteTx) keyHolders(keys []cmidKey) (map[cmidKey]priorMsg, error) {
	out := make(map[cmidKey]priorMsg, len(keys))
	for _, k := range keys {
		var p priorMsg
		var created int64
		err := t.queryRow(t.ps.keyHolder, k.sender, k.cmid).Scan(&p.seq, &p.id, &created, &p.recipients)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p.createdAt = fromMS(created)
		out[k] = p
	}
	return out, nil
}
