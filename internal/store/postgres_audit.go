package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) AppendAudit(ctx context.Context, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.tx(ctx, "append audit", func(tx pgx.Tx) error { return pgAppendAudit(ctx, tx, entries) })
}

// pgAppendAudit extends each mesh's chain inside tx. SELECT ... FOR UPDATE
// on the mesh's head row makes every writer (this broker's batches, claims,
// message commits, other brokers) extend a chain one at a time; heads are
// locked in sorted mesh order so two writers cannot deadlock.
func pgAppendAudit(ctx context.Context, tx pgx.Tx, entries []AuditEntry) error {
	pending, err := pendingAudits(entries)
	if err != nil {
		return err
	}
	meshes, _ := groupByMesh(pending)
	heads, err := pgLockAuditHeads(ctx, tx, meshes)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	if err := pgQueueAudit(b, pending, heads); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// pgAuditHeadsQuery locks the named meshes' head rows in mesh order.
const pgAuditHeadsQuery = `SELECT mesh_id, seq, hash FROM audit_heads
	WHERE mesh_id = ANY($1::text[]) ORDER BY mesh_id FOR UPDATE`

// pgLockAuditHeads locks and returns the heads of meshes (sorted), creating
// the missing ones first. Meshes that do not exist have no head and are
// left out.
func pgLockAuditHeads(ctx context.Context, tx pgx.Tx, meshes []string) (map[string]AuditHead, error) {
	if len(meshes) == 0 {
		return nil, nil
	}
	heads, err := pgScanAuditHeads(tx.Query(ctx, pgAuditHeadsQuery, meshes))
	if err != nil || len(heads) == len(meshes) {
		return heads, err
	}
	return pgCreateAuditHeads(ctx, tx, meshes)
}

// pgCreateAuditHeads inserts the missing heads of meshes (a mesh's first
// audit row) and locks them all.
func pgCreateAuditHeads(ctx context.Context, tx pgx.Tx, meshes []string) (map[string]AuditHead, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO audit_heads (mesh_id, seq, hash)
		SELECT id, 0, $2 FROM meshes WHERE id = ANY($1::text[]) ORDER BY id ON CONFLICT (mesh_id) DO NOTHING`,
		meshes, AuditGenesis); err != nil {
		return nil, err
	}
	return pgScanAuditHeads(tx.Query(ctx, pgAuditHeadsQuery, meshes))
}

func pgScanAuditHeads(rows pgx.Rows, err error) (map[string]AuditHead, error) {
	if err != nil {
		return nil, err
	}
	heads := make(map[string]AuditHead)
	var mesh string
	var h AuditHead
	_, err = pgx.ForEachRow(rows, []any{&mesh, &h.Seq, &h.Hash}, func() error {
		heads[mesh] = h
		return nil
	})
	return heads, err
}

// pgQueueAudit chains entries onto the locked heads and queues one
// multi-row insert of the rows and one update of the heads.
func pgQueueAudit(b *pgx.Batch, entries []pendingAudit, heads map[string]AuditHead) error {
	var (
		mesh, event, actor, details, prev, hash []string
		seq                                     []int64
		at                                      []time.Time
	)
	moved := map[string]bool{}
	for _, e := range entries {
		head, ok := heads[e.meshID]
		if !ok {
			continue // e.g. auth_failed naming a mesh that does not exist
		}
		r, err := chainLink(e, head)
		if err != nil {
			return err
		}
		heads[e.meshID], moved[e.meshID] = AuditHead{Seq: r.Seq, Hash: r.Hash}, true
		mesh, seq, at = append(mesh, r.MeshID), append(seq, r.Seq), append(at, r.At)
		event, actor, details = append(event, r.Event), append(actor, r.Actor), append(details, r.Details)
		prev, hash = append(prev, r.PrevHash), append(hash, r.Hash)
	}
	if len(mesh) == 0 {
		return nil
	}
	b.Queue(`INSERT INTO audit_log (mesh_id, seq, at, event, actor, details, prev_hash, hash)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[],
		 $6::text[], $7::text[], $8::text[])`, mesh, seq, at, event, actor, details, prev, hash)
	var hMesh, hHash []string
	var hSeq []int64
	for m := range moved {
		hMesh, hSeq, hHash = append(hMesh, m), append(hSeq, heads[m].Seq), append(hHash, heads[m].Hash)
	}
	b.Queue(`UPDATE audit_heads h SET seq = n.seq, hash = n.hash
		FROM unnest($1::text[], $2::bigint[], $3::text[]) AS n(mesh_id, seq, hash)
		WHERE h.mesh_id = n.mesh_id`, hMesh, hSeq, hHash)
	return nil
}

const pgAuditCols = `id, mesh_id, seq, at, event, actor, details, prev_hash, hash`

func (s *pgStore) queryAudit(ctx context.Context, q string, args ...any) ([]AuditRecord, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, pgErr("read audit", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		if err := rows.Scan(&r.ID, &r.MeshID, &r.Seq, &r.At, &r.Event, &r.Actor, &r.Details, &r.PrevHash, &r.Hash); err != nil {
			return nil, pgErr("read audit", err)
		}
		r.At = r.At.UTC()
		out = append(out, r)
	}
	return out, pgErr("read audit", rows.Err())
}

func (s *pgStore) ListAudit(ctx context.Context, meshID string, before int64, limit int) ([]AuditRecord, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return s.queryAudit(ctx, `SELECT `+pgAuditCols+` FROM audit_log WHERE mesh_id = $1 AND seq < $2
		ORDER BY seq DESC LIMIT $3`, meshID, before, limit)
}

func (s *pgStore) AuditAfter(ctx context.Context, meshID string, after int64, limit int) ([]AuditRecord, error) {
	return s.queryAudit(ctx, `SELECT `+pgAuditCols+` FROM audit_log WHERE mesh_id = $1 AND seq > $2
		ORDER BY seq LIMIT $3`, meshID, after, limit)
}

func (s *pgStore) GetAuditHead(ctx context.Context, meshID string) (AuditHead, error) {
	var h AuditHead
	err := s.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_heads WHERE mesh_id = $1`, meshID).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return AuditHead{Hash: AuditGenesis}, nil
	}
	return h, pgErr("audit head", err)
}
