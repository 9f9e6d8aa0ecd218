package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func (s *pgStore) CreateMesh(ctx context.Context, m Mesh) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO meshes
		(id, name, slug, owner_pubkey, root_key, created_at, archived_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		m.ID, m.Name, m.Slug, m.OwnerPubkey, nilIfEmpty(m.RootKey), toMS(m.CreatedAt), toMSPtr(m.ArchivedAt))
	return pgErr("create mesh", err)
}

func (s *pgStore) GetMesh(ctx context.Context, id string) (Mesh, error) {
	var m Mesh
	err := s.pool.QueryRow(ctx, `SELECT id, name, slug, owner_pubkey, root_key, created_at, archived_at
		FROM meshes WHERE id = $1`, id).
		Scan(&m.ID, &m.Name, &m.Slug, &m.OwnerPubkey, &m.RootKey, &m.CreatedAt, &m.ArchivedAt)
	if err != nil {
		return Mesh{}, pgErr("get mesh", err)
	}
	m.CreatedAt, m.ArchivedAt = m.CreatedAt.UTC(), utcPtr(m.ArchivedAt)
	return m, nil
}

func (s *pgStore) AddMember(ctx context.Context, m Member) error {
	groups, err := encodeGroups(m.Groups)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO members
		(id, mesh_id, pubkey, display_name, role, groups, joined_at, revoked_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)`,
		m.ID, m.MeshID, m.Pubkey, m.DisplayName, m.Role, groups,
		toMS(m.JoinedAt), toMSPtr(m.RevokedAt), toMS(addedAt(m)))
	return pgErr("add member", err)
}

const pgMemberCols = `id, mesh_id, pubkey, display_name, role, groups::text, joined_at, revoked_at, updated_at`

func scanPGMember(row pgx.Row) (Member, error) {
	var m Member
	var groups string
	if err := row.Scan(&m.ID, &m.MeshID, &m.Pubkey, &m.DisplayName, &m.Role, &groups,
		&m.JoinedAt, &m.RevokedAt, &m.UpdatedAt); err != nil {
		return Member{}, err
	}
	g, err := decodeGroups([]byte(groups))
	if err != nil {
		return Member{}, err
	}
	m.Groups, m.JoinedAt, m.RevokedAt, m.UpdatedAt = g, m.JoinedAt.UTC(), utcPtr(m.RevokedAt), m.UpdatedAt.UTC()
	return m, nil
}

func (s *pgStore) GetMember(ctx context.Context, meshID, memberID string) (Member, error) {
	m, err := scanPGMember(s.pool.QueryRow(ctx,
		`SELECT `+pgMemberCols+` FROM members WHERE id = $1 AND mesh_id = $2`, memberID, meshID))
	return m, pgErr("get member", err)
}

func (s *pgStore) ListMembers(ctx context.Context, meshID string) ([]Member, error) {
	return s.queryMembers(ctx, "list members",
		`SELECT `+pgMemberCols+` FROM members WHERE mesh_id = $1 ORDER BY joined_at, id COLLATE "C"`, meshID)
}

func (s *pgStore) MembersChangedSince(ctx context.Context, since time.Time) ([]Member, error) {
	return s.queryMembers(ctx, "members changed since",
		`SELECT `+pgMemberCols+` FROM members WHERE updated_at >= $1 ORDER BY updated_at, id COLLATE "C"`, toMS(since))
}

func (s *pgStore) queryMembers(ctx context.Context, op, q string, args ...any) ([]Member, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, pgErr(op, err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		m, err := scanPGMember(rows)
		if err != nil {
			return nil, pgErr(op, err)
		}
		out = append(out, m)
	}
	return out, pgErr(op, rows.Err())
}

func (s *pgStore) RevokeMember(ctx context.Context, meshID, memberID string, at time.Time) (Member, error) {
	// COALESCE keeps the first revocation time. updated_at strictly grows,
	// even within one millisecond or under a clock step back, so pollers
	// never mistake the change for one they have already applied.
	m, err := scanPGMember(s.pool.QueryRow(ctx, `UPDATE members
		SET revoked_at = COALESCE(revoked_at, $1), updated_at = GREATEST(updated_at + interval '1 millisecond', $1)
		WHERE id = $2 AND mesh_id = $3 RETURNING `+pgMemberCols, toMS(at), memberID, meshID))
	return m, pgErr("revoke member", err)
}

func (s *pgStore) SetMemberGroups(ctx context.Context, meshID, memberID string, groups []Group) error {
	g, err := encodeGroups(groups)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE members SET groups = $1::jsonb, updated_at = GREATEST(updated_at + interval '1 millisecond', $2)
		WHERE id = $3 AND mesh_id = $4`, g, toMS(time.Now()), memberID, meshID)
	return pgErr("set member groups", pgAffectedOne(tag, err))
}

func (s *pgStore) InsertPresence(ctx context.Context, p Presence) error {
	st, groups, caps, err := presenceExtras(p)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO presences
		(id, mesh_id, member_id, session_id, session_pubkey, node_id, display_name, pid, cwd,
		 hostname, peer_type, channel, model, ephemeral, connected_at, ended_at,
		 status, status_source, summary, groups, capabilities)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20::jsonb, $21::jsonb)`,
		p.ID, p.MeshID, p.MemberID, p.SessionID, p.SessionPubkey, p.NodeID, p.DisplayName, p.PID, p.CWD,
		p.Hostname, p.PeerType, p.Channel, p.Model, p.Ephemeral, toMS(p.ConnectedAt), toMSPtr(p.EndedAt),
		st.Status, st.StatusSource, st.Summary, groups, caps)
	return pgErr("insert presence", err)
}

// EndPresence keeps the first end time; ErrNotFound for an unknown presence.
func (s *pgStore) EndPresence(ctx context.Context, presenceID string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE presences SET ended_at = COALESCE(ended_at, $1) WHERE id = $2`,
		toMS(at), presenceID)
	return pgErr("end presence", pgAffectedOne(tag, err))
}

func pgAffectedOne(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
