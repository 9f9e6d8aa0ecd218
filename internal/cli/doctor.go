package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// check is one doctor finding. A failed check always carries a fix.
type check struct {
	Section string `json:"section"`
	Name    string `json:"check"`
	OK      bool   `json:"ok"`
	Detail  string `json:"detail,omitempty"`
	Fix     string `json:"fix,omitempty"`

	unreachable bool // the broker did not answer: exit code 4
}

// doctorRun collects the checks of one `claudemesh doctor`.
type doctorRun struct {
	a      *App
	ctx    context.Context
	cfg    *cliconfig.File // nil until the config parsed
	checks []check
}

func (d *doctorRun) pass(section, name, detail string) {
	d.checks = append(d.checks, check{Section: section, Name: name, OK: true, Detail: detail})
}

func (d *doctorRun) fail(section, name, detail, fix string) {
	d.checks = append(d.checks, check{Section: section, Name: name, Detail: detail, Fix: fix})
}

// doctorSuites run in order; each sees what the previous ones found (the
// parsed config). claudeChecks (doctor_claude.go) needs no config.
func (a *App) doctorSuites() []func(*doctorRun) {
	return []func(*doctorRun){configChecks, meshChecks, claudeChecks}
}

func (a *App) doctorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the setup; each failed check prints how to fix it",
		Long: `Check the config directory and file modes, that the config parses, each
mesh's keys, that its broker answers and accepts an authenticated hello,
and the clock skew. Then Claude Code: ` + "`claude`" + ` on PATH and its version, and
what ` + "`claudemesh install`" + ` writes: the MCP server entry in ~/.claude.json
(and that its command is executable), the UserPromptSubmit, Stop and
SessionEnd hooks and the mcp__claudemesh permission rule in
~/.claude/settings.json. Exit code 0 when all pass, 4 when a broker is
unreachable, 1 when any other check fails.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.doctor(cmd.Context()) },
	}
	a.jsonFlag(cmd)
	return cmd
}

func (a *App) doctor(ctx context.Context) error {
	d := &doctorRun{a: a, ctx: ctx}
	for _, suite := range a.doctorSuites() {
		suite(d)
	}
	if a.jsonOut {
		if err := a.printJSON(d.checks); err != nil {
			return err
		}
	} else {
		a.printChecks(d.checks)
	}
	failed, unreachable := 0, false
	for _, c := range d.checks {
		if !c.OK {
			failed++
			unreachable = unreachable || c.unreachable
		}
	}
	switch {
	case failed == 0:
		return nil
	case unreachable:
		return fmt.Errorf("%d check(s) failed; %w", failed, brokerapi.ErrUnreachable)
	}
	return fmt.Errorf("%d check(s) failed", failed)
}

func (a *App) printChecks(checks []check) {
	u := a.ui()
	section := ""
	for _, c := range checks {
		if c.Section != section {
			section = c.Section
			fmt.Fprintln(a.Stdout, u.title.Render(section))
		}
		mark := u.ok.Render("✓")
		if !c.OK {
			mark = u.bad.Render("✗")
		}
		line := fmt.Sprintf("  %s %s", mark, c.Name)
		if c.Detail != "" {
			line += u.dim.Render(": ") + c.Detail
		}
		fmt.Fprintln(a.Stdout, line)
		if !c.OK {
			fmt.Fprintf(a.Stdout, "      %s %s\n", u.accent.Render("fix:"), c.Fix)
		}
	}
}

// configChecks: the directory and file modes, and that the file parses.
func configChecks(d *doctorRun) {
	const sec = "Config"
	dir, err := d.a.configDir()
	if err != nil {
		d.fail(sec, "config directory", err.Error(), "set CLAUDEMESH_CONFIG_DIR or HOME")
		return
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		d.fail(sec, "config directory", dir+" does not exist: nothing is set up yet",
			"create a mesh (claudemesh mesh create <name>) or join one (claudemesh join <invite-url>)")
		return
	case err != nil:
		d.fail(sec, "config directory", err.Error(), "check the permissions of "+filepath.Dir(dir))
		return
	case !st.IsDir():
		d.fail(sec, "config directory", dir+" is not a directory", "move "+dir+" aside; the CLI needs a directory there")
		return
	}
	if err := cliconfig.CheckMode(dir, 0o700); err != nil {
		d.fail(sec, "config directory mode", fmt.Sprintf("%s is %04o, readable by others", dir, st.Mode().Perm()), "chmod 700 "+dir)
	} else {
		d.pass(sec, "config directory mode", dir+" is 0700")
	}
	path := filepath.Join(dir, cliconfig.FileName)
	if fst, err := os.Stat(path); err == nil {
		if cliconfig.CheckMode(path, 0o600) != nil {
			d.fail(sec, "config file mode", fmt.Sprintf("%s is %04o; it holds secret keys", path, fst.Mode().Perm()), "chmod 600 "+path)
		} else {
			d.pass(sec, "config file mode", path+" is 0600")
		}
	}
	f, err := cliconfig.Load(dir)
	if err != nil {
		d.fail(sec, "config parses", err.Error(), "repair the JSON in "+path+", or move it aside and join your meshes again")
		return
	}
	d.pass(sec, "config parses", fmt.Sprintf("%d mesh(es) joined", len(f.Meshes)))
	d.cfg = f
	if len(f.Meshes) == 0 {
		d.fail(sec, "meshes joined", "none", "create a mesh (claudemesh mesh create <name>) or join one (claudemesh join <invite-url>)")
	}
}

// meshChecks: per joined mesh, key shapes, broker, hello and clock.
func meshChecks(d *doctorRun) {
	if d.cfg == nil {
		return
	}
	for i := range d.cfg.Meshes {
		m := &d.cfg.Meshes[i]
		sec := fmt.Sprintf("Mesh %s (%s)", m.Slug, m.BrokerURL)
		rejoin := "this config entry is damaged: run `claudemesh leave " + m.Slug + "` and join the mesh again with a new invite"
		k, err := meshKeys(m)
		if err != nil {
			d.fail(sec, "keys", err.Error(), rejoin)
			continue // without keys nothing else about this mesh can be checked
		}
		if k.RootKey == nil {
			d.fail(sec, "keys", "no rootKey: group and broadcast messages cannot be encrypted or read", rejoin)
		} else {
			d.pass(sec, "keys", "secretKey matches pubkey "+short(m.Pubkey)+", rootKey is 32 bytes")
		}
		p := d.a.probeMesh(d.ctx, d.cfg, m)
		if !p.Reachable {
			d.checks = append(d.checks, check{Section: sec, Name: "broker reachable", Detail: p.Error, unreachable: true,
				Fix: "start the broker, or check the network and the brokerUrl " + m.BrokerURL + " in the config"})
			continue
		}
		if p.Health != "ok" {
			d.fail(sec, "broker reachable", "the broker answers but reports its database down (GET /health: degraded)",
				"look at the broker's logs and its database; mail cannot be stored meanwhile")
		} else {
			d.pass(sec, "broker reachable", "GET /health ok, broker version "+p.Version)
		}
		if p.Hello {
			d.pass(sec, "authenticated hello", "accepted as "+p.Role)
		} else {
			c := check{Section: sec, Name: "authenticated hello", Detail: p.Error, Fix: helloFix(p.helloErr)}
			c.unreachable = errors.Is(p.helloErr, client.ErrUnreachable)
			d.checks = append(d.checks, c)
		}
		switch {
		case p.SkewMs == nil:
			d.fail(sec, "clock skew", "the broker's answer had no Date header to compare with", "check that nothing between you and the broker strips the Date header")
		case p.skewed():
			d.fail(sec, "clock skew", p.skewSentence()+"; hellos are refused beyond 60 s",
				"synchronise the clock (e.g. `timedatectl set-ntp true`, or enable automatic time)")
		default:
			d.pass(sec, "clock skew", p.skewText()+" (within "+skewLimit.String()+")")
		}
	}
}

// helloFix names the remedy for a refused or failed hello.
func helloFix(err error) string {
	var be *client.BrokerError
	if !errors.As(err, &be) {
		if errors.Is(err, client.ErrUnreachable) {
			return "the broker's HTTP port answers but its WebSocket (/ws) does not: check the proxy in front of it"
		}
		return "retry; if it persists, look at the broker's logs"
	}
	switch be.Code {
	case protocol.CodeUnauthorized:
		return "your membership was revoked or the mesh archived: ask an admin for a new invite"
	case protocol.CodeTimestampSkew:
		return "synchronise this machine's clock (e.g. `timedatectl set-ntp true`)"
	case protocol.CodeBadSignature, protocol.CodeMalformed:
		return "the keys in the config do not match: leave the mesh and join it again"
	case protocol.CodeCapacity:
		return "the mesh has its maximum of connections: close some sessions, or ask the operator to raise MAX_CONNECTIONS_PER_MESH"
	}
	return "look at the broker's message above; retry later"
}
