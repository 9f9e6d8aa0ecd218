package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// sqliteStmts are the writer's hot statements, prepared once on its single
// connection: the message path runs them once per row, and re-parsing SQL
// per batch cost more than executing it. Inside a transaction they are used
// through tx.StmtContext, which reuses the connection's prepared handle.
type sqliteStmts struct {
	insertMessage  *sql.Stmt
	insertDelivery *sql.Stmt
	keyHolder      *sql.Stmt
	clearKey       *sql.Stmt
	auditHead      *sql.Stmt
	meshExists     *sql.Stmt
	insertAudit    *sql.Stmt
	setAuditHead   *sql.Stmt
}

func prepareSQLiteStmts(ctx context.Context, w *sql.DB) (*sqliteStmts, error) {
	ps := &sqliteStmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&ps.insertMessage, `INSERT INTO messages
			(id, mesh_id, sender_member_id, sender_session_id, sender_pubkey, sender_member_pubkey,
			 sender_name, client_message_id, target_spec, priority, kind, grp, enc, nonce, ciphertext,
			 recipient_count, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&ps.insertDelivery, `INSERT INTO deliveries
			(message_seq, member_id, session_id, pinned, recipient_pubkey, recipient_name) VALUES (?, ?, ?, ?, ?, ?)`},
		{&ps.keyHolder, `SELECT seq, id, created_at, recipient_count FROM messages
			WHERE sender_member_id = ? AND client_message_id = ?`},
		{&ps.clearKey, `UPDATE messages SET client_message_id = NULL WHERE seq = ?`},
		{&ps.auditHead, `SELECT seq, hash FROM audit_heads WHERE mesh_id = ?`},
		{&ps.meshExists, `SELECT 1 FROM meshes WHERE id = ?`},
		{&ps.insertAudit, `INSERT INTO audit_log (mesh_id, seq, at, event, actor, details, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&ps.setAuditHead, `INSERT INTO audit_heads (mesh_id, seq, hash) VALUES (?, ?, ?)
			ON CONFLICT (mesh_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`},
	} {
		st, err := w.PrepareContext(ctx, p.q)
		if err != nil {
			ps.close()
			return nil, fmt.Errorf("store: sqlite: prepare: %w", err)
		}
		*p.dst = st
	}
	return ps, nil
}

func (ps *sqliteStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{ps.insertMessage, ps.insertDelivery, ps.keyHolder, ps.clearKey,
		ps.auditHead, ps.meshExists, ps.insertAudit, ps.setAuditHead} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// sqliteTx is a write transaction with the prepared statements bound to it
// lazily (binding allocates, and not every transaction needs every one).
type sqliteTx struct {
	ctx   context.Context
	tx    *sql.Tx
	ps    *sqliteStmts
	bound map[*sql.Stmt]*sql.Stmt
}

// bind runs the statements without ctx's cancellation: the driver starts a
// watcher goroutine per statement for a cancellable context, which cost
// more than the statements themselves. Each one takes microseconds, and the
// transaction still ends with ctx (database/sql rolls it back and later
// statements fail).
func (s *sqliteStore) bind(ctx context.Context, tx *sql.Tx) *sqliteTx {
	return &sqliteTx{ctx: context.WithoutCancel(ctx), tx: tx, ps: s.stmts}
}

func (t *sqliteTx) stmt(st *sql.Stmt) *sql.Stmt {
	if b, ok := t.bound[st]; ok {
		return b
	}
	if t.bound == nil {
		t.bound = make(map[*sql.Stmt]*sql.Stmt, 4)
	}
	b := t.tx.StmtContext(t.ctx, st)
	t.bound[st] = b
	return b
}

func (t *sqliteTx) exec(st *sql.Stmt, args ...any) (sql.Result, error) {
	return t.stmt(st).ExecContext(t.ctx, args...)
}

func (t *sqliteTx) queryRow(st *sql.Stmt, args ...any) *sql.Row {
	return t.stmt(st).QueryRowContext(t.ctx, args...)
}
