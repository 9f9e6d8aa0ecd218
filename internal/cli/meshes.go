package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/invite"
)

// leaveRevokeTimeout bounds the courtesy revoke of `leave`: forgetting the
// mesh locally must not hang on a broker that does not answer.
const leaveRevokeTimeout = 5 * time.Second

func (a *App) listCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "list", Short: "List the meshes this machine has joined", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.listMeshes() },
	}
	a.jsonFlag(cmd)
	return cmd
}

// meshSummary is the --json form of a joined mesh: no secret keys.
type meshSummary struct {
	MeshID    string `json:"mesh_id"`
	Slug      string `json:"slug"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	MemberID  string `json:"member_id"`
	BrokerURL string `json:"broker_url"`
	JoinedAt  string `json:"joined_at"`
	Owner     bool   `json:"owner"`
}

func summarize(m cliconfig.Mesh) meshSummary {
	return meshSummary{MeshID: m.MeshID, Slug: m.Slug, Name: m.Name, Role: m.Role, MemberID: m.MemberID,
		BrokerURL: m.BrokerURL, JoinedAt: m.JoinedAt, Owner: m.OwnerSecretKey != ""}
}

func (a *App) listMeshes() error {
	f, err := a.loadConfig()
	if err != nil {
		return err
	}
	if a.jsonOut {
		out := make([]meshSummary, 0, len(f.Meshes))
		for _, m := range f.Meshes {
			out = append(out, summarize(m))
		}
		return a.printJSON(out)
	}
	u := a.ui()
	if len(f.Meshes) == 0 {
		fmt.Fprintln(a.Stdout, "No mesh joined yet.")
		u.nextStep(a.Stdout, "create a mesh, or join one with an invite link:", "claudemesh mesh create <name>    or    claudemesh join <invite-url>")
		return nil
	}
	rows := make([][]string, 0, len(f.Meshes))
	for _, m := range f.Meshes {
		role := m.Role
		if m.OwnerSecretKey != "" {
			role += ", owner"
		}
		rows = append(rows, []string{u.title.Render(m.Slug), m.Name, role, m.BrokerURL, m.MeshID})
	}
	u.table(a.Stdout, []string{"SLUG", "NAME", "ROLE", "BROKER", "MESH ID"}, rows)
	return nil
}

func (a *App) whoamiCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "whoami", Short: "Show your identity in each joined mesh", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.whoami() },
	}
	a.jsonFlag(cmd)
	return cmd
}

// identity is one mesh's line of `whoami`. Fingerprint is computed like an
// invite link's #fp: the first 20 hex of sha256 over the key bytes.
type identity struct {
	MeshID      string `json:"mesh_id"`
	Slug        string `json:"slug"`
	MemberID    string `json:"member_id"`
	Pubkey      string `json:"pubkey"`
	Fingerprint string `json:"fingerprint"`
	Role        string `json:"role"`
	Owner       bool   `json:"owner"`
	DisplayName string `json:"display_name"`
	BrokerURL   string `json:"broker_url"`
}

func (a *App) whoami() error {
	f, err := a.loadConfig()
	if err != nil {
		return err
	}
	out := make([]identity, 0, len(f.Meshes))
	for _, m := range f.Meshes {
		fp, err := invite.OwnerFingerprint(m.Pubkey)
		if err != nil {
			return fmt.Errorf("mesh %s: pubkey in the config: %w", m.Slug, err)
		}
		out = append(out, identity{MeshID: m.MeshID, Slug: m.Slug, MemberID: m.MemberID, Pubkey: m.Pubkey, Fingerprint: fp,
			Role: m.Role, Owner: m.OwnerSecretKey != "", DisplayName: a.displayName("", f), BrokerURL: m.BrokerURL})
	}
	if a.jsonOut {
		return a.printJSON(out)
	}
	if len(out) == 0 {
		fmt.Fprintf(a.Stdout, "You are %s, in no mesh yet.\n", a.displayName("", f))
		return nil
	}
	u := a.ui()
	rows := make([][]string, 0, len(out))
	for _, id := range out {
		role := id.Role
		if id.Owner {
			role += ", owner"
		}
		rows = append(rows, []string{u.title.Render(id.Slug), id.DisplayName, role, id.MemberID, id.Fingerprint, id.BrokerURL})
	}
	u.table(a.Stdout, []string{"MESH", "NAME", "ROLE", "MEMBER ID", "KEY FINGERPRINT", "BROKER"}, rows)
	return nil
}

func (a *App) leaveCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "leave <mesh>",
		Short: "Forget a mesh on this machine, and revoke your membership when the broker lets you",
		Args:  exactArgs(1, "mesh"),
		RunE:  func(cmd *cobra.Command, args []string) error { return a.leave(cmd.Context(), args[0], yes) },
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "leave without asking, even a mesh this machine owns")
	return cmd
}

func (a *App) leave(ctx context.Context, ref string, yes bool) error {
	f, err := a.loadConfig()
	if err != nil {
		return err
	}
	found, err := f.Find(ref)
	if err != nil {
		return err
	}
	m := *found
	u := a.ui()
	if m.OwnerSecretKey != "" && !yes {
		fmt.Fprintf(a.Stdout, "%s This machine holds the owner key of %s. Leaving deletes it: nobody can sign invites for this mesh again.\n",
			u.bad.Render("Careful:"), m.Slug)
		if !a.confirm(fmt.Sprintf("Leave %s? [y/N] ", m.Slug)) {
			return refusedf("not left: you did not answer yes; %s is unchanged", m.Slug)
		}
	}
	note := a.revokeSelf(ctx, &m)
	dir, err := a.configDir()
	if err != nil {
		return err
	}
	if err := cliconfig.Update(dir, func(f *cliconfig.File) error { f.Remove(m.MeshID); return nil }); err != nil {
		return fmt.Errorf("forgetting %s: %w", m.Slug, err)
	}
	fmt.Fprintf(a.Stdout, "%s %s: its keys are deleted from this machine.\n", u.ok.Render("Left"), m.Slug)
	fmt.Fprintln(a.Stdout, "  "+note)
	return nil
}

// revokeSelf revokes this machine's member on the broker when its key may:
// the API lets only the owner key and admins revoke members, so a plain
// member's row stays until an admin kicks it (its key is gone with the
// config, so nobody can use it). The answer is a line for the user.
func (a *App) revokeSelf(ctx context.Context, m *cliconfig.Mesh) string {
	if m.Role != "admin" && m.OwnerSecretKey == "" {
		return fmt.Sprintf("The broker keeps member %s until an admin runs `claudemesh kick %s` (members cannot revoke themselves).", m.MemberID, m.MemberID)
	}
	api, err := adminAPI(m)
	if err != nil {
		return "Your membership was not revoked on the broker: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, leaveRevokeTimeout)
	defer cancel()
	if _, err := api.RevokeMember(ctx, m.MeshID, m.MemberID); err != nil {
		if errors.Is(err, brokerapi.ErrUnreachable) {
			return fmt.Sprintf("The broker at %s did not answer, so member %s is not revoked there; an admin can run `claudemesh kick %s`.", api.Base, m.MemberID, m.MemberID)
		}
		return fmt.Sprintf("Revoking member %s on %s failed: %v", m.MemberID, api.Base, err)
	}
	return fmt.Sprintf("Member %s is revoked on %s.", m.MemberID, api.Base)
}
