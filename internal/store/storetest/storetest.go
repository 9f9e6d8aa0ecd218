// Package storetest runs tests against every store backend: SQLite always,
// PostgreSQL when CLAUDEMESH_TEST_DATABASE_URL names a database. Every
// opened store is isolated (a temp dir, or a fresh schema) and cleaned up.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/claudemesh/claudemesh/internal/store"
)

// Environment variables this package reads.
const (
	EnvDatabaseURL     = "CLAUDEMESH_TEST_DATABASE_URL"
	EnvRequirePostgres = "CLAUDEMESH_REQUIRE_POSTGRES"
)

// Backend opens isolated stores of one kind.
type Backend struct {
	Name string
	// Open returns a migrated store, closed in t.Cleanup.
	Open func(t testing.TB) store.Store
	// DSN returns a fresh location (exactly one of the two is set) for
	// callers that open the store themselves, e.g. through store.Open.
	DSN func(t testing.TB) (databaseURL, dataDir string)
}

// Backends lists sqlite, then postgres. Without a database URL the postgres
// backend skips the test using it, or fails it under CI (CI set, or
// CLAUDEMESH_REQUIRE_POSTGRES=1): there PostgreSQL must really be tested.
func Backends(t testing.TB) []Backend {
	t.Helper()
	sqlite := Backend{
		Name: "sqlite",
		DSN:  func(t testing.TB) (string, string) { return "", t.TempDir() },
	}
	sqlite.Open = func(t testing.TB) store.Store {
		t.Helper()
		_, dir := sqlite.DSN(t)
		return open(t, store.Config{DataDir: dir})
	}
	pg := Backend{Name: "postgres", DSN: postgresDSN}
	pg.Open = func(t testing.TB) store.Store {
		t.Helper()
		u, _ := postgresDSN(t)
		return open(t, store.Config{DatabaseURL: u})
	}
	return []Backend{sqlite, pg}
}

// ForEachBackend runs fn as the subtests "sqlite" and "postgres", each with
// its own fresh store.
func ForEachBackend(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t)) })
	}
}

func open(t testing.TB, cfg store.Config) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// postgresDSN creates a schema t_<random> and returns the database URL with
// search_path set to it. The schema is dropped in t.Cleanup, which runs
// after the Close that Open registers later (cleanups run last-in first-out).
func postgresDSN(t testing.TB) (string, string) {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		msg := EnvDatabaseURL + " is not set: PostgreSQL backend not tested"
		if os.Getenv("CI") != "" || os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatal(msg + " (required under CI / " + EnvRequirePostgres + "=1)")
		}
		t.Skip(msg)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvDatabaseURL, err)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])

	admin(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { admin(t, base, "DROP SCHEMA "+schema+" CASCADE") })

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), ""
}

// admin runs one statement on a plain connection to the base database.
func admin(t testing.TB, databaseURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatalf("connect %s: %v", EnvDatabaseURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// RawDB opens a store's database directly, bypassing the store, as an
// attacker or auditor with database access would (tamper tests). Exactly
// one of databaseURL and dataDir is set, as DSN returns them. It is closed
// in t.Cleanup.
func RawDB(t testing.TB, databaseURL, dataDir string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", databaseURL
	if dsn == "" {
		driver, dsn = "sqlite", "file:"+filepath.Join(dataDir, store.SQLiteFile)+"?_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(driver, dsn) // drivers are registered by the store package
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
