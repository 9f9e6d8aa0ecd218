package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/bench"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/target"
)

func benchCmd() *cobra.Command {
	var (
		cfg  bench.Config
		out  string
		only string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "run the standard set (P1-P8) and write bench/results/<date>.md",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Progress = os.Stderr
			cfg.DatabaseURL = os.Getenv("DATABASE_URL")
			if only != "" {
				cfg.Only = strings.Split(only, ",")
			}
			if out == "" {
				out = filepath.Join("bench", "results", time.Now().UTC().Format("2006-01-02")+".md")
			}
			cfg.ProfileDir = strings.TrimSuffix(out, filepath.Ext(out))
			started := time.Now()
			outs, err := bench.Run(cmd.Context(), cfg)
			target.Cleanup()
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			f, ferr := os.Create(out)
			if ferr != nil {
				return ferr
			}
			bench.Markdown(f, cfg, outs, started, time.Since(started))
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "meshload bench: wrote %s\n", out)
			if err != nil {
				return err
			}
			for _, o := range outs {
				if o.Result != nil && o.Result.Failed() {
					return fmt.Errorf("%s: %w", o.ID, errFailed)
				}
			}
			for _, o := range outs {
				if o.Err != nil {
					return fmt.Errorf("%s did not run: %w", o.ID, o.Err)
				}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.BrokerBin, "broker-bin", "", "broker binary (default: build ./cmd/broker of this repository)")
	fs.StringVar(&out, "out", "", "results file (default bench/results/<UTC date>.md)")
	fs.StringVar(&only, "only", "", "comma-separated subset, e.g. P1,P8 (P5 needs P4, P8 needs P1)")
	fs.BoolVar(&cfg.Quick, "quick", false, "scaled-down smoke run of the same set (figures not comparable with the targets)")
	return cmd
}
