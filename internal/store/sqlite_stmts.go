package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// sqliteStmts are the writer's hot statements, prepared once on its single
// connection: re-parsing multi-row SQL per batch cost more than running it. Inside a transaction they are used
// through tx.StmtContext, which reuses the connection's prepared handle.
type sqliteStmts struct {
	insertMessages   *sqliteBulkInsert // RETURNING id, seq
	insertDeliveries *sqliteBulkInsert
	insertAudit      *sqliteBulkInsert
	keyHolders       *sqliteBulkInsert // a VALUES list of (sender, key), not an insert
	clearKey         *sql.Stmt
	auditHead        *sql.Stmt
	meshExists       *sql.Stmt
	setAuditHead     *sql.Stmt
	markDelivered    *sql.Stmt
	// The hello path (quality.md P5): one presence row and one queue claim
	// per session start.
	insertPresence *sql.Stmt
	claimRows      *sql.Stmt
	dropClaimed    *sql.Stmt
}

func prepareSQLiteStmts(ctx context.Context, w *sql.DB) (*sqliteStmts, error) {
	ps := &sqliteStmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&ps.clearKey, `UPDATE messages SET client_message_id = NULL WHERE seq = ?`},
		{&ps.auditHead, `SELECT seq, hash FROM audit_heads WHERE mesh_id = ?`},
		{&ps.meshExists, `SELECT 1 FROM meshes WHERE id = ?`},
		{&ps.markDelivered, `UPDATE deliveries SET status = 'delivered', delivered_at = ?
			WHERE status = 'pending' AND member_id = ? AND session_id = ?
			  AND message_seq = (SELECT seq FROM messages WHERE id = ?)`},
		{&ps.insertPresence, `INSERT INTO presences
			(id, mesh_id, member_id, session_id, session_pubkey, node_id, display_name, pid, cwd,
			 hostname, peer_type, channel, model, ephemeral, connected_at, ended_at,
			 status, status_source, summary, groups, capabilities)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&ps.claimRows, `UPDATE deliveries AS d SET session_id = ?4
			WHERE ` + claimFilter + ` AND NOT ` + sessionRowExists},
		{&ps.dropClaimed, `DELETE FROM deliveries AS d WHERE ` + claimFilter + ` AND ` + sessionRowExists},
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
	for _, b := range []struct {
		dst        **sqliteBulkInsert
		head, tail string
		cols       int
	}{
		{&ps.insertMessages, `INSERT INTO messages
			(id, mesh_id, sender_member_id, sender_session_id, sender_pubkey, sender_member_pubkey,
			 sender_name, client_message_id, target_spec, priority, kind, grp, enc, nonce, ciphertext,
			 recipient_count, created_at, expires_at) VALUES `, ` RETURNING id, seq`, 18},
		{&ps.insertDeliveries, `INSERT INTO deliveries
			(message_seq, member_id, session_id, pinned, recipient_pubkey, recipient_name) VALUES `, ``, 6},
		{&ps.insertAudit, `INSERT INTO audit_log (mesh_id, seq, at, event, actor, details, prev_hash, hash) VALUES `, ``, 8},
		{&ps.keyHolders, `WITH k(s, c) AS (VALUES `, `)
			SELECT m.sender_member_id, m.client_message_id, m.seq, m.id, m.created_at, m.recipient_count
			FROM k JOIN messages m ON m.sender_member_id = k.s AND m.client_message_id = k.c
			WHERE m.client_message_id IS NOT NULL`, 2},
	} {
		bi, err := prepareSQLiteBulk(ctx, w, b.head, b.tail, b.cols)
		if err != nil {
			ps.close()
			return nil, err
		}
		*b.dst = bi
	}
	return ps, nil
}

func (ps *sqliteStmts) close() error {
	errs := []error{ps.insertMessages.close(), ps.insertDeliveries.close(), ps.insertAudit.close(), ps.keyHolders.close()}
	for _, st := range []*sql.Stmt{ps.clearKey, ps.auditHead, ps.meshExists, ps.setAuditHead, ps.markDelivered,
		ps.insertPresence, ps.claimRows, ps.dropClaimed} {
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
		t.bound = make(map[*sql.Stmt]*sql.Stmt, 8)
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

// sqliteReadStmts are the hello path's reads, prepared on the reader pool:
// database/sql prepares each once per connection and keeps it.
type sqliteReadStmts struct {
	getMember         *sql.Stmt
	hasClaimable      *sql.Stmt
	pendingForSession *sql.Stmt
}

func prepareSQLiteReadStmts(ctx context.Context, r *sql.DB) (*sqliteReadStmts, error) {
	rs := &sqliteReadStmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&rs.getMember, `SELECT ` + sqliteMemberCols + ` FROM members WHERE id = ? AND mesh_id = ?`},
		{&rs.hasClaimable, `SELECT EXISTS (SELECT 1 FROM deliveries AS d WHERE ` + claimFilter + `)`},
		{&rs.pendingForSession, `SELECT m.seq, m.id, m.mesh_id, d.member_id, d.session_id, d.pinned,
			m.sender_pubkey, m.sender_member_pubkey, m.sender_name, m.priority, m.kind, m.grp, m.enc,
			m.nonce, m.ciphertext, m.created_at, m.expires_at
			FROM deliveries d JOIN messages m ON m.seq = d.message_seq
			WHERE d.member_id = ? AND d.session_id = ? AND d.status = 'pending'
			  AND m.mesh_id = ? AND m.expires_at > ? AND d.message_seq > ?
			ORDER BY d.message_seq LIMIT ?`},
	} {
		st, err := r.PrepareContext(ctx, p.q)
		if err != nil {
			rs.close()
			return nil, fmt.Errorf("store: sqlite: prepare: %w", err)
		}
		*p.dst = st
	}
	return rs, nil
}

func (rs *sqliteReadStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{rs.getMember, rs.hasClaimable, rs.pendingForSession} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
