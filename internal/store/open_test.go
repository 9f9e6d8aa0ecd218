package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func TestOpenConfig(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"mysql://db/x", "host=localhost dbname=x"} {
		_, err := store.Open(ctx, store.Config{DatabaseURL: u, DataDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Fatalf("Open(%q) = %v, want an error naming DATABASE_URL", u, err)
		}
	}
	if _, err := store.Open(ctx, store.Config{}); err == nil {
		t.Fatal("Open with neither DATABASE_URL nor a data dir succeeded")
	}
}

// Reopening finds the data and re-running the migrations is a no-op.
func TestReopen(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			u, dir := b.DSN(t)
			if dir != "" {
				dir = filepath.Join(dir, "nested", "data") // created by OpenSQLite
			}
			cfg := store.Config{DatabaseURL: u, DataDir: dir}
			for i := range 2 {
				s, err := store.Open(ctx, cfg)
				must(t, err)
				if s.Backend() != b.Name {
					t.Fatalf("Backend() = %q, want %q", s.Backend(), b.Name)
				}
				if i == 0 {
					f := newFixture(t, s)
					f.commit(t, 0, f.msg("kept", to(f.bob, "")))
				} else if _, err := s.MessageStatus(ctx, "mesh1", "kept"); err != nil {
					t.Fatalf("after reopen: %v", err)
				}
				must(t, s.Close())
			}
			if dir != "" {
				checkSQLiteFiles(t, dir)
			} else {
				checkPostgresSchema(t, u)
			}
		})
	}
}

func checkSQLiteFiles(t *testing.T, dir string) {
	fi, err := os.Stat(dir)
	must(t, err)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v, want 0700", fi.Mode().Perm())
	}
	_, err = os.Stat(filepath.Join(dir, store.SQLiteFile))
	must(t, err)
}

// checkPostgresSchema: every table, goose's included, is in the schema the
// URL's search_path names.
func checkPostgresSchema(t *testing.T, databaseURL string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	must(t, err)
	defer conn.Close(ctx)
	var n int
	must(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()
		AND schemaname LIKE 't\_%' AND tablename IN
		('goose_db_version', 'meshes', 'members', 'presences', 'messages', 'deliveries')`).Scan(&n))
	if n != 6 {
		t.Fatalf("%d of 6 tables in the test schema", n)
	}
}
