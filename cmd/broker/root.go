package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/server"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/version"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "claudemesh-broker",
		Short:         "The claudemesh broker: routes end-to-end encrypted messages between Claude Code sessions",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	config.RegisterFlags(root.PersistentFlags())
	root.AddCommand(serveCmd(), migrateCmd(), versionCmd(), meshCmd(), memberCmd(), auditCmd())
	return root
}

// loadConfig resolves flags and environment for any subcommand.
func loadConfig(cmd *cobra.Command) (config.Broker, error) {
	return config.Resolve(cmd.Flags(), os.Getenv)
}

func newLogger(cfg config.Broker, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the broker (embedded SQLite unless DATABASE_URL is set)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log := newLogger(cfg, os.Stderr)
			return server.Run(cmd.Context(), cfg, broker.Options{Logger: log, Version: version.Version})
		},
	}
}

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "migrations applied (%s)\n", st.Backend())
			return st.Close()
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "claudemesh-broker", version.Version)
		},
	}
}

// openStore opens the configured store; migrations run on open.
func openStore(cmd *cobra.Command) (store.Store, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	return store.Open(cmd.Context(), store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
}

// openMeshStore opens the store and checks the mesh exists, for commands
// that work on one mesh. The caller closes the store.
func openMeshStore(cmd *cobra.Command, meshID string) (store.Store, error) {
	st, err := openStore(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := st.GetMesh(cmd.Context(), meshID); err != nil {
		st.Close()
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no mesh with id %q", meshID)
		}
		return nil, err
	}
	return st, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
