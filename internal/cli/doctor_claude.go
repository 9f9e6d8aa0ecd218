package cli

import (
	"fmt"
	"strings"

	"github.com/claudemesh/claudemesh/internal/claudecode"
)

const fixInstall = "claudemesh install"

// claudeChecks: Claude Code itself, and what `claudemesh install` writes
// into its files (read by claudecode.Inspect).
func claudeChecks(d *doctorRun) {
	const sec = "Claude Code"
	if bin, err := claudecode.FindClaude(); err != nil {
		d.fail(sec, "claude on PATH", "not found", claudecode.InstallHint)
	} else {
		d.pass(sec, "claude on PATH", bin)
		if v, err := claudecode.Version(d.ctx, bin); err != nil {
			d.fail(sec, "claude version", err.Error(), "run `claude --version` to see what is wrong; reinstall Claude Code if it fails")
		} else {
			d.pass(sec, "claude version", termSafe(v))
		}
	}
	home, dir := d.a.Getenv("HOME"), d.a.Getenv(claudecode.EnvClaudeConfigDir)
	if home == "" && dir == "" {
		d.fail(sec, "Claude Code settings", "HOME is not set: Claude Code's files cannot be found", "set HOME")
		return
	}
	w := claudecode.Inspect(claudecode.PathsFor(home, dir))
	mcpChecks(d, sec, w)
	if w.SettingsErr != nil {
		d.fail(sec, "settings.json", w.SettingsErr.Error(), "repair the JSON in "+w.Settings+" (or move it aside), then run `"+fixInstall+"`")
		return
	}
	for _, ev := range claudecode.HookEvents {
		name := "hook " + ev.Event
		cmd, ok := w.Hooks[ev.Event]
		switch {
		case !ok:
			d.fail(sec, name, fmt.Sprintf("%s has no `claudemesh hook %s` for %s", w.Settings, ev.Status, ev.Event), fixInstall)
		case claudecode.CheckExecutable(w.HookBinary(cmd)) != nil:
			d.fail(sec, name, termSafe(cmd)+": "+claudecode.CheckExecutable(w.HookBinary(cmd)).Error(), fixInstall+" (points the hook at this binary)")
		default:
			d.pass(sec, name, termSafe(cmd))
		}
	}
	if w.Permission {
		d.pass(sec, "permission rule", "permissions.allow has "+claudecode.PermissionRule)
	} else {
		d.fail(sec, "permission rule", fmt.Sprintf("%s does not allow %s: Claude Code asks before every claudemesh tool", w.Settings, claudecode.PermissionRule), fixInstall)
	}
}

func mcpChecks(d *doctorRun, sec string, w *claudecode.Wiring) {
	switch {
	case w.MCPErr != nil:
		d.fail(sec, "MCP server entry", w.MCPErr.Error(), "repair the JSON in "+w.ClaudeJSON+" (or move it aside), then run `"+fixInstall+"`")
		return
	case w.MCP == nil:
		d.fail(sec, "MCP server entry", "no mcpServers."+claudecode.ServerName+" in "+w.ClaudeJSON, fixInstall)
		return
	}
	line := termSafe(strings.TrimSpace(w.MCP.Command + " " + strings.Join(w.MCP.Args, " ")))
	if len(w.MCP.Args) == 0 || (w.MCP.Args[0] != "mcp" && w.MCP.Args[0] != "connect") {
		d.fail(sec, "MCP server entry", line+": does not run `claudemesh mcp`", fixInstall)
		return
	}
	d.pass(sec, "MCP server entry", line)
	if err := claudecode.CheckExecutable(w.MCP.Command); err != nil {
		d.fail(sec, "MCP server command", err.Error(), fixInstall+" (points the entry at this binary)")
	} else {
		d.pass(sec, "MCP server command", "executable")
	}
}
