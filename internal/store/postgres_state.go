package store

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
)

const pgStateCols = `mesh_id, key, value, updated_by, version, updated_at`

func scanPGState(row pgx.Row) (StateEntry, error) {
	var e StateEntry
	if err := row.Scan(&e.MeshID, &e.Key, &e.Value, &e.UpdatedBy, &e.Version, &e.UpdatedAt); err != nil {
		return StateEntry{}, err
	}
	e.UpdatedAt = e.UpdatedAt.UTC()
	return e, nil
}

// SetState is one statement. Under READ COMMITTED a concurrent conditional
// UPDATE waits for the first writer and then re-checks the version against
// the new row, so only one of two writers with the same ifVersion matches.
func (s *pgStore) SetState(ctx context.Context, e StateEntry, ifVersion *int64) (StateEntry, error) {
	args := []any{e.MeshID, e.Key, e.Value, e.UpdatedBy, toMS(e.UpdatedAt)}
	var q string
	switch {
	case ifVersion == nil:
		q = `INSERT INTO state (mesh_id, key, value, updated_by, version, updated_at) VALUES ($1, $2, $3, $4, 1, $5)
			ON CONFLICT (mesh_id, key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by,
			version = state.version + 1, updated_at = excluded.updated_at`
	case *ifVersion == 0:
		q = `INSERT INTO state (mesh_id, key, value, updated_by, version, updated_at) VALUES ($1, $2, $3, $4, 1, $5)
			ON CONFLICT (mesh_id, key) DO NOTHING`
	default:
		q = `UPDATE state SET value = $3, updated_by = $4, version = version + 1, updated_at = $5
			WHERE mesh_id = $1 AND key = $2 AND version = $6`
		args = append(args, *ifVersion)
	}
	var out StateEntry
	err := s.retry(ctx, "set state", func() error {
		var err error
		out, err = scanPGState(s.pool.QueryRow(ctx, q+` RETURNING `+pgStateCols, args...))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrConflict
		}
		return err
	})
	return out, err
}

func (s *pgStore) GetState(ctx context.Context, meshID, key string) (StateEntry, error) {
	e, err := scanPGState(s.pool.QueryRow(ctx,
		`SELECT `+pgStateCols+` FROM state WHERE mesh_id = $1 AND key = $2`, meshID, key))
	return e, pgErr("get state", err)
}

func (s *pgStore) ListState(ctx context.Context, meshID string) ([]StateEntry, error) {
	// COLLATE "C" sorts by bytes, like SQLite.
	rows, err := s.pool.Query(ctx, `SELECT `+pgStateCols+` FROM state WHERE mesh_id = $1 ORDER BY key COLLATE "C"`, meshID)
	if err != nil {
		return nil, pgErr("list state", err)
	}
	defer rows.Close()
	out := []StateEntry{}
	for rows.Next() {
		e, err := scanPGState(rows)
		if err != nil {
			return nil, pgErr("list state", err)
		}
		out = append(out, e)
	}
	return out, pgErr("list state", rows.Err())
}

func (s *pgStore) DeleteState(ctx context.Context, meshID, key string) (StateEntry, error) {
	e, err := scanPGState(s.pool.QueryRow(ctx,
		`DELETE FROM state WHERE mesh_id = $1 AND key = $2 RETURNING `+pgStateCols, meshID, key))
	return e, pgErr("delete state", err)
}

func (s *pgStore) Remember(ctx context.Context, m Memory) error {
	tags, err := encodeTags(m.Tags)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO memories (id, mesh_id, content, tags, tags_text, remembered_by, remembered_at)
		VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
		m.ID, m.MeshID, m.Content, tags, tagsText(m.Tags), m.RememberedBy, toMS(m.RememberedAt))
	return pgErr("remember", err)
}

// Recall ORs the query's words into a tsquery (the GIN index serves @@) and
// ranks with ts_rank, where tags (weight A) count more than content (B).
func (s *pgStore) Recall(ctx context.Context, meshID, query string, limit int) ([]Memory, error) {
	terms := searchTerms(query)
	if len(terms) == 0 {
		return []Memory{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, mesh_id, content, tags::text, remembered_by, remembered_at,
			ts_rank(search, q)::float8 AS rank
		FROM memories, to_tsquery('english', $2) q
		WHERE mesh_id = $1 AND search @@ q
		ORDER BY rank DESC, remembered_at DESC, id LIMIT $3`,
		meshID, strings.Join(terms, " | "), limit)
	if err != nil {
		return nil, pgErr("recall", err)
	}
	defer rows.Close()
	out := []Memory{}
	for rows.Next() {
		var m Memory
		var tags string
		if err := rows.Scan(&m.ID, &m.MeshID, &m.Content, &tags, &m.RememberedBy, &m.RememberedAt, &m.Rank); err != nil {
			return nil, pgErr("recall", err)
		}
		if m.Tags, err = decodeTags([]byte(tags)); err != nil {
			return nil, err
		}
		m.RememberedAt = m.RememberedAt.UTC()
		out = append(out, m)
	}
	return out, pgErr("recall", rows.Err())
}

func (s *pgStore) Forget(ctx context.Context, meshID, id string) error {
	res, err := s.pool.Exec(ctx, `DELETE FROM memories WHERE id = $1 AND mesh_id = $2`, id, meshID)
	if err == nil && res.RowsAffected() == 0 {
		err = ErrNotFound
	}
	return pgErr("forget", err)
}
