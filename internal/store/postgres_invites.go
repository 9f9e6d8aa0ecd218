package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) CreateMeshWithMember(ctx context.Context, m Mesh, first Member) error {
	return s.tx(ctx, "create mesh", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO meshes
			(id, name, slug, owner_pubkey, root_key, created_at, archived_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			m.ID, m.Name, m.Slug, m.OwnerPubkey, nilIfEmpty(m.RootKey), toMS(m.CreatedAt), toMSPtr(m.ArchivedAt)); err != nil {
			return err
		}
		return pgInsertMember(ctx, tx, first)
	})
}

func pgInsertMember(ctx context.Context, tx pgx.Tx, m Member) error {
	groups, err := encodeGroups(m.Groups)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO members
		(id, mesh_id, pubkey, display_name, role, groups, joined_at, revoked_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)`,
		m.ID, m.MeshID, m.Pubkey, m.DisplayName, m.Role, groups, toMS(m.JoinedAt), toMSPtr(m.RevokedAt), toMS(addedAt(m)))
	return err
}

func (s *pgStore) RenameMesh(ctx context.Context, meshID, name, slug string) (Mesh, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE meshes SET name = $1, slug = $2 WHERE id = $3`, name, slug, meshID)
	if err := pgAffectedOne(tag, err); err != nil {
		return Mesh{}, pgErr("rename mesh", err)
	}
	return s.GetMesh(ctx, meshID)
}

