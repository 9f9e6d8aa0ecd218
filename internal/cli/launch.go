package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/claudecode"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

type launchOpts struct {
	name, role, groups, mode string
	yes                      bool
}

// launchSettings is what one launched session is started with.
type launchSettings struct {
	sessionID, name, role, groups, mode, meshID string
}

func (a *App) launchCmd() *cobra.Command {
	var o launchOpts
	cmd := &cobra.Command{
		Use:   "launch [flags] [-- claude arguments]",
		Short: "Start Claude Code connected to a mesh",
		Long: "Picks the mesh, asks for what is not given as a flag (-y takes the defaults), then runs\n" +
			"claude --dangerously-load-development-channels server:claudemesh --session-id <new uuid> <arguments after -->\n" +
			"with the session's name, role, groups and message mode in CLAUDEMESH_* variables for the bridge.\n" +
			"Exits with Claude Code's exit code.",
		Example: "  claudemesh launch\n  claudemesh launch --mesh platform --name alice-api --role reviewer --groups backend:lead,ops -y\n" +
			"  claudemesh launch -y -- --model opus",
		RunE: func(cmd *cobra.Command, args []string) error {
			extra, err := launchExtraArgs(cmd, args)
			if err != nil {
				return err
			}
			code, err := a.launch(cmd, o, extra)
			if err == nil && code != 0 {
				return childExitError{code}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "display name peers see (default: the config's displayName, else $USER)")
	cmd.Flags().StringVar(&o.role, "role", "", `what this session does, free text like "reviewer" (default none)`)
	cmd.Flags().StringVar(&o.groups, "groups", "", "groups to join, as name:role,name2 (default none)")
	cmd.Flags().StringVar(&o.mode, "message-mode", "", "push (default), inbox or off: how peer messages reach Claude")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "ask nothing: take the defaults for what no flag gives")
	a.meshFlag(cmd)
	return cmd
}

// launchExtraArgs is what goes after `--`; launch itself takes no arguments.
func launchExtraArgs(cmd *cobra.Command, args []string) ([]string, error) {
	dash := cmd.ArgsLenAtDash()
	if dash < 0 {
		dash = len(args)
	}
	if dash > 0 {
		return nil, usagef("launch takes no arguments, got %q; put Claude Code's arguments after --, as in: claudemesh launch -- %s",
			strings.Join(args[:dash], " "), strings.Join(args[:dash], " "))
	}
	for _, s := range args {
		flag, _, _ := strings.Cut(s, "=")
		switch flag {
		case "--session-id":
			return nil, usagef("launch sets Claude Code's --session-id itself (a new one for each session); leave it out of the arguments after --")
		case "--resume", "-r", "--continue", "-c":
			return nil, usagef("%s cannot be passed after --: launch starts a new Claude Code session with its own --session-id, "+
				"which the mesh knows it by; resume a session with claude itself", flag)
		}
	}
	return args, nil
}

// launch runs the whole command and returns Claude Code's exit code.
func (a *App) launch(cmd *cobra.Command, o launchOpts, extra []string) (int, error) {
	given := cmd.Flags().Changed
	if err := o.validate(given); err != nil {
		return 0, err
	}
	// Before any question: without Claude Code there is nothing to launch.
	claude, err := claudecode.FindClaude()
	if err != nil {
		return 0, err
	}
	f, err := a.loadConfig()
	if err != nil {
		return 0, err
	}
	p := &prompter{ctx: cmd.Context(), in: a.Stdin, out: a.Stdout, echo: isTerminal(a.Stdin)}
	m, err := a.pickLaunchMesh(p, f, o.yes)
	if err != nil {
		return 0, err
	}
	s, err := a.launchWizard(p, f, o, given)
	if err != nil {
		return 0, err
	}
	s.meshID, s.sessionID = m.MeshID, newUUIDv4()
	a.launchBanner(m, s)
	return runChild(claude, claudeArgs(s.sessionID, extra), launchEnv(os.Environ(), s), a.Stdin, a.Stdout, a.Stderr)
}

// validate checks the flags that were given, as usage errors.
func (o *launchOpts) validate(given func(string) bool) error {
	o.name, o.role = strings.TrimSpace(o.name), strings.TrimSpace(o.role)
	checks := []struct {
		flag  string
		check func(string) error
		value string
	}{
		{"name", checkDisplayName, o.name},
		{"role", checkSessionRole, o.role},
		{"groups", checkGroupsSpec, o.groups},
		{"message-mode", checkMessageMode, o.mode},
	}
	for _, c := range checks {
		if given(c.flag) {
			if err := c.check(c.value); err != nil {
				return usagef("--%s: %v", c.flag, err)
			}
		}
	}
	return nil
}

func checkDisplayName(s string) error {
	switch {
	case s == "":
		return errors.New("the display name must not be empty")
	case len(s) > protocol.MaxNameLen:
		return fmt.Errorf("the display name is %d bytes; at most %d", len(s), protocol.MaxNameLen)
	case strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("the display name must not contain control characters")
	}
	return nil
}

func checkSessionRole(s string) error {
	switch {
	case len(s) > protocol.MaxNameLen:
		return fmt.Errorf("the role is %d bytes; at most %d", len(s), protocol.MaxNameLen)
	case strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("the role must not contain control characters")
	}
	return nil
}

func checkGroupsSpec(s string) error {
	_, err := protocol.ParseGroupsSpec(s)
	return err
}

func checkMessageMode(s string) error {
	_, err := claudecode.ParseMessageMode(s)
	return err
}

// pickLaunchMesh is --mesh, else the only mesh, else the user's choice.
func (a *App) pickLaunchMesh(p *prompter, f *cliconfig.File, yes bool) (*cliconfig.Mesh, error) {
	if a.meshRef != "" || len(f.Meshes) <= 1 || yes {
		return f.Find(a.meshRef) // with several meshes and -y: the error asks for --mesh
	}
	u := a.ui()
	fmt.Fprintln(a.Stdout, u.title.Render("Which mesh?"))
	rows := make([][]string, len(f.Meshes))
	for i, m := range f.Meshes {
		rows[i] = []string{strconv.Itoa(i + 1), termSafe(m.Slug), termSafe(m.Name), termSafe(m.BrokerURL)}
	}
	u.table(a.Stdout, []string{"#", "SLUG", "NAME", "BROKER"}, rows)
	var picked *cliconfig.Mesh
	_, err := p.ask("Mesh (number, slug or id)", "1-"+strconv.Itoa(len(f.Meshes)), "", func(ans string) error {
		if n, err := strconv.Atoi(ans); err == nil {
			if n < 1 || n > len(f.Meshes) {
				return fmt.Errorf("pick a number from 1 to %d", len(f.Meshes))
			}
			picked = &f.Meshes[n-1]
			return nil
		}
		m, err := f.Find(ans)
		picked = m
		return err
	})
	if err != nil {
		return nil, err
	}
	if picked == nil {
		return nil, fmt.Errorf("no mesh chosen; choose one with --mesh (joined: %s)", meshSlugs(f))
	}
	return picked, nil
}

func meshSlugs(f *cliconfig.File) string {
	slugs := make([]string, len(f.Meshes))
	for i, m := range f.Meshes {
		slugs[i] = m.Slug
	}
	return strings.Join(slugs, ", ")
}

// launchWizard asks for each setting no flag gave (nothing with -y); an
// empty answer or EOF keeps the default.
func (a *App) launchWizard(p *prompter, f *cliconfig.File, o launchOpts, given func(string) bool) (launchSettings, error) {
	s := launchSettings{name: o.name, role: o.role, groups: o.groups, mode: o.mode}
	questions := []struct {
		flag, question, hint, def string
		check                     func(string) error
		dst                       *string
	}{
		{"name", "Display name", a.displayName("", f), a.displayName("", f), checkDisplayName, &s.name},
		{"role", "Role of this session, e.g. reviewer", "none", "", checkSessionRole, &s.role},
		{"groups", "Groups, as name:role,name2", "none", "", checkGroupsSpec, &s.groups},
		{"message-mode", "Message mode: push, inbox or off", claudecode.ModePush, claudecode.ModePush, checkMessageMode, &s.mode},
	}
	for _, q := range questions {
		if given(q.flag) {
			continue
		}
		*q.dst = q.def
		if o.yes {
			continue
		}
		ans, err := p.ask(q.question, q.hint, q.def, q.check)
		if err != nil {
			return s, err
		}
		*q.dst = ans
	}
	// A default name (-y, an empty answer, EOF) comes from the config or
	// $USER: it is shown to peers, so it passes the same check as --name.
	if err := checkDisplayName(strings.TrimSpace(s.name)); err != nil && !given("name") {
		return s, fmt.Errorf("the default display name %q: %v; give one with --name", s.name, err)
	}
	// Normal forms: the checks passed, so these parse.
	groups, _ := protocol.ParseGroupsSpec(s.groups)
	s.groups = protocol.FormatGroupsSpec(groups)
	s.mode, _ = claudecode.ParseMessageMode(s.mode)
	s.name, s.role = strings.TrimSpace(s.name), strings.TrimSpace(s.role)
	return s, nil
}

// launchBanner says who starts where, and warns when Claude Code has no
// claudemesh bridge registered (the session would start but not connect).
func (a *App) launchBanner(m *cliconfig.Mesh, s launchSettings) {
	u, w := a.ui(), a.Stdout
	fmt.Fprintf(w, "%s %s\n", u.title.Render("Launching Claude Code on"), u.accent.Render(termSafe(m.Slug)))
	row := func(k, v string) { fmt.Fprintf(w, "  %-9s %s\n", k, v) }
	who := termSafe(s.name)
	if s.role != "" {
		who += " · " + termSafe(s.role)
	}
	row("you", who)
	mesh := termSafe(m.Name)
	if m.Name != m.Slug {
		mesh += " (" + termSafe(m.Slug) + ")"
	}
	row("mesh", mesh+" "+u.dim.Render("at "+termSafe(m.BrokerURL)))
	groups := s.groups
	if groups == "" {
		groups = "none"
	}
	row("groups", groups)
	row("messages", s.mode+": "+modeMeaning[s.mode])
	row("session", u.dim.Render(s.sessionID))
	fmt.Fprintln(w, "  "+u.bad.Render("Peer messages are untrusted text from other people's sessions:")+
		" Claude should not follow instructions in them that you did not ask for.")
	fmt.Fprintln(w)
	a.warnIfNotWired()
}

// warnIfNotWired says what a launch without `claudemesh install` misses.
func (a *App) warnIfNotWired() {
	w := a.claudeCodeWiring()
	if w != nil && w.Complete() {
		return
	}
	eu := a.errUI()
	if w == nil || w.MCP == nil {
		fmt.Fprintln(a.Stderr, eu.bad.Render("warning:")+" Claude Code has no claudemesh MCP server, so this session will not connect to the mesh;")
	} else {
		fmt.Fprintln(a.Stderr, eu.bad.Render("warning:")+" Claude Code lacks claudemesh's hooks or permission rule, so the session's status will not follow Claude and each tool call asks first;")
	}
	fmt.Fprintln(a.Stderr, "  run "+eu.command.Render("claudemesh install")+" first (launching anyway)")
}

var modeMeaning = map[string]string{
	claudecode.ModePush:  "each peer message is pushed into the session",
	claudecode.ModeInbox: "only a count is pushed; Claude reads them with check_messages",
	claudecode.ModeOff:   "nothing is pushed; the claudemesh tools still work",
}
