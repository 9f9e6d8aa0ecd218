package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/bridge"
	"github.com/claudemesh/claudemesh/internal/claudecode"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/version"
)

func (a *App) mcpCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "mcp",
		Aliases: []string{"connect"},
		Short:   "The Claude Code bridge: an MCP server on stdio (Claude Code starts it; see `claudemesh install`)",
		Long: `Run the MCP server that joins this Claude Code session to your meshes.
Claude Code starts it; people do not. Stdout carries MCP only; logs go to
stderr (CLAUDEMESH_LOG=debug|info|warn|error, default warn).

Environment (set by ` + "`claudemesh launch`" + `): CLAUDEMESH_SESSION_ID, CLAUDEMESH_DISPLAY_NAME,
CLAUDEMESH_ROLE, CLAUDEMESH_GROUPS (name:role,name2), CLAUDEMESH_MESSAGE_MODE
(push|inbox|off) and CLAUDEMESH_MESH (one mesh; default every joined mesh).
The bridge also infers working/idle from the session transcript in
~/.claude/projects (CLAUDEMESH_INFER_STATUS=0 turns that off); hooks win.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runBridge(cmd.Context()) },
	}
	a.meshFlag(cmd)
	return cmd
}

func (a *App) runBridge(ctx context.Context) error {
	opts, err := a.bridgeOptions()
	if err != nil {
		return err
	}
	b, err := bridge.New(opts)
	if err != nil {
		return err
	}
	return b.Serve(ctx, a.Stdin, a.Stdout)
}

// bridgeOptions reads the config and the launch environment.
func (a *App) bridgeOptions() (bridge.Options, error) {
	var o bridge.Options
	dir, err := a.configDir()
	if err != nil {
		return o, err
	}
	f, err := cliconfig.Load(dir)
	if err != nil {
		return o, err
	}
	ref := a.meshRef
	if ref == "" {
		ref = a.Getenv(claudecode.EnvMesh)
	}
	if ref != "" {
		m, err := f.Find(ref)
		if err != nil {
			return o, err
		}
		o.Meshes = []cliconfig.Mesh{*m}
	} else {
		o.Meshes = f.Meshes
	}
	if o.Mode, err = claudecode.ParseMessageMode(a.Getenv(claudecode.EnvMessageMode)); err != nil {
		return o, fmt.Errorf("%s: %w", claudecode.EnvMessageMode, err)
	}
	if a.Getenv(claudecode.EnvMessageMode) == "" && a.Getenv(claudecode.EnvSessionID) == "" {
		// Not started by `launch`: Claude Code shows channel events only when
		// run with --dangerously-load-development-channels, and a pushed event
		// it drops would still be acked. Inbox mode keeps messages unacked
		// until check_messages returns them.
		o.Mode, o.NotLaunched = claudecode.ModeInbox, true
	}
	if o.Groups, err = protocol.ParseGroupsSpec(a.Getenv(claudecode.EnvGroups)); err != nil {
		return o, fmt.Errorf("%s: %w", claudecode.EnvGroups, err)
	}
	o.SessionID = strings.TrimSpace(a.Getenv(claudecode.EnvSessionID))
	if len(o.SessionID) > protocol.MaxIDLen || strings.ContainsRune(o.SessionID, 0) {
		return o, fmt.Errorf("%s must be at most %d characters", claudecode.EnvSessionID, protocol.MaxIDLen)
	}
	o.DisplayName = a.displayName(a.Getenv(claudecode.EnvDisplayName), f)
	o.Role = strings.TrimSpace(a.Getenv(claudecode.EnvRole))
	o.ConfigDir = dir
	if o.CWD, err = os.Getwd(); err != nil {
		return o, fmt.Errorf("finding the working directory: %w", err)
	}
	o.Version = version.Version
	if home := a.Getenv("HOME"); home != "" && a.Getenv("CLAUDEMESH_INFER_STATUS") != "0" {
		o.Infer = &bridge.InferOptions{Home: home}
	}
	o.Logger = slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: logLevel(a.Getenv("CLAUDEMESH_LOG"))}))
	return o, nil
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(s)) != nil || s == "" {
		return slog.LevelWarn
	}
	return l
}
