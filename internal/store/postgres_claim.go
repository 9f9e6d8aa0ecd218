package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// ClaimInvite: concurrent claims of one invite queue on the row lock of the
// guarded update; at READ COMMITTED each re-checks used_count < max_uses
// against the committed count, so exactly max_uses of them succeed. A
// same-key race that loses on the members unique index is retried once and
// then finds the member the winner created.
func (s *pgStore) ClaimInvite(ctx context.Context, c Claim) (ClaimResult, error) {
	var res ClaimResult
	run := func() error {
		return s.tx(ctx, "claim invite", func(tx pgx.Tx) error {
			var err error
			res, err = pgClaim(ctx, tx, c)
			return err
		})
	}
	err := run()
	if errors.Is(err, ErrConflict) {
		err = run()
	}
	if err != nil {
		return ClaimResult{}, err
	}
	return res, nil
}

func pgClaim(ctx context.Context, tx pgx.Tx, c Claim) (ClaimResult, error) {
	var res ClaimResult
	q, arg := `SELECT `+pgInviteCols+` FROM invite WHERE code = $1`, c.Code
	if c.TokenHash != "" {
		q, arg = `SELECT `+pgInviteCols+` FROM invite WHERE token_hash = $1`, c.TokenHash
	}
	inv, err := scanPGInvite(tx.QueryRow(ctx, q, arg))
	if err != nil {
		return res, err
	}
	var mesh Mesh
	if err := tx.QueryRow(ctx, `SELECT id, name, slug, owner_pubkey, root_key, created_at, archived_at
		FROM meshes WHERE id = $1`, inv.MeshID).
		Scan(&mesh.ID, &mesh.Name, &mesh.Slug, &mesh.OwnerPubkey, &mesh.RootKey, &mesh.CreatedAt, &mesh.ArchivedAt); err != nil {
		return res, err
	}
	mesh.CreatedAt, mesh.ArchivedAt = mesh.CreatedAt.UTC(), utcPtr(mesh.ArchivedAt)
	if err := claimPrecheck(c, inv, mesh); err != nil {
		return res, err
	}
	res.Invite, res.Mesh = inv, mesh
	existing, err := scanPGMember(tx.QueryRow(ctx, `SELECT `+pgMemberCols+` FROM members
		WHERE mesh_id = $1 AND pubkey = $2 AND revoked_at IS NULL`, mesh.ID, c.PeerPubkey))
	switch {
	case err == nil:
		res.Member, res.Existing = existing, true
		return res, lifecycleBeforeUse(inv, c)
	case !errors.Is(err, pgx.ErrNoRows):
		return res, err
	}
	if err := lifecycleBeforeUse(inv, c); err != nil {
		return res, err
	}
	// The guarded update decides: a use is taken only while one is left and
	// the invite is not revoked. At READ COMMITTED it re-reads the row after
	// waiting for a concurrent revoke, so a revoke that returned first wins.
	tag, err := tx.Exec(ctx, `UPDATE invite SET used_count = used_count + 1, claimed_by_pubkey = $1
		WHERE id = $2 AND used_count < max_uses AND revoked_at IS NULL`, c.ClaimedBy, inv.ID)
	if err != nil {
		return res, err
	}
	if tag.RowsAffected() != 1 {
		var revoked bool
		if err := tx.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM invite WHERE id = $1`, inv.ID).Scan(&revoked); err != nil {
			return res, err
		}
		if revoked {
			return res, ErrInviteRevoked
		}
		return res, ErrInviteExhausted
	}
	res.Invite.UsedCount++
	res.Member = claimMember(c, inv)
	if err := pgInsertMember(ctx, tx, res.Member); err != nil {
		return res, pgErr("claim invite", err) // maps a same-key race to ErrConflict
	}
	if _, err := tx.Exec(ctx, `UPDATE pending_invite SET accepted_at = $1
		WHERE invite_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL`, toMS(c.Now), inv.ID); err != nil {
		return res, err
	}
	return res, pgAppendAudit(ctx, tx, claimAudit(c, inv, res.Member))
}
