package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/claudecode"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
)

// runHome is `claudemesh` with no arguments: what is set up, and the one
// next step (fix the config, create/join, install, or launch).
func (a *App) runHome(cmd *cobra.Command, _ []string) error {
	u := a.ui()
	dir, err := a.configDir()
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Stdout, u.title.Render("claudemesh")+u.dim.Render(" — Claude Code sessions as peers, end-to-end encrypted"))
	f, err := cliconfig.Load(dir)
	if err != nil {
		fmt.Fprintf(a.Stdout, "  config   %s\n", u.bad.Render(err.Error()))
		u.nextStep(a.Stdout, "find out what is wrong:", "claudemesh doctor")
		return nil
	}
	modeErr := cliconfig.CheckMode(dir, 0o700)
	if modeErr == nil {
		modeErr = cliconfig.CheckMode(f.Path, 0o600)
	}
	if modeErr != nil {
		fmt.Fprintf(a.Stdout, "  config   %s\n", u.bad.Render(modeErr.Error()))
		u.nextStep(a.Stdout, "check the setup:", "claudemesh doctor")
		return nil
	}
	fmt.Fprintf(a.Stdout, "  config   %s\n", f.Path)
	if len(f.Meshes) == 0 {
		fmt.Fprintln(a.Stdout, "  meshes   none joined yet")
		u.nextStep(a.Stdout, "create a mesh, or join one with an invite link:", "claudemesh mesh create <name>    or    claudemesh join <invite-url>")
		return nil
	}
	for _, m := range f.Meshes {
		fmt.Fprintf(a.Stdout, "  mesh     %s %s as %s\n", u.title.Render(m.Slug), u.dim.Render(m.BrokerURL), m.Role)
	}
	fmt.Fprintf(a.Stdout, "  shell    %s\n", u.dim.Render("claudemesh peers · send <to> <message> · inbox · status"))
	a.suggestNext(u, "")
	return nil
}

// suggestNext names the one next step once a mesh is joined, offering only
// commands this build has (install and launch come with the Claude Code
// integration).
func (a *App) suggestNext(u *ui, meshSlug string) {
	launch := "claudemesh launch"
	if meshSlug != "" {
		launch += " --mesh " + meshSlug
	}
	switch {
	case !a.claudeCodeWired() && a.hasCommand("install"):
		u.nextStep(a.Stdout, "wire claudemesh into Claude Code:", "claudemesh install")
	case a.hasCommand("launch"):
		u.nextStep(a.Stdout, "start Claude Code on the mesh:", launch)
	default:
		u.nextStep(a.Stdout, "see who is online, then say hello:", "claudemesh peers    and    claudemesh send <name> \"hello\"")
	}
}

// hasCommand reports whether this build has a top-level command name.
func (a *App) hasCommand(name string) bool {
	if a.root == nil {
		return false
	}
	c, _, err := a.root.Find([]string{name})
	return err == nil && c.Name() == name
}

// claudeCodeWiring reads what Claude Code's files say about claudemesh
// (nil when neither HOME nor CLAUDE_CONFIG_DIR says where they are).
func (a *App) claudeCodeWiring() *claudecode.Wiring {
	home, dir := a.Getenv("HOME"), a.Getenv(claudecode.EnvClaudeConfigDir)
	if home == "" && dir == "" {
		return nil
	}
	return claudecode.Inspect(claudecode.PathsFor(home, dir))
}

// claudeCodeWired reports whether Claude Code's files hold everything
// `claudemesh install` writes (the MCP server, the hooks, the permission).
func (a *App) claudeCodeWired() bool {
	w := a.claudeCodeWiring()
	return w != nil && w.Complete()
}
