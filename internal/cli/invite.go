package cli

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// maxInviteLifetime is the broker's bound on expires_at (a year and a day).
const maxInviteLifetime = 366 * 24 * time.Hour

type inviteOpts struct {
	role    string
	maxUses int
	expires string
	email   string
	v1      bool
}

func (a *App) inviteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "invite", Short: "Create, list and revoke invites (admin)", Args: noArgs}
	var o inviteOpts
	create := &cobra.Command{
		Use:   "create",
		Short: "Mint an invite link signed by the mesh owner key",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return a.createInvite(cmd, o) },
	}
	create.Flags().StringVar(&o.role, "role", "member", "role of whoever joins: member or admin")
	create.Flags().IntVar(&o.maxUses, "max-uses", 1, "how many people may join with it")
	create.Flags().StringVar(&o.expires, "expires", "7d", "lifetime, like 7d, 24h or 30m (at most 366d)")
	create.Flags().StringVar(&o.email, "email", "", "also mail the link to this address (when the broker has SMTP)")
	create.Flags().BoolVar(&o.v1, "v1", false, "mint a deprecated v1 link that embeds the mesh root key (for old clients)")
	a.meshFlag(create)
	a.jsonFlag(create)

	list := &cobra.Command{
		Use: "list", Short: "List the mesh's invites with their uses and status", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.listInvites(cmd) },
	}
	a.meshFlag(list)
	a.jsonFlag(list)

	revoke := &cobra.Command{
		Use: "revoke <invite id or code>", Short: "Revoke an invite so nobody can join with it any more",
		Args: exactArgs(1, "invite id or code"),
		RunE: func(cmd *cobra.Command, args []string) error { return a.revokeInvite(cmd, args[0]) },
	}
	a.meshFlag(revoke)
	a.jsonFlag(revoke)
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// parseLifetime reads 7d, 24h, 30m, 1h30m: Go durations plus whole days.
func parseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("--expires %q: want a duration like 7d, 24h or 30m", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--expires %q: want a duration like 7d, 24h or 30m", s)
		}
	}
	if d < time.Minute || d > maxInviteLifetime {
		return 0, fmt.Errorf("--expires %q: must be between 1m and 366d", s)
	}
	return d, nil
}

// checkInviteOpts validates flags before anything touches the broker.
func checkInviteOpts(o inviteOpts) (time.Duration, error) {
	if o.role != "member" && o.role != "admin" {
		return 0, usagef("--role must be member or admin, got %q", o.role)
	}
	if o.maxUses < 1 || o.maxUses > 10000 {
		return 0, usagef("--max-uses must be 1 to 10000, got %d", o.maxUses)
	}
	if o.email != "" && (!strings.Contains(o.email, "@") || strings.ContainsAny(o.email, " <>")) {
		return 0, usagef("--email must be a plain address like name@example.com, got %q", o.email)
	}
	life, err := parseLifetime(o.expires)
	if err != nil {
		return 0, usageError{err}
	}
	return life, nil
}

func (a *App) createInvite(cmd *cobra.Command, o inviteOpts) error {
	life, err := checkInviteOpts(o)
	if err != nil {
		return err
	}
	f, err := a.loadConfig()
	if err != nil {
		return err
	}
	m, err := f.Find(a.meshRef)
	if err != nil {
		return err
	}
	k, err := meshKeys(m)
	if err != nil {
		return err
	}
	if k.Owner == nil {
		return refusedf("only the mesh owner's machine can sign invites for %s (this config has no ownerSecretKey for it); ask the owner to run `claudemesh invite create`", m.Slug)
	}
	api, err := adminAPI(m)
	if err != nil {
		return err
	}
	expiresAt := a.Now().Add(life).Unix()
	req := brokerapi.MintRequest{MaxUses: o.maxUses, Email: o.email}
	if o.v1 {
		if k.RootKey == nil {
			return fmt.Errorf("mesh %s: the config holds no rootKey, which a v1 invite must embed", m.Slug)
		}
		ws, err := client.WebSocketURL(m.BrokerURL)
		if err != nil {
			return fmt.Errorf("mesh %s: brokerUrl: %w", m.Slug, err)
		}
		p := invite.SignV1(invite.V1Payload{MeshID: m.MeshID, MeshSlug: m.Slug, BrokerURL: ws, ExpiresAt: expiresAt,
			MeshRootKey: m.RootKey, Role: o.role}, k.Owner)
		if req.Token, err = invite.EncodeV1Token(p); err != nil {
			return fmt.Errorf("building the v1 token: %w", err)
		}
		req.Version = 1
		fmt.Fprintln(a.Stderr, a.errUI().bad.Render("warning:")+" a v1 link embeds the mesh root key: anyone who sees it can read every message of "+m.Slug+
			" for as long as the key lives. Prefer v2 invites (the default) unless the joiner runs an old client.")
	} else {
		req.Version, req.InviteID, req.Role, req.ExpiresAt = 2, ids.New("inv"), o.role, expiresAt
		canonical := invite.V2Canonical(m.MeshID, req.InviteID, expiresAt, o.role, pubHex(k.Owner))
		req.Capability = &brokerapi.Capability{Canonical: canonical, Signature: protocol.SignHex(k.Owner, canonical)}
	}
	minted, err := api.MintInvite(cmd.Context(), m.MeshID, req)
	if err != nil {
		return fmt.Errorf("creating an invite for %s on %s: %w", m.Slug, api.Base, err)
	}
	if minted.URL, err = ownerSignedLink(minted.URL, minted.Code, pubHex(k.Owner)); err != nil {
		return fmt.Errorf("creating an invite for %s on %s: %w", m.Slug, api.Base, err)
	}
	return a.printMinted(m, minted, o)
}

