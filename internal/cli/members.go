package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
)

func (a *App) membersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "members", Short: "List the mesh's members (admin)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.listMembers(cmd) },
	}
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}

func (a *App) listMembers(cmd *cobra.Command) error {
	m, api, err := a.adminMesh()
	if err != nil {
		return err
	}
	list, err := api.Members(cmd.Context(), m.MeshID)
	if err != nil {
		return fmt.Errorf("listing the members of %s on %s: %w", m.Slug, api.Base, err)
	}
	if a.jsonOut {
		if list == nil {
			list = []brokerapi.Member{}
		}
		return a.printJSON(list)
	}
	u := a.ui()
	rows := make([][]string, 0, len(list))
	for _, mem := range list {
		name := mem.DisplayName
		if mem.MemberID == m.MemberID {
			name += u.dim.Render(" (you)")
		}
		var status string
		switch {
		case mem.RevokedAt != "":
			status = u.dim.Render("revoked " + dateOf(mem.RevokedAt))
		case mem.OnlineSessions > 0:
			status = u.ok.Render("online, " + plural(mem.OnlineSessions, "session"))
		case mem.LastSeenAt != "":
			status = "seen " + dateOf(mem.LastSeenAt)
		default:
			status = u.dim.Render("never connected")
		}
		rows = append(rows, []string{termSafe(name), mem.Role, status, mem.MemberID, short(mem.Pubkey), dateOf(mem.JoinedAt)})
	}
	u.table(a.Stdout, []string{"NAME", "ROLE", "STATUS", "MEMBER ID", "PUBKEY", "JOINED"}, rows)
	return nil
}

// dateOf shortens an ISO timestamp to minutes for tables.
func dateOf(iso string) string {
	if len(iso) >= 16 {
		return strings.Replace(iso[:16], "T", " ", 1)
	}
	return iso
}

func (a *App) kickCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kick <member>",
		Short: "Revoke a member (admin): by member id, public key (or a unique prefix) or display name",
		Args:  exactArgs(1, "member"),
		RunE:  func(cmd *cobra.Command, args []string) error { return a.kick(cmd, args[0]) },
	}
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}

func (a *App) kick(cmd *cobra.Command, ref string) error {
	m, api, err := a.adminMesh()
	if err != nil {
		return err
	}
	list, err := api.Members(cmd.Context(), m.MeshID)
	if err != nil {
		return fmt.Errorf("looking up %q among the members of %s on %s: %w", ref, m.Slug, api.Base, err)
	}
	target, err := pickMember(list, ref)
	if err != nil {
		return err
	}
	if target.MemberID == m.MemberID {
		return fmt.Errorf("%s is you; to leave the mesh run `claudemesh leave %s`", ref, m.Slug)
	}
	out, err := api.RevokeMember(cmd.Context(), m.MeshID, target.MemberID)
	if err != nil {
		return fmt.Errorf("revoking %s (%s) in %s on %s: %w", target.DisplayName, target.MemberID, m.Slug, api.Base, err)
	}
	if a.jsonOut {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.Stdout, "%s %s (%s) from %s: their live sessions are closed and their key no longer works.\n",
		a.ui().ok.Render("Revoked"), target.DisplayName, target.MemberID, m.Slug)
	return nil
}

// pickMember finds the one live member ref names: an exact member id or
// public key first, then a key prefix of at least 8 hex characters or a
// display name (case-insensitive). Several matches are an error listing them.
func pickMember(list []brokerapi.Member, ref string) (brokerapi.Member, error) {
	var live []brokerapi.Member
	for _, mem := range list {
		if mem.RevokedAt == "" {
			live = append(live, mem)
		}
	}
	for _, mem := range live {
		if mem.MemberID == ref || mem.Pubkey == strings.ToLower(ref) {
			return mem, nil
		}
	}
	var hits []brokerapi.Member
	for _, mem := range live {
		prefix := len(ref) >= 8 && strings.HasPrefix(mem.Pubkey, strings.ToLower(ref))
		if prefix || strings.EqualFold(mem.DisplayName, ref) {
			hits = append(hits, mem)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		for _, mem := range list {
			if mem.RevokedAt != "" && (mem.MemberID == ref || strings.EqualFold(mem.DisplayName, ref)) {
				return mem, fmt.Errorf("%s (%s) is already revoked", mem.DisplayName, mem.MemberID)
			}
		}
		return brokerapi.Member{}, fmt.Errorf("no live member is %q: use a member id, public key or display name from `claudemesh members`", ref)
	}
	names := make([]string, 0, len(hits))
	for _, h := range hits {
		names = append(names, h.DisplayName+" "+h.MemberID+" key "+short(h.Pubkey))
	}
	return brokerapi.Member{}, fmt.Errorf("%q names %s members (%s): use the member id", ref, strconv.Itoa(len(hits)), strings.Join(names, "; "))
}
