package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// sqliteBulkSizes are the row counts each bulk INSERT is prepared for,
// largest first. Any number of rows runs as a few statements of these
// sizes (n = 64a + 32b + ... + 1), so nothing is parsed per batch while a
// statement still writes many rows (a row per statement costs more).
var sqliteBulkSizes = []int{64, 32, 16, 8, 4, 2, 1}

// sqliteBulkInsert is one statement over a list of tuples (an INSERT's
// VALUES, or a CTE's), prepared for each of sqliteBulkSizes.
type sqliteBulkInsert struct {
	cols  int
	stmts map[int]*sql.Stmt
}

func prepareSQLiteBulk(ctx context.Context, w *sql.DB, head, tail string, cols int) (*sqliteBulkInsert, error) {
	bi := &sqliteBulkInsert{cols: cols, stmts: make(map[int]*sql.Stmt, len(sqliteBulkSizes))}
	tuple := "(?" + strings.Repeat(", ?", cols-1) + ")"
	for _, n := range sqliteBulkSizes {
		q := head + tuple + strings.Repeat(", "+tuple, n-1) + tail
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			bi.close()
			return nil, fmt.Errorf("store: sqlite: prepare: %w", err)
		}
		bi.stmts[n] = st
	}
	return bi, nil
}

func (bi *sqliteBulkInsert) close() error {
	if bi == nil {
		return nil
	}
	var first error
	for _, st := range bi.stmts {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// bulk inserts args (cols values per row, rows in order) and keeps their
// order: chunks run front to back. With scan set, every statement is a
// query and scan sees each returned row.
func (t *sqliteTx) bulk(bi *sqliteBulkInsert, args []any, scan func(*sql.Rows) error) error {
	rows := len(args) / bi.cols
	for _, n := range sqliteBulkSizes {
		for rows >= n {
			chunk := args[:n*bi.cols]
			args, rows = args[n*bi.cols:], rows-n
			st := t.stmt(bi.stmts[n])
			if scan == nil {
				if _, err := st.ExecContext(t.ctx, chunk...); err != nil {
					return err
				}
				continue
			}
			if err := queryEach(t.ctx, st, chunk, scan); err != nil {
				return err
			}
		}
	}
	return nil
}

func queryEach(ctx context.Context, st *sql.Stmt, args []any, scan func(*sql.Rows) error) error {
	r, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		if err := scan(r); err != nil {
			return err
		}
	}
	return r.Err()
}
