package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/brokerproc"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/relay"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/report"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/scenario"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/target"
)

// errFailed marks a run that happened but failed verification (exit 1);
// other errors mean the run could not happen (exit 2).
var errFailed = errors.New("verification failed")

func exitCode(err error) int {
	if errors.Is(err, errFailed) {
		return 1
	}
	return 2
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "meshload",
		Short:         "Load generator and verifier for the claudemesh broker",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var cpuProfile string
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of meshload itself to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	var stopProfile func()
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	root.PersistentPostRun = func(*cobra.Command, []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
	for _, name := range scenario.Names {
		root.AddCommand(scenarioCmd(name))
	}
	root.AddCommand(benchCmd(), relayServeCmd())
	return root
}

// flags shared by every scenario command.
type runFlags struct {
	spec     target.Spec
	opts     scenario.Options
	rate     int
	json     bool
	onRelay  bool
	baseline bool
}

func scenarioCmd(name string) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use: name,
		Short: map[string]string{
			"dm":        "sessions send crypto_box DMs to random other sessions",
			"broadcast": "senders broadcast secretbox messages into a mesh",
			"connect":   "open sessions, hold them idle; hello rate and broker RSS",
			"held":      "held 'next' messages flow when recipients turn idle",
		}[name],
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd.Context(), name) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.spec.BrokerURL, "broker", "", "URL of a running broker (http://host:port)")
	fs.IntVar(&f.spec.BrokerPID, "broker-pid", 0, "pid of that broker, to report its RSS from /proc")
	fs.StringVar(&f.spec.AdminToken, "admin-token", os.Getenv("BROKER_ADMIN_TOKEN"), "Bearer token for POST /meshes (env BROKER_ADMIN_TOKEN)")
	fs.BoolVar(&f.spec.Spawn, "spawn", false, "start a broker for this run (SQLite in a temp dir; PostgreSQL with DATABASE_URL or --pg-throwaway)")
	fs.StringVar(&f.spec.BrokerBin, "broker-bin", "", "broker binary for --spawn (default: build ./cmd/broker of this repository)")
	fs.BoolVar(&f.spec.PGThrowaway, "pg-throwaway", false, "with --spawn: run the broker on a throwaway PostgreSQL cluster")
	fs.BoolVar(&f.spec.KeepDir, "keep", false, "with --spawn: keep the broker's directory (log, database)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON")
	fs.BoolVar(&f.onRelay, "relay", false, "run against a spawned bare WebSocket relay instead of a broker")
	fs.BoolVar(&f.baseline, "baseline", false, "also run the same workload against the bare relay and report the ratio")
	o := &f.opts
	fs.IntVar(&o.Sessions, "sessions", 0, "sessions (default 200; held: senders+recipients)")
	fs.DurationVar(&o.Duration, "duration", 0, "how long to send (default 10s)")
	fs.IntVar(&f.rate, "rate", -1, "total messages/s; 0 = as fast as acks allow (default: dm 0, broadcast 20)")
	fs.IntVar(&o.Window, "window", 0, "unacked sends in flight per session (default 16)")
	fs.IntVar(&o.Size, "size", 0, "plaintext bytes per message (default 64)")
	fs.IntVar(&o.Senders, "senders", 0, "broadcast: sending sessions (default 1); held: senders (default 5)")
	fs.IntVar(&o.Recipients, "recipients", 0, "held: recipients (default 20)")
	fs.IntVar(&o.Held, "held", 0, "held: messages per recipient (default 20)")
	fs.DurationVar(&o.FlipGap, "flip-gap", 0, "held: time between two recipients' flips to idle (default 50ms)")
	fs.IntVar(&o.MeshSize, "mesh-size", 0, "connect: sessions per mesh (default 100)")
	fs.DurationVar(&o.Hold, "hold", 0, "connect: how long to hold the sessions idle (default 5s)")
	fs.IntVar(&o.DialConcurrency, "dial-concurrency", 0, "sessions dialing at once (default 64)")
	fs.IntVar(&o.ClaimConcurrency, "claim-concurrency", 0, "invite claims at once (default 16)")
	fs.DurationVar(&o.Drain, "drain", 0, "how long to wait for the last acks and pushes (default 15s)")
	return cmd
}

// ScenarioRate maps the --rate flag (-1: the scenario's default).
func scenarioRate(name string, flag int) int {
	if flag >= 0 {
		return flag
	}
	if name == "broadcast" {
		return 20
	}
	return 0
}

func (f *runFlags) run(ctx context.Context, name string) error {
	defer target.Cleanup()
	f.opts.Rate = scenarioRate(name, f.rate)
	f.opts.Defaults(name)
	f.spec.Progress = os.Stderr
	if f.spec.Spawn {
		f.spec.DatabaseURL = os.Getenv("DATABASE_URL")
	}
	if limit, err := brokerproc.RaiseNoFile(); err == nil && uint64(f.opts.Sessions) > limit/2 {
		fmt.Fprintf(os.Stderr, "meshload: warning: open-file limit %d may be too low for %d sessions\n", limit, f.opts.Sessions)
	}
	var r *scenario.Result
	var err error
	if f.onRelay {
		r, err = runOn(ctx, name, f.opts, func() (*target.Target, error) { return target.Relay(ctx, os.Stderr) })
	} else {
		r, err = runOn(ctx, name, f.opts, func() (*target.Target, error) { return target.Broker(ctx, f.spec, name, f.opts) })
	}
	if err != nil {
		return err
	}
	if f.baseline && !f.onRelay && name != "connect" && name != "held" {
		b, err := runOn(ctx, name, f.opts, func() (*target.Target, error) { return target.Relay(ctx, os.Stderr) })
		if err != nil {
			return fmt.Errorf("relay baseline: %w", err)
		}
		r.Baseline = b
		if b.Throughput > 0 {
			r.Ratio = r.Throughput / b.Throughput
		}
	}
	if f.json {
		if err := report.JSON(os.Stdout, r); err != nil {
			return err
		}
	} else {
		report.Human(os.Stdout, r)
	}
	if r.Failed() || (r.Baseline != nil && r.Baseline.Failed()) {
		return errFailed
	}
	return nil
}

// runOn starts a target, runs the scenario on it and stops it.
func runOn(ctx context.Context, name string, o scenario.Options, start func() (*target.Target, error)) (*scenario.Result, error) {
	t, err := start()
	if err != nil {
		return nil, err
	}
	defer t.Close()
	r, err := scenario.Run(ctx, name, t.Env, o)
	if err != nil {
		return nil, err
	}
	r.Broker = t.Settings
	return r, nil
}

func relayServeCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "relay-serve",
		Short:  "serve the bare WebSocket relay baseline (used by --relay and --baseline)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := brokerproc.RaiseNoFile(); err != nil {
				return err
			}
			s, err := relay.Start(addr)
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Println("relay listening on " + s.URL)
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on")
	return cmd
}
