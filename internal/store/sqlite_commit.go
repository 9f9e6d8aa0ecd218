package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// CommitMessages writes the batch, its delivery rows and its message_sent
// audit rows in one transaction, with multi-row statements prepared once
// per process (see sqliteStmts and sqliteBulkInsert).
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

// insertMessages inserts the plan's new messages in batch order, so
// AUTOINCREMENT hands out seqs in that order, then their rows, and returns
// seqs by position.
func (t *sqliteTx) insertMessages(p *commitPlan) ([]int64, error) {
	const mcols, dcols = 18, 6
	args := make([]any, 0, mcols*len(p.msgs))
	pos := make(map[string]int, len(p.msgs))
	rows := 0
	for i := range p.msgs {
		if !p.insert[i] {
			continue
		}
		m := &p.msgs[i]
		pos[m.ID] = i
		rows += len(p.recips[i])
		args = append(args, m.ID, m.MeshID, m.SenderMemberID, m.SenderSessionID, m.SenderPubkey,
			m.SenderMemberPubkey, m.SenderName, p.cmid(i), m.TargetSpec, m.Priority, m.Kind, m.Group,
			m.Enc, m.Nonce, m.Ciphertext, len(p.recips[i]), msOf(m.CreatedAt), msOf(m.ExpiresAt))
	}
	seqs := make([]int64, len(p.msgs))
	err := t.bulk(t.ps.insertMessages, args, func(r *sql.Rows) error {
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
	if err != nil {
		return nil, err
	}
	args = make([]any, 0, dcols*rows)
	for i := range p.msgs {
		for _, r := range p.recips[i] {
			args = append(args, seqs[i], r.MemberID, r.SessionID, r.Pinned, r.Pubkey, r.Name)
		}
	}
	return seqs, t.bulk(t.ps.insertDeliveries, args, nil)
}

// keyHolders loads the stored messages holding the batch's keys.
func (t *sqliteTx) keyHolders(keys []cmidKey) (map[cmidKey]priorMsg, error) {
	out := make(map[cmidKey]priorMsg, len(keys))
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k.sender, k.cmid)
	}
	err := t.bulk(t.ps.keyHolders, args, func(r *sql.Rows) error {
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
	return out, err
}
