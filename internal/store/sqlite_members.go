package store

import (
	"context"
	"database/sql"
	"time"
)

func (s *sqliteStore) CreateMesh(ctx context.Context, m Mesh) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO meshes
		(id, name, slug, owner_pubkey, root_key, created_at, archived_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Name, m.Slug, m.OwnerPubkey, nilIfEmpty(m.RootKey), msOf(m.CreatedAt), msPtrOf(m.ArchivedAt))
	return sqliteErr("create mesh", err)
}

func (s *sqliteStore) GetMesh(ctx context.Context, id string) (Mesh, error) {
	var m Mesh
	var created int64
	var archived sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, name, slug, owner_pubkey, root_key, created_at, archived_at
		FROM meshes WHERE id = ?`, id).
		Scan(&m.ID, &m.Name, &m.Slug, &m.OwnerPubkey, &m.RootKey, &created, &archived)
	if err != nil {
		return Mesh{}, sqliteErr("get mesh", err)
	}
	m.CreatedAt, m.ArchivedAt = fromMS(created), fromNullMS(archived)
	return m, nil
}

func (s *sqliteStore) AddMember(ctx context.Context, m Member) error {
	groups, err := encodeGroups(m.Groups)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO members
		(id, mesh_id, pubkey, display_name, role, groups, joined_at, revoked_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.MeshID, m.Pubkey, m.DisplayName, m.Role, groups,
		msOf(m.JoinedAt), msPtrOf(m.RevokedAt), msOf(addedAt(m)))
	return sqliteErr("add member", err)
}

const sqliteMemberCols = `id, mesh_id, pubkey, display_name, role, groups, joined_at, revoked_at, updated_at`

func scanSQLiteMember(row interface{ Scan(...any) error }) (Member, error) {
	var m Member
	var groups []byte
	var joined, updated int64
	var revoked sql.NullInt64
	if err := row.Scan(&m.ID, &m.MeshID, &m.Pubkey, &m.DisplayName, &m.Role, &groups,
		&joined, &revoked, &updated); err != nil {
		return Member{}, err
	}
	g, err := decodeGroups(groups)
	if err != nil {
		return Member{}, err
	}
	m.Groups, m.JoinedAt, m.RevokedAt, m.UpdatedAt = g, fromMS(joined), fromNullMS(revoked), fromMS(updated)
	return m, nil
}

func (s *sqliteStore) GetMember(ctx context.Context, meshID, memberID string) (Member, error) {
	m, err := scanSQLiteMember(s.reads.getMember.QueryRowContext(ctx, memberID, meshID))
	return m, sqliteErr("get member", err)
}

func (s *sqliteStore) ListMembers(ctx context.Context, meshID string) ([]Member, error) {
	return s.queryMembers(ctx, "list members",
		`SELECT `+sqliteMemberCols+` FROM members WHERE mesh_id = ? ORDER BY joined_at, id`, meshID)
}

func (s *sqliteStore) MembersChangedSince(ctx context.Context, since time.Time) ([]Member, error) {
	return s.queryMembers(ctx, "members changed since",
		`SELECT `+sqliteMemberCols+` FROM members WHERE updated_at >= ? ORDER BY updated_at, id`, msOf(since))
}

func (s *sqliteStore) queryMembers(ctx context.Context, op, q string, args ...any) ([]Member, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, sqliteErr(op, err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		m, err := scanSQLiteMember(rows)
		if err != nil {
			return nil, sqliteErr(op, err)
		}
		out = append(out, m)
	}
	return out, sqliteErr(op, rows.Err())
}

func (s *sqliteStore) RevokeMember(ctx context.Context, meshID, memberID string, at time.Time) (Member, error) {
	// COALESCE keeps the first revocation time. updated_at strictly grows,
	// even within one millisecond or under a clock step back, so pollers
	// never mistake the change for one they have already applied.
	m, err := scanSQLiteMember(s.w.QueryRowContext(ctx, `UPDATE members
		SET revoked_at = COALESCE(revoked_at, ?1), updated_at = MAX(updated_at + 1, ?1)
		WHERE id = ?2 AND mesh_id = ?3 RETURNING `+sqliteMemberCols, msOf(at), memberID, meshID))
	return m, sqliteErr("revoke member", err)
}

func (s *sqliteStore) SetMemberGroups(ctx context.Context, meshID, memberID string, groups []Group) error {
	g, err := encodeGroups(groups)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE members SET groups = ?, updated_at = MAX(updated_at + 1, ?)
		WHERE id = ? AND mesh_id = ?`, g, msOf(time.Now()), memberID, meshID)
	return sqliteErr("set member groups", affectedOne(res, err))
}

func (s *sqliteStore) InsertPresence(ctx context.Context, p Presence) error {
	st, groups, caps, err := presenceExtras(p)
	if err != nil {
		return err
	}
	_, err = s.stmts.insertPresence.ExecContext(ctx,
		p.ID, p.MeshID, p.MemberID, p.SessionID, p.SessionPubkey, p.NodeID, p.DisplayName, p.PID, p.CWD,
		p.Hostname, p.PeerType, p.Channel, p.Model, p.Ephemeral, msOf(p.ConnectedAt), msPtrOf(p.EndedAt),
		st.Status, st.StatusSource, st.Summary, groups, caps)
	return sqliteErr("insert presence", err)
}

// EndPresence keeps the first end time; ErrNotFound for an unknown presence.
func (s *sqliteStore) EndPresence(ctx context.Context, presenceID string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE presences SET ended_at = COALESCE(ended_at, ?) WHERE id = ?`,
		msOf(at), presenceID)
	return sqliteErr("end presence", affectedOne(res, err))
}
