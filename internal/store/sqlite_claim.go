package store

import (
	"context"
	"database/sql"
	"errors"
)

// ClaimInvite: the writer connection is the only one, so claims run one at
// a time here; the guarded update still decides, as on PostgreSQL.
func (s *sqliteStore) ClaimInvite(ctx context.Context, c Claim) (ClaimResult, error) {
	var res ClaimResult
	err := s.tx(ctx, "claim invite", func(tx *sql.Tx) error {
		var err error
		res, err = sqliteClaim(ctx, s.bind(ctx, tx), c)
		return err
	})
	if err != nil {
		return ClaimResult{}, err
	}
	return res, nil
}

func sqliteClaim(ctx context.Context, t *sqliteTx, c Claim) (ClaimResult, error) {
	tx := t.tx
	var res ClaimResult
	q, arg := `SELECT `+sqliteInviteCols+` FROM invite WHERE code = ?`, c.Code
	if c.TokenHash != "" {
		q, arg = `SELECT `+sqliteInviteCols+` FROM invite WHERE token_hash = ?`, c.TokenHash
	}
	inv, err := scanSQLiteInvite(tx.QueryRowContext(ctx, q, arg))
	if err != nil {
		return res, err
	}
	var mesh Mesh
	var created int64
	var archived sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT id, name, slug, owner_pubkey, root_key, created_at, archived_at
		FROM meshes WHERE id = ?`, inv.MeshID).
		Scan(&mesh.ID, &mesh.Name, &mesh.Slug, &mesh.OwnerPubkey, &mesh.RootKey, &created, &archived); err != nil {
		return res, err
	}
	mesh.CreatedAt, mesh.ArchivedAt = fromMS(created), fromNullMS(archived)
	if err := claimPrecheck(c, inv, mesh); err != nil {
		return res, err
	}
	res.Invite, res.Mesh = inv, mesh
	existing, err := scanSQLiteMember(tx.QueryRowContext(ctx, `SELECT `+sqliteMemberCols+` FROM members
		WHERE mesh_id = ? AND pubkey = ? AND revoked_at IS NULL`, mesh.ID, c.PeerPubkey))
	switch {
	case err == nil:
		res.Member, res.Existing = existing, true
		return res, lifecycleBeforeUse(inv, c)
	case !errors.Is(err, sql.ErrNoRows):
		return res, err
	}
	if err := lifecycleBeforeUse(inv, c); err != nil {
		return res, err
	}
	// The guarded update decides: a use is taken only while one is left.
	r, err := tx.ExecContext(ctx, `UPDATE invite SET used_count = used_count + 1, claimed_by_pubkey = ?
		WHERE id = ? AND used_count < max_uses`, c.ClaimedBy, inv.ID)
	if err != nil {
		return res, err
	}
	if n, err := r.RowsAffected(); err != nil || n != 1 {
		return res, errors.Join(ErrInviteExhausted, err)
	}
	res.Invite.UsedCount++
	res.Member = claimMember(c, inv)
	if err := sqliteInsertMember(ctx, tx, res.Member); err != nil {
		return res, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE pending_invite SET accepted_at = ?
		WHERE invite_id = ? AND accepted_at IS NULL AND revoked_at IS NULL`, msOf(c.Now), inv.ID); err != nil {
		return res, err
	}
	pending, err := pendingAudits(claimAudit(c, inv, res.Member))
	if err != nil {
		return res, err
	}
	return res, t.appendAudit(pending)
}
