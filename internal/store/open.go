package store

import (
	"context"
	"errors"
	"strings"
)

// Config selects and locates the backend.
type Config struct {
	// DatabaseURL (DATABASE_URL) selects PostgreSQL when set.
	DatabaseURL string
	// DataDir holds claudemesh.db when the embedded SQLite backend is used.
	DataDir string
}

// Open opens (and migrates) the backend Config selects: PostgreSQL when
// DatabaseURL is set, otherwise SQLite in DataDir.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if cfg.DatabaseURL != "" {
		if !strings.HasPrefix(cfg.DatabaseURL, "postgres://") &&
			!strings.HasPrefix(cfg.DatabaseURL, "postgresql://") {
			// Do not echo the URL: it may carry a password.
			return nil, errors.New("store: DATABASE_URL must start with postgres:// or postgresql://")
		}
		return OpenPostgres(ctx, cfg.DatabaseURL)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("store: neither DATABASE_URL nor a data directory is set")
	}
	return OpenSQLite(ctx, cfg.DataDir)
}
