package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/claudecode"
)

func (a *App) installCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Register claudemesh in Claude Code: MCP server, status hooks, tool permission",
		Long: `Register this claudemesh binary in Claude Code, changing only its own keys:
mcpServers.claudemesh in ~/.claude.json, and in ~/.claude/settings.json the
permission rule mcp__claudemesh and the UserPromptSubmit, Stop and
SessionEnd hooks that report working/idle. With CLAUDE_CONFIG_DIR set, both
files are in that directory, where Claude Code then reads them. Each
changed file is backed up next to itself (<file>.claudemesh-backup-<time>)
and replaced atomically; a file that is not valid JSON, or whose keys have
the wrong type, stops the command before anything is written. Running it
again changes nothing.
What was added is recorded in the claudemesh config directory so that
uninstall removes exactly that.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return a.installClaudeCode(false) },
	}
	cmd.Flags().BoolVar(&a.jsonOut, "json", false, "print the changes as JSON")
	return cmd
}

func (a *App) uninstallCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove from Claude Code what install added",
		Long: `Remove what claudemesh install added to ~/.claude.json and
~/.claude/settings.json, and nothing else: a permission rule or hook you
had before install stays, and an entry install replaced is put back. A file
install created is deleted once nothing else is in it. Without install's
record (the config directory was removed) every claudemesh entry found is
removed. Files are backed up and replaced atomically, as by install.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return a.installClaudeCode(true) },
	}
	cmd.Flags().BoolVar(&a.jsonOut, "json", false, "print the changes as JSON")
	return cmd
}

func (a *App) installClaudeCode(uninstall bool) error {
	opts := claudecode.Options{Home: a.Getenv("HOME"), ClaudeConfigDir: a.Getenv(claudecode.EnvClaudeConfigDir), Now: a.Now}
	var err error
	if opts.ConfigDir, err = a.configDir(); err != nil {
		return err
	}
	run := claudecode.Uninstall
	if !uninstall {
		run = claudecode.Install
		if opts.Executable, err = selfPath(); err != nil {
			return err
		}
	}
	rep, err := run(opts)
	if rep != nil {
		if a.jsonOut && err == nil {
			if jerr := a.printJSON(rep); jerr != nil {
				return jerr
			}
		} else if !a.jsonOut {
			a.printInstallReport(rep, uninstall, err == nil)
		}
	}
	return err
}

// selfPath is the path of the running claudemesh for Claude Code to start
// (its PATH may differ from ours). Symlinks are not resolved: a Homebrew or
// nix link survives upgrades, its versioned target does not.
func selfPath() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the claudemesh binary: %w", err)
	}
	return stableSelfPath(p, exec.LookPath), nil
}

// stableSelfPath prefers the claudemesh found on PATH when it is the same
// file as exe (os.Executable is already resolved on Linux): that path is
// the one package managers keep stable across upgrades.
func stableSelfPath(exe string, lookPath func(string) (string, error)) string {
	found, err := lookPath("claudemesh")
	if err != nil {
		return exe
	}
	if abs, err := filepath.Abs(found); err == nil {
		found = abs
	}
	a, aerr := os.Stat(exe)
	b, berr := os.Stat(found)
	if aerr == nil && berr == nil && os.SameFile(a, b) {
		return found
	}
	return exe
}

func (a *App) printInstallReport(rep *claudecode.Report, uninstall, finished bool) {
	u := a.ui()
	if len(rep.Changes) == 0 {
		if !finished {
			return
		}
		if uninstall {
			fmt.Fprintln(a.Stdout, "Nothing to remove: Claude Code's files hold nothing that install added. Nothing changed.")
		} else {
			fmt.Fprintln(a.Stdout, u.ok.Render("✓")+" Claude Code is already set up for claudemesh. Nothing changed.")
		}
		return
	}
	file := ""
	for _, c := range rep.Changes {
		if c.File != file {
			file = c.File
			fmt.Fprintln(a.Stdout, u.title.Render(file))
		}
		mark := map[string]string{"added": u.ok.Render("+"), "removed": u.bad.Render("-")}[c.Action]
		if mark == "" {
			mark = u.accent.Render("~")
		}
		line := fmt.Sprintf("  %s %s %s", mark, c.Action, c.Key)
		if c.Value != "" {
			line += u.dim.Render(": ") + termSafe(c.Value)
		}
		fmt.Fprintln(a.Stdout, line)
	}
	for _, f := range rep.CreatedFiles {
		fmt.Fprintf(a.Stdout, "%s %s\n", u.dim.Render("created"), f)
	}
	for _, f := range rep.RemovedFiles {
		fmt.Fprintf(a.Stdout, "%s %s %s\n", u.dim.Render("removed"), f, u.dim.Render("(install had created it)"))
	}
	for _, b := range rep.Backups {
		fmt.Fprintf(a.Stdout, "%s %s\n", u.dim.Render("backup "), b)
	}
	if len(rep.Guessed) > 0 {
		fmt.Fprintf(a.Stdout, "%s no record of what install added to %s: removed every claudemesh entry found there\n",
			u.accent.Render("note:"), strings.Join(rep.Guessed, ", "))
	}
	if !finished {
		return
	}
	if uninstall {
		fmt.Fprintln(a.Stdout, "Restart running Claude Code sessions to drop claudemesh.")
		return
	}
	fmt.Fprintln(a.Stdout, "Restart running Claude Code sessions to load claudemesh.")
	if _, err := claudecode.FindClaude(); err != nil {
		fmt.Fprintf(a.Stdout, "%s %s\n", u.accent.Render("note:"), err)
		return
	}
	if a.hasCommand("launch") {
		u.nextStep(a.Stdout, "start Claude Code on the mesh:", "claudemesh launch")
	}
}
