package store_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/migrations"
)

// Every migration's Down undoes its Up: down to zero, then up again.
func TestMigrationsDownUp(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			u, dir := b.DSN(t)
			s, err := store.Open(ctx, store.Config{DatabaseURL: u, DataDir: dir})
			must(t, err)
			must(t, s.Close())

			var db *sql.DB
			dialect, fsys, sub := goose.DialectPostgres, fs.FS(migrations.Postgres), "postgres"
			if dir != "" {
				dialect, fsys, sub = goose.DialectSQLite3, migrations.SQLite, "sqlite"
				db, err = sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
				must(t, err)
			} else {
				db = stdlib.OpenDB(*mustPGConfig(t, u))
			}
			defer db.Close()
			files, err := fs.Sub(fsys, sub)
			must(t, err)
			p, err := goose.NewProvider(dialect, db, files, goose.WithDisableGlobalRegistry(true))
			must(t, err)
			_, err = p.DownTo(ctx, 0)
			must(t, err)
			if v, err := p.GetDBVersion(ctx); err != nil || v != 0 {
				t.Fatalf("after down: version %d, %v", v, err)
			}
			_, err = p.Up(ctx)
			must(t, err)
		})
	}
}

func mustPGConfig(t *testing.T, databaseURL string) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(databaseURL)
	must(t, err)
	return cfg
}
