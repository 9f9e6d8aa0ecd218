package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

func (s *sqliteStore) CreateMeshWithMember(ctx context.Context, m Mesh, first Member) error {
	return s.tx(ctx, "create mesh", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meshes
			(id, name, slug, owner_pubkey, root_key, created_at, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.Name, m.Slug, m.OwnerPubkey, nilIfEmpty(m.RootKey), msOf(m.CreatedAt), msPtrOf(m.ArchivedAt)); err != nil {
			return err
		}
		return sqliteInsertMember(ctx, tx, first)
	})
}

func sqliteInsertMember(ctx context.Context, tx *sql.Tx, m Member) error {
	groups, err := encodeGroups(m.Groups)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO members
		(id, mesh_id, pubkey, display_name, role, groups, joined_at, revoked_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.MeshID, m.Pubkey, m.DisplayName, m.Role, groups, msOf(m.JoinedAt), msPtrOf(m.RevokedAt), msOf(addedAt(m)))
	return err
}

func (s *sqliteStore) RenameMesh(ctx context.Context, meshID, name, slug string) (Mesh, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE meshes SET name = ?, slug = ? WHERE id = ?`, name, slug, meshID)
	if err := affectedOne(res, err); err != nil {
		return Mesh{}, sqliteErr("rename mesh", err)
	}
	return s.GetMesh(ctx, meshID)
}

func (s *sqliteStore) MembersLastSeen(ctx context.Context, meshID string) (map[string]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT member_id, MAX(MAX(connected_at, COALESCE(ended_at, 0)))
		FROM presences WHERE mesh_id = ? GROUP BY member_id`, meshID)
	if err != nil {
		return nil, sqliteErr("members last seen", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, sqliteErr("members last seen", err)
		}
		out[id] = fromMS(at)
	}
	return out, sqliteErr("members last seen", rows.Err())
}

func (s *sqliteStore) CreateInvite(ctx context.Context, inv Invite, email *PendingInvite) error {
	capability, err := capabilityJSON(inv)
	if err != nil {
		return err
	}
	return s.tx(ctx, "create invite", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO invite (id, mesh_id, code, version, role, max_uses,
			used_count, expires_at, revoked_at, created_by, inviter_name, created_at, capability_v2,
			token_hash, token_sealed, claimed_by_pubkey, preset)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inv.ID, inv.MeshID, nullIfEmpty(inv.Code), inv.Version, inv.Role, inv.MaxUses, inv.UsedCount,
			msOf(inv.ExpiresAt), msPtrOf(inv.RevokedAt), inv.CreatedBy, inv.InviterName, msOf(inv.CreatedAt),
			capability, nullIfEmpty(inv.TokenHash), nilIfEmpty(inv.TokenSealed), nullIfEmpty(inv.ClaimedByPubkey),
			presetOrEmpty(inv.Preset)); err != nil {
			return err
		}
		if email == nil {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pending_invite (id, mesh_id, invite_id, email, code,
			sent_at, send_error, accepted_at, revoked_at, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			email.ID, email.MeshID, email.InviteID, email.Email, email.Code, msPtrOf(email.SentAt), email.SendError,
			msPtrOf(email.AcceptedAt), msPtrOf(email.RevokedAt), email.CreatedBy, msOf(email.CreatedAt))
		return err
	})
}

const sqliteInviteCols = `id, mesh_id, code, version, role, max_uses, used_count, expires_at, revoked_at,
	created_by, inviter_name, created_at, capability_v2, token_hash, token_sealed, claimed_by_pubkey, preset`

func scanSQLiteInvite(row interface{ Scan(...any) error }) (Invite, error) {
	var inv Invite
	var code, capability, tokenHash, claimedBy sql.NullString
	var expires, created int64
	var revoked sql.NullInt64
	if err := row.Scan(&inv.ID, &inv.MeshID, &code, &inv.Version, &inv.Role, &inv.MaxUses, &inv.UsedCount,
		&expires, &revoked, &inv.CreatedBy, &inv.InviterName, &created, &capability, &tokenHash,
		&inv.TokenSealed, &claimedBy, &inv.Preset); err != nil {
		return Invite{}, err
	}
	inv.Code, inv.TokenHash, inv.ClaimedByPubkey = code.String, tokenHash.String, claimedBy.String
	inv.ExpiresAt, inv.RevokedAt, inv.CreatedAt = fromMS(expires), fromNullMS(revoked), fromMS(created)
	parseCapability(&inv, capability.String)
	return inv, nil
}

func (s *sqliteStore) GetInvite(ctx context.Context, id string) (Invite, error) {
	inv, err := scanSQLiteInvite(s.r.QueryRowContext(ctx, `SELECT `+sqliteInviteCols+` FROM invite WHERE id = ?`, id))
	return inv, sqliteErr("get invite", err)
}

