package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// CommitMessages writes the batch in one transaction with three round trips
// after BEGIN: (1) idempotency locks, key lookup, seq allocation and the
// audit chain heads' locks, (2) key release plus multi-row inserts of
// messages, rows and message_sent audit rows, (3) COMMIT. A mesh's first
// audit row costs one more round trip (creating its head).
func (s *pgStore) CommitMessages(ctx context.Context, msgs []NewMessage, window time.Duration) ([]CommitResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var results []CommitResult
	err := s.tx(ctx, "commit messages", func(tx pgx.Tx) error {
		keys := batchKeys(msgs)
		meshes := batchMeshes(msgs)
		stored, seqs, heads, err := pgPrepareCommit(ctx, tx, keys, len(msgs), meshes)
		if err != nil {
			return err
		}
		if len(heads) < len(meshes) {
			if heads, err = pgCreateAuditHeads(ctx, tx, meshes); err != nil {
				return err
			}
		}
		p := planCommit(msgs, window, stored)
		if err := pgWriteCommit(ctx, tx, p, seqs, heads); err != nil {
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

// pgPrepareCommit locks the senders' keys, loads their stored holders,
// draws one seq per message and locks the meshes' audit heads (after the
// key locks: every writer takes advisory locks before heads). Drawing seqs
// here (rather than by column default) makes seq order the batch order;
// seqs of duplicates go unused.
func pgPrepareCommit(ctx context.Context, tx pgx.Tx, keys []cmidKey, n int, meshes []string) (
	stored map[cmidKey]priorMsg, seqs []int64, heads map[string]AuditHead, err error) {
	locks := senderLockIDs(keys)
	b := &pgx.Batch{}
	for _, id := range locks {
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, id)
	}
	if len(keys) > 0 {
		senders, cmids := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			senders[i], cmids[i] = k.sender, k.cmid
		}
		// Queued after the locks: at READ COMMITTED this statement sees what
		// an earlier holder of the lock committed.
		// LATERAL ... LIMIT 1 (which keeps it from being flattened into a
		// join) pins the plan to one index probe per key, even while the
		// statistics are stale: a young table looks empty and would get a
		// sequential scan in a cached plan.
		b.Queue(`SELECT k.s, k.c, m.seq, m.id, m.created_at, m.recipient_count
			FROM unnest($1::text[], $2::text[]) AS k(s, c)
			CROSS JOIN LATERAL (SELECT seq, id, created_at, recipient_count FROM messages
			  WHERE sender_member_id = k.s AND client_message_id = k.c LIMIT 1) m`, senders, cmids)
	}
	b.Queue(`SELECT nextval('messages_seq_seq') FROM generate_series(1, $1)`, n)
	b.Queue(pgAuditHeadsQuery, meshes)

	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for range locks {
		if _, err := br.Exec(); err != nil {
			return nil, nil, nil, err
		}
	}
	stored = make(map[cmidKey]priorMsg)
	if len(keys) > 0 {
		rows, _ := br.Query()
		var k cmidKey
		var p priorMsg
		_, err := pgx.ForEachRow(rows, []any{&k.sender, &k.cmid, &p.seq, &p.id, &p.createdAt, &p.recipients}, func() error {
			p.createdAt = p.createdAt.UTC()
			stored[k] = p
			return nil
		})
		if err != nil {
			return nil, nil, nil, err
		}
	}
	rows, _ := br.Query()
	if seqs, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return nil, nil, nil, err
	}
	if len(seqs) != n {
		return nil, nil, nil, fmt.Errorf("drew %d seqs for %d messages", len(seqs), n)
	}
	// One nextval per row in one statement: sort in case rows came back in
	// another order than they were drawn.
	slices.Sort(seqs)
	if heads, err = pgScanAuditHeads(br.Query()); err != nil {
		return nil, nil, nil, err
	}
	return stored, seqs, heads, br.Close()
}

// batchMeshes lists the batch's meshes, sorted (the head lock order).
func batchMeshes(msgs []NewMessage) []string {
	var out []string
	for i := range msgs {
		if !slices.Contains(out, msgs[i].MeshID) {
			out = append(out, msgs[i].MeshID)
		}
	}
	slices.Sort(out)
	return out
}

// senderLockIDs returns one advisory lock id per sender of the keys, sorted
// so every transaction takes its locks in the same order.
func senderLockIDs(keys []cmidKey) []int64 {
	var ids []int64
	for _, k := range keys {
		h := fnv.New64a()
		h.Write([]byte("claudemesh-cmid/" + k.sender))
		ids = append(ids, int64(h.Sum64()))
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// pgWriteCommit releases superseded keys and inserts the new messages,
// their rows and their audit rows with one multi-row statement each.
func pgWriteCommit(ctx context.Context, tx pgx.Tx, p *commitPlan, seqs []int64, heads map[string]AuditHead) error {
	var (
		mSeq                                      []int64
		mID, mMesh, mSender, mSess, mPub, mMemPub []string
		mName, mSpec, mPrio, mKind, mGrp, mEnc    []string
		mNonce, mCipher                           []string
		mCMID                                     []*string
		mCount                                    []int32
		mCreated, mExpires                        []time.Time
		dSeq                                      []int64
		dMember, dSess, dPub, dName               []string
		dPinned                                   []bool
	)
	for i, m := range p.msgs {
		if !p.insert[i] {
			continue
		}
		mSeq = append(mSeq, seqs[i])
		mID, mMesh, mSender = append(mID, m.ID), append(mMesh, m.MeshID), append(mSender, m.SenderMemberID)
		mSess, mPub = append(mSess, m.SenderSessionID), append(mPub, m.SenderPubkey)
		mMemPub, mName = append(mMemPub, m.SenderMemberPubkey), append(mName, m.SenderName)
		mCMID, mSpec = append(mCMID, p.cmid(i)), append(mSpec, m.TargetSpec)
		mPrio, mKind, mGrp = append(mPrio, m.Priority), append(mKind, m.Kind), append(mGrp, m.Group)
		mEnc, mNonce, mCipher = append(mEnc, m.Enc), append(mNonce, m.Nonce), append(mCipher, m.Ciphertext)
		mCount = append(mCount, int32(len(p.recips[i])))
		mCreated, mExpires = append(mCreated, toMS(m.CreatedAt)), append(mExpires, toMS(m.ExpiresAt))
		for _, r := range p.recips[i] {
			dSeq, dMember, dSess = append(dSeq, seqs[i]), append(dMember, r.MemberID), append(dSess, r.SessionID)
			dPub, dName, dPinned = append(dPub, r.Pubkey), append(dName, r.Name), append(dPinned, r.Pinned)
		}
	}
	b := &pgx.Batch{}
	if len(p.clear) > 0 {
		b.Queue(`UPDATE messages SET client_message_id = NULL WHERE seq = ANY($1::bigint[])`, p.clear)
	}
	if len(mSeq) > 0 {
		b.Queue(`INSERT INTO messages
			(seq, id, mesh_id, sender_member_id, sender_session_id, sender_pubkey, sender_member_pubkey,
			 sender_name, client_message_id, target_spec, priority, kind, grp, enc, nonce, ciphertext,
			 recipient_count, created_at, expires_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
			 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
			 $14::text[], $15::text[], $16::text[], $17::int[], $18::timestamptz[], $19::timestamptz[])`,
			mSeq, mID, mMesh, mSender, mSess, mPub, mMemPub, mName, mCMID, mSpec, mPrio, mKind, mGrp,
			mEnc, mNonce, mCipher, mCount, mCreated, mExpires)
	}
	if len(dSeq) > 0 {
		b.Queue(`INSERT INTO deliveries (message_seq, member_id, session_id, pinned, recipient_pubkey, recipient_name)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::text[])`,
			dSeq, dMember, dSess, dPinned, dPub, dName)
	}
	if err := pgQueueAudit(b, p.sentAudits(), heads); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}
