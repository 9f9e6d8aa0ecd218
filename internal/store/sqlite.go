package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/claudemesh/claudemesh/migrations"
)

// SQLiteFile is the database file OpenSQLite keeps in its data directory.
const SQLiteFile = "claudemesh.db"

// sqliteStore is the embedded backend.
//
// Concurrency: all writes go through w, a pool of exactly one connection,
// so writes are serialized in this process and every transaction starts
// with BEGIN IMMEDIATE (it takes the write lock up front and never fails
// halfway on a lock upgrade). One writer also makes seq order equal commit
// order. Reads use r, a pool of query_only connections; in WAL mode they
// read the last committed state and neither block nor wait for the writer.
type sqliteStore struct {
	w     *sql.DB
	r     *sql.DB
	stmts *sqliteStmts // prepared on w
	reads *sqliteReadStmts
}

// sqliteDSN builds a modernc.org/sqlite DSN.
//
// Durability: WAL with synchronous=NORMAL. A commit is in the WAL file (in
// the OS page cache) before Commit returns, so a killed process (SIGKILL,
// panic, OOM) loses nothing that was acked; only an OS crash or power loss
// can drop the last transactions, which FULL would prevent at the price of
// an fsync per commit. busy_timeout covers other processes (e.g. a
// `migrate` command) holding the lock briefly.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// OpenSQLite opens (creating and migrating as needed) dataDir/claudemesh.db.
func OpenSQLite(ctx context.Context, dataDir string) (Store, error) {
	if dataDir == "" {
		return nil, errors.New("store: sqlite: empty data directory")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dataDir, SQLiteFile))
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}

	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// Migrations run on the writer pool: the one connection is free at this
	// point and goose runs them one at a time on it.
	if err := migrate(ctx, w, goose.DialectSQLite3, migrations.SQLite, "sqlite"); err != nil {
		w.Close()
		return nil, err
	}

	stmts, err := prepareSQLiteStmts(ctx, w)
	if err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		stmts.close()
		w.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	reads, err := prepareSQLiteReadStmts(ctx, r)
	if err != nil {
		stmts.close()
		r.Close()
		w.Close()
		return nil, err
	}
	s := &sqliteStore{w: w, r: r, stmts: stmts, reads: reads}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqliteStore) Backend() string { return "sqlite" }

func (s *sqliteStore) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: sqlite ping: %w", err)
	}
	return nil
}

func (s *sqliteStore) Close() error {
	return errors.Join(s.reads.close(), s.stmts.close(), s.r.Close(), s.w.Close())
}

// tx runs fn in one write transaction (BEGIN IMMEDIATE) and commits it.
func (s *sqliteStore) tx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return sqliteErr(op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return sqliteErr(op, err)
	}
	return sqliteErr(op, tx.Commit())
}

// sqliteErr maps driver errors onto the store's errors, keeping the detail.
func sqliteErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if err == ErrNotFound || err == ErrConflict {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return err // already mapped and described
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("store: %s: %w: %w", op, ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// A referenced mesh or member does not exist.
			return fmt.Errorf("store: %s: %w: %w", op, ErrNotFound, err)
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// Millisecond helpers: SQLite stores times as INTEGER ms since the epoch.

func msOf(t time.Time) int64 { return t.UnixMilli() }

func msPtrOf(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}