func (s *sqliteStore) GetInviteByCode(ctx context.Context, code string) (Invite, error) {
	inv, err := scanSQLiteInvite(s.r.QueryRowContext(ctx, `SELECT `+sqliteInviteCols+` FROM invite WHERE code = ?`, code))
	return inv, sqliteErr("get invite by code", err)
}

func (s *sqliteStore) ListInvites(ctx context.Context, meshID string) ([]InviteListing, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteInviteCols+` FROM invite WHERE mesh_id = ?
		ORDER BY created_at DESC, id DESC`, meshID)
	if err != nil {
		return nil, sqliteErr("list invites", err)
	}
	var out []InviteListing
	index := map[string]int{}
	for rows.Next() {
		inv, err := scanSQLiteInvite(rows)
		if err != nil {
			rows.Close()
			return nil, sqliteErr("list invites", err)
		}
		index[inv.ID] = len(out)
		out = append(out, InviteListing{Invite: inv})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, sqliteErr("list invites", err)
	}
	emails, err := s.r.QueryContext(ctx, `SELECT `+pendingCols+` FROM pending_invite WHERE mesh_id = ?
		ORDER BY created_at, id`, meshID)
	if err != nil {
		return nil, sqliteErr("list invites", err)
	}
	defer emails.Close()
	for emails.Next() {
		p, err := scanSQLitePending(emails)
		if err != nil {
			return nil, sqliteErr("list invites", err)
		}
		if i, ok := index[p.InviteID]; ok {
			out[i].Emails = append(out[i].Emails, p)
		}
	}
	return out, sqliteErr("list invites", emails.Err())
}

const pendingCols = `id, mesh_id, invite_id, email, code, sent_at, send_error, accepted_at, revoked_at, created_by, created_at`

func scanSQLitePending(row interface{ Scan(...any) error }) (PendingInvite, error) {
	var p PendingInvite
	var sent, accepted, revoked sql.NullInt64
	var created int64
	if err := row.Scan(&p.ID, &p.MeshID, &p.InviteID, &p.Email, &p.Code, &sent, &p.SendError,
		&accepted, &revoked, &p.CreatedBy, &created); err != nil {
		return PendingInvite{}, err
	}
	p.SentAt, p.AcceptedAt, p.RevokedAt, p.CreatedAt = fromNullMS(sent), fromNullMS(accepted), fromNullMS(revoked), fromMS(created)
	return p, nil
}

func (s *sqliteStore) RevokeInvite(ctx context.Context, meshID, inviteID string, at time.Time) (Invite, error) {
	var inv Invite
	err := s.tx(ctx, "revoke invite", func(tx *sql.Tx) error {
		var err error
		inv, err = scanSQLiteInvite(tx.QueryRowContext(ctx, `UPDATE invite SET revoked_at = COALESCE(revoked_at, ?)
			WHERE id = ? AND mesh_id = ? RETURNING `+sqliteInviteCols, msOf(at), inviteID, meshID))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE pending_invite SET revoked_at = COALESCE(revoked_at, ?)
			WHERE invite_id = ? AND accepted_at IS NULL`, msOf(at), inviteID)
		return err
	})
	return inv, err
}

func (s *sqliteStore) SetEmailSent(ctx context.Context, pendingID string, at time.Time, sendErr string) error {
	var sent any
	if sendErr == "" {
		sent = msOf(at)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE pending_invite SET sent_at = COALESCE(?, sent_at), send_error = ?
		WHERE id = ?`, sent, sendErr, pendingID)
	return sqliteErr("set email sent", affectedOne(res, err))
}

// capabilityJSON is the capability_v2 column: NULL for a v1 invite.
func capabilityJSON(inv Invite) (any, error) {
	if inv.CapabilityCanonical == "" && inv.CapabilitySignature == "" {
		return nil, nil
	}
	b, err := json.Marshal(map[string]string{"canonical": inv.CapabilityCanonical, "signature": inv.CapabilitySignature})
	if err != nil {
		return nil, fmt.Errorf("store: capability: %w", err)
	}
	return string(b), nil
}

func parseCapability(inv *Invite, raw string) {
	var c struct{ Canonical, Signature string }
	// A damaged row leaves the fields empty, so it cannot verify.
	if raw != "" && json.Unmarshal([]byte(raw), &c) == nil {
		inv.CapabilityCanonical, inv.CapabilitySignature = c.Canonical, c.Signature
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func presetOrEmpty(p string) string {
	if p == "" {
		return "{}"
	}
	return p
}
