package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
)

const sqliteStateCols = `mesh_id, key, value, updated_by, version, updated_at`

func scanSQLiteState(row interface{ Scan(...any) error }) (StateEntry, error) {
	var e StateEntry
	var at int64
	if err := row.Scan(&e.MeshID, &e.Key, &e.Value, &e.UpdatedBy, &e.Version, &at); err != nil {
		return StateEntry{}, err
	}
	e.UpdatedAt = fromMS(at)
	return e, nil
}

// SetState is one statement on the single writer connection, so the version
// check and the write are atomic.
func (s *sqliteStore) SetState(ctx context.Context, e StateEntry, ifVersion *int64) (StateEntry, error) {
	args := []any{e.MeshID, e.Key, e.Value, e.UpdatedBy, msOf(e.UpdatedAt)}
	var q string
	switch {
	case ifVersion == nil:
		q = `INSERT INTO state (mesh_id, key, value, updated_by, version, updated_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)
			ON CONFLICT (mesh_id, key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by,
			version = state.version + 1, updated_at = excluded.updated_at`
	case *ifVersion == 0:
		q = `INSERT INTO state (mesh_id, key, value, updated_by, version, updated_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)
			ON CONFLICT (mesh_id, key) DO NOTHING`
	default:
		q = `UPDATE state SET value = ?3, updated_by = ?4, version = version + 1, updated_at = ?5
			WHERE mesh_id = ?1 AND key = ?2 AND version = ?6`
		args = append(args, *ifVersion)
	}
	out, err := scanSQLiteState(s.w.QueryRowContext(ctx, q+` RETURNING `+sqliteStateCols, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return StateEntry{}, sqliteErr("set state", ErrConflict)
	}
	return out, sqliteErr("set state", err)
}

func (s *sqliteStore) GetState(ctx context.Context, meshID, key string) (StateEntry, error) {
	e, err := scanSQLiteState(s.r.QueryRowContext(ctx,
		`SELECT `+sqliteStateCols+` FROM state WHERE mesh_id = ? AND key = ?`, meshID, key))
	return e, sqliteErr("get state", err)
}

func (s *sqliteStore) ListState(ctx context.Context, meshID string) ([]StateEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteStateCols+` FROM state WHERE mesh_id = ? ORDER BY key`, meshID)
	if err != nil {
		return nil, sqliteErr("list state", err)
	}
	defer rows.Close()
	out := []StateEntry{}
	for rows.Next() {
		e, err := scanSQLiteState(rows)
		if err != nil {
			return nil, sqliteErr("list state", err)
		}
		out = append(out, e)
	}
	return out, sqliteErr("list state", rows.Err())
}

func (s *sqliteStore) DeleteState(ctx context.Context, meshID, key string) (StateEntry, error) {
	e, err := scanSQLiteState(s.w.QueryRowContext(ctx,
		`DELETE FROM state WHERE mesh_id = ? AND key = ? RETURNING `+sqliteStateCols, meshID, key))
	return e, sqliteErr("delete state", err)
}

// Remember writes the memory and its full-text row in one transaction.
func (s *sqliteStore) Remember(ctx context.Context, m Memory) error {
	tags, err := encodeTags(m.Tags)
	if err != nil {
		return err
	}
	return s.tx(ctx, "remember", func(tx *sql.Tx) error {
		var rid int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO memories (id, mesh_id, content, tags, remembered_by, remembered_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING rid`,
			m.ID, m.MeshID, m.Content, tags, m.RememberedBy, msOf(m.RememberedAt)).Scan(&rid); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO memories_fts (rowid, content, tags) VALUES (?, ?, ?)`,
			rid, m.Content, tagsText(m.Tags))
		return err
	})
}

// Recall ranks with bm25 (smaller is better, so rank is its negation);
// a tag match weighs twice a content match.
func (s *sqliteStore) Recall(ctx context.Context, meshID, query string, limit int) ([]Memory, error) {
	terms := searchTerms(query)
	if len(terms) == 0 {
		return []Memory{}, nil
	}
	quoted := make([]string, len(terms))
	for i, t := range terms {
		quoted[i] = `"` + t + `"` // terms are letters and digits only
	}
	rows, err := s.r.QueryContext(ctx, `SELECT m.id, m.mesh_id, m.content, m.tags, m.remembered_by, m.remembered_at,
			-bm25(memories_fts, 1.0, 2.0) AS rank
		FROM memories_fts JOIN memories m ON m.rid = memories_fts.rowid
		WHERE memories_fts MATCH ? AND m.mesh_id = ?
		ORDER BY rank DESC, m.remembered_at DESC, m.id LIMIT ?`,
		strings.Join(quoted, " OR "), meshID, limit)
	if err != nil {
		return nil, sqliteErr("recall", err)
	}
	defer rows.Close()
	out := []Memory{}
	for rows.Next() {
		var m Memory
		var tags []byte
		var at int64
		if err := rows.Scan(&m.ID, &m.MeshID, &m.Content, &tags, &m.RememberedBy, &at, &m.Rank); err != nil {
			return nil, sqliteErr("recall", err)
		}
		if m.Tags, err = decodeTags(tags); err != nil {
			return nil, err
		}
		m.RememberedAt = fromMS(at)
		out = append(out, m)
	}
	return out, sqliteErr("recall", rows.Err())
}

func (s *sqliteStore) Forget(ctx context.Context, meshID, id string) error {
	return s.tx(ctx, "forget", func(tx *sql.Tx) error {
		var rid int64
		if err := tx.QueryRowContext(ctx, `DELETE FROM memories WHERE id = ? AND mesh_id = ? RETURNING rid`,
			id, meshID).Scan(&rid); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM memories_fts WHERE rowid = ?`, rid)
		return err
	})
}

func encodeTags(tags []string) (string, error) {
	if tags == nil {
		tags = []string{}
	}
	b, err := json.Marshal(tags)
	return string(b), err
}

func decodeTags(b []byte) ([]string, error) {
	tags := []string{}
	if err := json.Unmarshal(b, &tags); err != nil {
		return nil, errors.New("store: decode memory tags: " + err.Error())
	}
	return tags, nil
}