// ownerSignedLink checks the link the broker built names the minted code and
// sets its #fp fragment from the owner key this machine holds: the fragment
// is what lets a joiner detect a lying broker, so the broker must not pick it.
func ownerSignedLink(link, code, ownerPubkey string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("the broker answered an invite link %q that is not an http(s) URL", link)
	}
	if !strings.HasSuffix(u.Path, "/i/"+code) {
		return "", fmt.Errorf("the broker answered an invite link %q that does not name the minted code %s", link, code)
	}
	fp, err := invite.OwnerFingerprint(ownerPubkey)
	if err != nil {
		return "", err
	}
	u.Fragment, u.RawFragment = fp, ""
	return u.String(), nil
}

// stdoutIsTerminal decides whether a QR code is printed; tests replace it.
var stdoutIsTerminal = isTerminal

func (a *App) printMinted(m *cliconfig.Mesh, minted brokerapi.MintedInvite, o inviteOpts) error {
	if a.jsonOut {
		return a.printJSON(minted)
	}
	u := a.ui()
	role := minted.Role
	if role == "" {
		role = o.role
	}
	fmt.Fprintf(a.Stdout, "%s for %s: %s, %s, expires %s\n", u.ok.Render("Invite created"), u.title.Render(m.Slug),
		role, plural(minted.MaxUses, "use"), time.Unix(minted.ExpiresAt, 0).Local().Format("2006-01-02 15:04"))
	fmt.Fprintf(a.Stdout, "\n  %s\n\n", u.accent.Render(minted.URL))
	if o.v1 && minted.Token != "" {
		if base, err := v1Base(m.BrokerURL); err == nil {
			fmt.Fprintf(a.Stdout, "  long v1 link: %s/join/%s\n\n", base, minted.Token)
		}
	}
	if stdoutIsTerminal(a.Stdout) {
		if q, err := qrcode.New(minted.URL, qrcode.Medium); err == nil {
			fmt.Fprintln(a.Stdout, q.ToSmallString(false))
		}
	}
	if minted.EmailStatus != "" {
		fmt.Fprintf(a.Stdout, "  email    %s: %s\n", minted.EmailStatus, minted.EmailMessage)
	}
	fmt.Fprintf(a.Stdout, "  invite   %s (code %s)\n", minted.InviteID, minted.Code)
	u.nextStep(a.Stdout, "send the link; the other person runs:", "claudemesh join '"+minted.URL+"'")
	return nil
}

func (a *App) listInvites(cmd *cobra.Command) error {
	m, api, err := a.adminMesh()
	if err != nil {
		return err
	}
	list, err := api.Invites(cmd.Context(), m.MeshID)
	if err != nil {
		return fmt.Errorf("listing the invites of %s on %s: %w", m.Slug, api.Base, err)
	}
	if a.jsonOut {
		if list == nil {
			list = []brokerapi.Invite{}
		}
		return a.printJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(a.Stdout, "No invites in %s yet.\n", m.Slug)
		a.ui().nextStep(a.Stdout, "make one:", "claudemesh invite create --mesh "+m.Slug)
		return nil
	}
	u := a.ui()
	rows := make([][]string, 0, len(list))
	for _, inv := range list {
		status := inv.Status
		if status == "active" {
			status = u.ok.Render(status)
		} else {
			status = u.dim.Render(status)
		}
		var emails []string
		for _, e := range inv.Emails {
			emails = append(emails, e.Email+" ("+e.Status+")")
		}
		rows = append(rows, []string{inv.Code, "v" + strconv.Itoa(inv.Version), inv.Role,
			fmt.Sprintf("%d/%d", inv.UsedCount, inv.MaxUses), status,
			time.Unix(inv.ExpiresAt, 0).Local().Format("2006-01-02 15:04"), inv.InviteID, strings.Join(emails, ", ")})
	}
	u.table(a.Stdout, []string{"CODE", "VER", "ROLE", "USES", "STATUS", "EXPIRES", "INVITE ID", "EMAIL"}, rows)
	return nil
}

func (a *App) revokeInvite(cmd *cobra.Command, ref string) error {
	m, api, err := a.adminMesh()
	if err != nil {
		return err
	}
	id := ref
	// A code is easier to copy from a link than the id: look it up.
	if invite.IsCode(ref) {
		list, err := api.Invites(cmd.Context(), m.MeshID)
		if err != nil {
			return fmt.Errorf("looking up invite %s in %s on %s: %w", ref, m.Slug, api.Base, err)
		}
		for _, inv := range list {
			if inv.Code == ref {
				id = inv.InviteID
			}
		}
	}
	out, err := api.RevokeInvite(cmd.Context(), m.MeshID, id)
	if err != nil {
		return fmt.Errorf("revoking invite %s of %s on %s: %w", ref, m.Slug, api.Base, err)
	}
	if a.jsonOut {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.Stdout, "%s %s in %s: nobody can join with it any more.\n", a.ui().ok.Render("Revoked invite"), out.InviteID, m.Slug)
	return nil
}

// adminMesh picks --mesh and an HTTP client signing as its owner or admin.
func (a *App) adminMesh() (*cliconfig.Mesh, *brokerapi.Client, error) {
	f, err := a.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	m, err := f.Find(a.meshRef)
	if err != nil {
		return nil, nil, err
	}
	api, err := adminAPI(m)
	if err != nil {
		return nil, nil, err
	}
	return m, api, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
