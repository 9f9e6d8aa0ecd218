package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/server"
)

func sqliteConfig(t *testing.T, dir string) config.Broker {
	cfg, err := config.Resolve(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port, cfg.DataDir, cfg.DatabaseURL = 0, dir, ""
	return cfg
}

// TestSecondBrokerOnOneSQLiteDirectoryIsRefused: SQLite serves one broker
// per data directory; a second one fails at start naming the directory, and
// starts once the first has shut down.
func TestSecondBrokerOnOneSQLiteDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := server.Start(ctx, sqliteConfig(t, dir), broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.Start(ctx, sqliteConfig(t, dir), broker.Options{})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "another broker") {
		t.Fatalf("second broker on %s: %v, want an error naming the directory", dir, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := first.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	again, err := server.Start(ctx, sqliteConfig(t, dir), broker.Options{})
	if err != nil {
		t.Fatalf("a broker after the first shut down: %v", err)
	}
	if err := again.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
}
