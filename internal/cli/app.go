// Package cli is the claudemesh command line: one cobra command per file
// group, sharing the App (I/O, environment, config, broker connections).
// cmd/claudemesh only calls Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
)

// App is what every command shares. Tests build one with their own I/O.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Now    func() time.Time

	root *cobra.Command // the command tree of this run (see hasCommand)

	// Flags common to several commands.
	jsonOut    bool
	meshRef    string
	allowPlain bool // send --allow-plain
}

// Main runs the CLI with args (without the program name) and returns the
// exit code.
func Main(args []string) int {
	app := &App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, args)
}

// Run executes one command line and prints a failure to stderr.
func (a *App) Run(ctx context.Context, args []string) int {
	root := a.rootCmd()
	a.root = root
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	err := root.ExecuteContext(ctx)
	var child childExitError
	if err != nil && !errors.As(err, &child) {
		fmt.Fprintln(a.Stderr, a.ui().errorLine(err))
		if ExitCode(err) == ExitUsage {
			fmt.Fprintln(a.Stderr, "run `claudemesh --help` for usage")
		}
	}
	return ExitCode(err)
}

func (a *App) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "claudemesh",
		Short:         "Connect Claude Code sessions on different machines into an end-to-end encrypted mesh",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          a.runHome,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.versionCmd())
	a.addCommands(root)
	requireSubcommands(root)
	return root
}

// requireSubcommands makes every group command (`invite`, `mesh`, `state`)
// refuse an unknown subcommand as a usage error (exit 2); cobra would print
// help and exit 0, so a script with a typo would carry on as if it worked.
func requireSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		requireSubcommands(c)
	}
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = noArgs
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
}

// noArgs refuses positional arguments, as a usage error naming them.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// exactArgs wants n positional arguments, named in the error.
func exactArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %d argument(s) (%s), got %d", cmd.CommandPath(), n, strings.Join(names, ", "), len(args))
		}
		return nil
	}
}

// configDir is where config.json lives.
func (a *App) configDir() (string, error) {
	if d := a.Getenv("CLAUDEMESH_CONFIG_DIR"); d != "" {
		return d, nil
	}
	return cliconfig.Dir()
}

// loadConfig reads the config (an empty one when none exists yet).
func (a *App) loadConfig() (*cliconfig.File, error) {
	dir, err := a.configDir()
	if err != nil {
		return nil, err
	}
	return cliconfig.Load(dir)
}

// jsonFlag registers --json on a listing command.
func (a *App) jsonFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&a.jsonOut, "json", false, "print JSON instead of a table")
}

// meshFlag registers --mesh (id, slug or name; optional with one mesh).
func (a *App) meshFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.meshRef, "mesh", "", "mesh id, slug or name (needed only when several are joined)")
}