func (s *pgStore) MembersLastSeen(ctx context.Context, meshID string) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT member_id, MAX(GREATEST(connected_at, COALESCE(ended_at, connected_at)))
		FROM presences WHERE mesh_id = $1 GROUP BY member_id`, meshID)
	if err != nil {
		return nil, pgErr("members last seen", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, pgErr("members last seen", err)
		}
		out[id] = at.UTC()
	}
	return out, pgErr("members last seen", rows.Err())
}

func (s *pgStore) CreateInvite(ctx context.Context, inv Invite, email *PendingInvite) error {
	capability, err := capabilityJSON(inv)
	if err != nil {
		return err
	}
	return s.tx(ctx, "create invite", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO invite (id, mesh_id, code, version, role, max_uses,
			used_count, expires_at, revoked_at, created_by, inviter_name, created_at, capability_v2,
			token_hash, token_sealed, claimed_by_pubkey, preset)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			inv.ID, inv.MeshID, nullIfEmpty(inv.Code), inv.Version, inv.Role, inv.MaxUses, inv.UsedCount,
			toMS(inv.ExpiresAt), toMSPtr(inv.RevokedAt), inv.CreatedBy, inv.InviterName, toMS(inv.CreatedAt),
			capability, nullIfEmpty(inv.TokenHash), nilIfEmpty(inv.TokenSealed), nullIfEmpty(inv.ClaimedByPubkey),
			presetOrEmpty(inv.Preset)); err != nil {
			return err
		}
		if email == nil {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO pending_invite (id, mesh_id, invite_id, email, code,
			sent_at, send_error, accepted_at, revoked_at, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			email.ID, email.MeshID, email.InviteID, email.Email, email.Code, toMSPtr(email.SentAt), email.SendError,
			toMSPtr(email.AcceptedAt), toMSPtr(email.RevokedAt), email.CreatedBy, toMS(email.CreatedAt))
		return err
	})
}

const pgInviteCols = `id, mesh_id, code, version, role, max_uses, used_count, expires_at, revoked_at,
	created_by, inviter_name, created_at, capability_v2, token_hash, token_sealed, claimed_by_pubkey, preset`

func scanPGInvite(row pgx.Row) (Invite, error) {
	var inv Invite
	var code, capability, tokenHash, claimedBy *string
	if err := row.Scan(&inv.ID, &inv.MeshID, &code, &inv.Version, &inv.Role, &inv.MaxUses, &inv.UsedCount,
		&inv.ExpiresAt, &inv.RevokedAt, &inv.CreatedBy, &inv.InviterName, &inv.CreatedAt, &capability, &tokenHash,
		&inv.TokenSealed, &claimedBy, &inv.Preset); err != nil {
		return Invite{}, err
	}
	inv.Code, inv.TokenHash, inv.ClaimedByPubkey = deref(code), deref(tokenHash), deref(claimedBy)
	inv.ExpiresAt, inv.RevokedAt, inv.CreatedAt = inv.ExpiresAt.UTC(), utcPtr(inv.RevokedAt), inv.CreatedAt.UTC()
	parseCapability(&inv, deref(capability))
	return inv, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (s *pgStore) GetInvite(ctx context.Context, id string) (Invite, error) {
	inv, err := scanPGInvite(s.pool.QueryRow(ctx, `SELECT `+pgInviteCols+` FROM invite WHERE id = $1`, id))
	return inv, pgErr("get invite", err)
}

func (s *pgStore) GetInviteByCode(ctx context.Context, code string) (Invite, error) {
	inv, err := scanPGInvite(s.pool.QueryRow(ctx, `SELECT `+pgInviteCols+` FROM invite WHERE code = $1`, code))
	return inv, pgErr("get invite by code", err)
}

func (s *pgStore) ListInvites(ctx context.Context, meshID string) ([]InviteListing, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgInviteCols+` FROM invite WHERE mesh_id = $1
		ORDER BY created_at DESC, id COLLATE "C" DESC`, meshID)
	if err != nil {
		return nil, pgErr("list invites", err)
	}
	var out []InviteListing
	index := map[string]int{}
	for rows.Next() {
		inv, err := scanPGInvite(rows)
		if err != nil {
			rows.Close()
			return nil, pgErr("list invites", err)
		}
		index[inv.ID] = len(out)
		out = append(out, InviteListing{Invite: inv})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, pgErr("list invites", err)
	}
	emails, err := s.pool.Query(ctx, `SELECT `+pendingCols+` FROM pending_invite WHERE mesh_id = $1
		ORDER BY created_at, id COLLATE "C"`, meshID)
	if err != nil {
		return nil, pgErr("list invites", err)
	}
	defer emails.Close()
	for emails.Next() {
		var p PendingInvite
		if err := emails.Scan(&p.ID, &p.MeshID, &p.InviteID, &p.Email, &p.Code, &p.SentAt, &p.SendError,
			&p.AcceptedAt, &p.RevokedAt, &p.CreatedBy, &p.CreatedAt); err != nil {
			return nil, pgErr("list invites", err)
		}
		p.SentAt, p.AcceptedAt, p.RevokedAt, p.CreatedAt = utcPtr(p.SentAt), utcPtr(p.AcceptedAt), utcPtr(p.RevokedAt), p.CreatedAt.UTC()
		if i, ok := index[p.InviteID]; ok {
			out[i].Emails = append(out[i].Emails, p)
		}
	}
	return out, pgErr("list invites", emails.Err())
}

func (s *pgStore) RevokeInvite(ctx context.Context, meshID, inviteID string, at time.Time) (Invite, error) {
	var inv Invite
	err := s.tx(ctx, "revoke invite", func(tx pgx.Tx) error {
		var err error
		inv, err = scanPGInvite(tx.QueryRow(ctx, `UPDATE invite SET revoked_at = COALESCE(revoked_at, $1)
			WHERE id = $2 AND mesh_id = $3 RETURNING `+pgInviteCols, toMS(at), inviteID, meshID))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE pending_invite SET revoked_at = COALESCE(revoked_at, $1)
			WHERE invite_id = $2 AND accepted_at IS NULL`, toMS(at), inviteID)
		return err
	})
	return inv, err
}

func (s *pgStore) SetEmailSent(ctx context.Context, pendingID string, at time.Time, sendErr string) error {
	var sent *time.Time
	if sendErr == "" {
		t := toMS(at)
		sent = &t
	}
	tag, err := s.pool.Exec(ctx, `UPDATE pending_invite SET sent_at = COALESCE($1, sent_at), send_error = $2
		WHERE id = $3`, sent, sendErr, pendingID)
	return pgErr("set email sent", pgAffectedOne(tag, err))
}
