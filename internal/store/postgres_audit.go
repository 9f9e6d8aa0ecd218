package store

import (
	"context"
	"errors"

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
// other brokers) extend a chain one at a time; heads are locked in sorted
// mesh order so two batches cannot deadlock.
func pgAppendAudit(ctx context.Context, tx pgx.Tx, entries []AuditEntry) error {
	meshes, byMesh := groupByMesh(entries)
	for _, meshID := range meshes {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_heads (mesh_id, seq, hash)
			SELECT id, 0, $2 FROM meshes WHERE id = $1 ON CONFLICT (mesh_id) DO NOTHING`, meshID, AuditGenesis); err != nil {
			return err
		}
		var head AuditHead
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_heads WHERE mesh_id = $1 FOR UPDATE`, meshID).Scan(&head.Seq, &head.Hash)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // e.g. auth_failed naming a mesh that does not exist
		}
		if err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for _, e := range byMesh[meshID] {
			r, err := chainLink(e, head)
			if err != nil {
				return err
			}
			batch.Queue(`INSERT INTO audit_log (mesh_id, seq, at, event, actor, details, prev_hash, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.MeshID, r.Seq, r.At, r.Event, r.Actor, r.Details, r.PrevHash, r.Hash)
			head = AuditHead{Seq: r.Seq, Hash: r.Hash}
		}
		batch.Queue(`UPDATE audit_heads SET seq = $2, hash = $3 WHERE mesh_id = $1`, meshID, head.Seq, head.Hash)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
	}
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
