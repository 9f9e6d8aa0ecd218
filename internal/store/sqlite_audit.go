package store

import (
	"context"
	"database/sql"
	"errors"
)

func (s *sqliteStore) AppendAudit(ctx context.Context, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	pending, err := pendingAudits(entries)
	if err != nil {
		return err
	}
	return s.tx(ctx, "append audit", func(tx *sql.Tx) error { return s.bind(ctx, tx).appendAudit(pending) })
}

// appendAudit extends each mesh's chain inside the transaction. The single
// writer connection serializes every appender, so reading the head and
// writing the new head cannot interleave with another writer.
func (t *sqliteTx) appendAudit(entries []pendingAudit) error {
	meshes, byMesh := groupByMesh(entries)
	for _, meshID := range meshes {
		var head AuditHead
		err := t.queryRow(t.ps.auditHead, meshID).Scan(&head.Seq, &head.Hash)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if err := t.queryRow(t.ps.meshExists, meshID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				continue // e.g. auth_failed naming a mesh that does not exist
			} else if err != nil {
				return err
			}
			head, err = AuditHead{Hash: AuditGenesis}, nil
		}
		if err != nil {
			return err
		}
		args := make([]any, 0, 8*len(byMesh[meshID]))
		for _, e := range byMesh[meshID] {
			r, err := chainLink(e, head)
			if err != nil {
				return err
			}
			args = append(args, r.MeshID, r.Seq, msOf(r.At), r.Event, r.Actor, r.Details, r.PrevHash, r.Hash)
			head = AuditHead{Seq: r.Seq, Hash: r.Hash}
		}
		if err := t.bulk(t.ps.insertAudit, args, nil); err != nil {
			return err
		}
		if _, err := t.exec(t.ps.setAuditHead, meshID, head.Seq, head.Hash); err != nil {
			return err
		}
	}
	return nil
}

const sqliteAuditCols = `id, mesh_id, seq, at, event, actor, details, prev_hash, hash`

func (s *sqliteStore) queryAudit(ctx context.Context, q string, args ...any) ([]AuditRecord, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, sqliteErr("read audit", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.ID, &r.MeshID, &r.Seq, &at, &r.Event, &r.Actor, &r.Details, &r.PrevHash, &r.Hash); err != nil {
			return nil, sqliteErr("read audit", err)
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, sqliteErr("read audit", rows.Err())
}

func (s *sqliteStore) ListAudit(ctx context.Context, meshID string, before int64, limit int) ([]AuditRecord, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return s.queryAudit(ctx, `SELECT `+sqliteAuditCols+` FROM audit_log WHERE mesh_id = ? AND seq < ?
		ORDER BY seq DESC LIMIT ?`, meshID, before, limit)
}

func (s *sqliteStore) AuditAfter(ctx context.Context, meshID string, after int64, limit int) ([]AuditRecord, error) {
	return s.queryAudit(ctx, `SELECT `+sqliteAuditCols+` FROM audit_log WHERE mesh_id = ? AND seq > ?
		ORDER BY seq LIMIT ?`, meshID, after, limit)
}

func (s *sqliteStore) GetAuditHead(ctx context.Context, meshID string) (AuditHead, error) {
	var h AuditHead
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit_heads WHERE mesh_id = ?`, meshID).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditHead{Hash: AuditGenesis}, nil
	}
	return h, sqliteErr("audit head", err)
}
