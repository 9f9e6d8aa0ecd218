package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/claudemesh/claudemesh/migrations"
)

// pgStore is the PostgreSQL backend.
//
// Concurrency: every multi-statement operation is one transaction at READ
// COMMITTED. CommitMessages serializes writers of the same sender's
// idempotency keys with transaction-scoped advisory locks (taken in sorted
// order, so two batches cannot deadlock on them); a unique index backs the
// rule. Seqs come from a sequence: they follow batch order and the order of
// transactions that follow one another, but two concurrent transactions may
// commit in the opposite order of their seqs. Deadlocks and serialization
// failures are retried.
type pgStore struct {
	pool *pgxpool.Pool
	// connCfg opens the Listener's dedicated connection; channel is the
	// NOTIFY channel, named after the schema so that brokers (or tests) in
	// other schemas of the same database never hear each other.
	connCfg *pgx.ConnConfig
	channel string
}

// OpenPostgres connects to databaseURL and applies pending migrations. A
// search_path parameter in the URL is sent as a run-time parameter, so
// tables and goose's version table live in that schema.
// defaultPoolMaxConns is the pool size unless DATABASE_URL sets pool_max_conns.
const defaultPoolMaxConns = 32

func OpenPostgres(ctx context.Context, databaseURL string) (Store, error) {
	connCfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: bad DATABASE_URL: %w", err)
	}
	if err := pgMigrate(ctx, connCfg); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: bad DATABASE_URL: %w", err)
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		// pgxpool's default (4 on a 2-core machine) starves the broker: the
		// writer, delivery reads, acks, hellos and the cluster loops all
		// need connections at once. pool_max_conns in the URL overrides.
		cfg.MaxConns = defaultPoolMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	s := &pgStore{pool: pool, connCfg: connCfg}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if s.channel, err = pgChannel(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// pgMigrate runs goose over a short-lived database/sql handle. The advisory
// lock that keeps two brokers from migrating at once is keyed by the target
// schema, so brokers (or tests) on different schemas do not wait for each
// other.
func pgMigrate(ctx context.Context, connCfg *pgx.ConnConfig) error {
	db := stdlib.OpenDB(*connCfg)
	defer db.Close()
	var schema *string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("store: postgres: %w", err)
	}
	if schema == nil {
		return errors.New("store: postgres: no schema of search_path exists")
	}
	h := fnv.New64a()
	h.Write([]byte("claudemesh-migrate/" + *schema))
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64())),
		lock.WithLockTimeout(1, 300),
	)
	if err != nil {
		return fmt.Errorf("store: postgres: %w", err)
	}
	return migrate(ctx, db, goose.DialectPostgres, migrations.Postgres, "postgres",
		goose.WithSessionLocker(locker))
}

func (s *pgStore) Backend() string { return "postgres" }

func (s *pgStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: postgres ping: %w", err)
	}
	return nil
}

func (s *pgStore) Close() error {
	s.pool.Close()
	return nil
}

// tx runs fn in a transaction, with retry's retries.
func (s *pgStore) tx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	return s.retry(ctx, op, func() error { return pgx.BeginFunc(ctx, s.pool, fn) })
}

// retry runs fn again (a few times) when PostgreSQL aborted it for a
// deadlock or a serialization failure: nothing was committed then.
func (s *pgStore) retry(ctx context.Context, op string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err != nil && attempt < 4 && pgRetryable(err) {
			select {
			case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
				continue
			case <-ctx.Done():
			}
		}
		return pgErr(op, err)
	}
}

func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// pgErr maps driver errors onto the store's errors, keeping the detail.
func pgErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if err == ErrNotFound || err == ErrConflict {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("store: %s: %w: %w", op, ErrConflict, err)
		case "23503": // foreign_key_violation: a referenced mesh or member is missing
			return fmt.Errorf("store: %s: %w: %w", op, ErrNotFound, err)
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}
