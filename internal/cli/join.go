package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

type joinOpts struct {
	yes    bool
	name   string
	broker string
}

func (a *App) joinCmd() *cobra.Command {
	var o joinOpts
	cmd := &cobra.Command{
		Use:   "join <invite link or code>",
		Short: "Join a mesh with an invite: shows what you join, asks, then claims",
		Long: "Accepts https://host/i/<code>[#fp] links, bare 8-character codes (with --broker or\n" +
			"CLAUDEMESH_BROKER_URL), and deprecated v1 links (ic://join/<token>, https://host/join/<token>).",
		Args: exactArgs(1, "invite link or code"),
		RunE: func(cmd *cobra.Command, args []string) error { return a.join(cmd.Context(), args[0], o) },
	}
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "join without asking")
	cmd.Flags().StringVar(&o.name, "name", "", "your display name in the mesh (default $USER)")
	cmd.Flags().StringVar(&o.broker, "broker", "", "broker URL for a bare code (default $CLAUDEMESH_BROKER_URL)")
	return cmd
}

func (a *App) join(ctx context.Context, arg string, o joinOpts) error {
	if o.broker == "" {
		o.broker = a.Getenv("CLAUDEMESH_BROKER_URL")
	}
	ref, err := parseInviteRef(arg, o.broker)
	if err != nil {
		return err
	}
	f, err := a.loadConfig()
	if err != nil {
		return err
	}
	if ref.Token != "" {
		return a.joinV1(ctx, f, ref, ref.Token, nil, o)
	}
	api, err := brokerapi.New(ref.Base)
	if err != nil {
		return usagef("%v", err)
	}
	info, err := api.InviteInfo(ctx, ref.Code)
	if err != nil {
		return fmt.Errorf("looking up invite %s on %s: %w", ref.Code, api.Base, err)
	}
	if err := checkLive(info.Status, ref.Code); err != nil {
		return err
	}
	if info.Version == 1 {
		token, err := api.V1Token(ctx, ref.Code)
		if err != nil {
			return fmt.Errorf("fetching the v1 token of invite %s from %s: %w", ref.Code, api.Base, err)
		}
		return a.joinV1(ctx, f, ref, token, &info, o)
	}
	// The #fp check runs before anything is claimed (and again on the claim
	// answer): a link whose fragment does not match gets nothing.
	if err := checkFingerprint(ref.FP, info.OwnerPubkey); err != nil {
		return err
	}
	if m := findByID(f, info.MeshID); m != nil {
		return a.alreadyJoined(m)
	}
	a.consentCard(card{mesh: info.MeshName, slug: info.MeshSlug, inviter: info.InviterName, role: info.Role,
		members: info.MemberCount, online: info.OnlineCount, expiresAt: info.ExpiresAt, broker: api.Base, fpChecked: ref.FP != "" && info.OwnerPubkey != ""})
	if !o.yes && !a.confirm(fmt.Sprintf("Join %s as %s? [y/N] ", info.MeshName, titleRole(info.Role))) {
		return refusedf("not joined: you did not answer yes; nothing was claimed")
	}
	display := a.displayName(o.name, f)
	xpub, xsk, err := protocol.GenerateX25519()
	if err != nil {
		return err
	}
	_, member, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	recipient, peer, ts := protocol.EncodeB64URL(xpub[:]), pubHex(member), a.Now().UnixMilli()
	claimed, err := api.Claim(ctx, ref.Code, brokerapi.ClaimRequest{
		RecipientX25519: recipient, PeerPubkey: peer, DisplayName: display, Timestamp: ts,
		Signature: protocol.SignHex(member, protocol.ClaimCanonical(ref.Code, recipient, peer, ts)),
	})
	if err != nil {
		return fmt.Errorf("claiming invite %s on %s: %w", ref.Code, api.Base, err)
	}
	rootKey, err := verifyClaim(ref, info, claimed, xpub, xsk)
	if err != nil {
		return refusedf("the broker's answer to the claim does not check out, so %s was NOT saved: %v "+
			"(the broker created member %s; tell whoever invited you)", info.MeshName, err, claimed.MemberID)
	}
	return a.saveJoined(cliconfig.Mesh{
		MeshID: claimed.MeshID, MemberID: claimed.MemberID, Slug: claimed.MeshSlug, Name: claimed.MeshName,
		Pubkey: peer, SecretKey: hex.EncodeToString(member), BrokerURL: api.Base, JoinedAt: isoNow(a.Now()),
		RootKey: protocol.EncodeB64URL(rootKey), Role: claimed.Role,
	}, display)
}

// checkLive refuses an invite the broker reports as no longer usable.
func checkLive(status, code string) error {
	switch status {
	case "", "active":
		return nil
	case "exhausted":
		return refusedf("invite %s is exhausted: it has been used as many times as it allows; ask for a new one", code)
	}
	return refusedf("invite %s is %s; ask for a new one", code, status)
}

// checkFingerprint compares the link's #fp with the owner key the broker
// names. No fragment, or a broker that does not name the key before the
// claim, passes here; verifyClaim checks the claim answer in any case.
func checkFingerprint(fp, ownerPubkey string) error {
	if fp == "" || ownerPubkey == "" {
		return nil
	}
	got, err := invite.OwnerFingerprint(ownerPubkey)
	if err != nil {
		return refusedf("the broker reports an owner key that is not an ed25519 key: %v; nothing was claimed", err)
	}
	if got != fp {
		return refusedf("the link's #%s does not match the mesh owner key the broker reports (fingerprint %s): "+
			"the link was altered or this is not the inviter's broker; nothing was claimed", fp, got)
	}
	return nil
}

// verifyClaim opens the sealed root key and checks the owner's capability
// against everything the join saw: the public info, the link's #fp, and
// the claim answer's own fields.
func verifyClaim(ref inviteRef, info brokerapi.InviteInfo, c brokerapi.Claimed, xpub, xsk *[32]byte) ([]byte, error) {
	rootKey, err := protocol.OpenRootKey(c.SealedRootKey, xpub, xsk)
	if err != nil {
		return nil, err
	}
	if !protocol.IsHexKey(c.OwnerPubkey) || !protocol.VerifyHex(c.OwnerPubkey, c.CanonicalV2, c.CapabilitySignature) {
		return nil, fmt.Errorf("the capability signature does not verify against owner_pubkey")
	}
	if info.OwnerPubkey != "" && info.OwnerPubkey != c.OwnerPubkey {
		return nil, fmt.Errorf("owner_pubkey differs from the one the invite's public info named")
	}
	if err := checkFingerprint(ref.FP, c.OwnerPubkey); err != nil {
		return nil, fmt.Errorf("the owner key does not match the link's #%s", ref.FP)
	}
	parts, err := splitCanonicalV2(c.CanonicalV2)
	if err != nil {
		return nil, err
	}
	switch {
	case parts.meshID != c.MeshID || (info.MeshID != "" && info.MeshID != c.MeshID):
		return nil, fmt.Errorf("the capability is for mesh %q, the answer names %q", parts.meshID, c.MeshID)
	case parts.role != c.Role || parts.role != info.Role:
		return nil, fmt.Errorf("the capability grants role %q, the answer says %q and the invite said %q", parts.role, c.Role, info.Role)
	case parts.expiresAt != info.ExpiresAt:
		return nil, fmt.Errorf("the capability expires at %d, the invite said %d", parts.expiresAt, info.ExpiresAt)
	case parts.ownerPubkey != c.OwnerPubkey:
		return nil, fmt.Errorf("the capability names owner %s, the answer %s", short(parts.ownerPubkey), short(c.OwnerPubkey))
	}
	return rootKey, nil
}

type canonicalV2 struct {
	meshID, inviteID, role, ownerPubkey string
	expiresAt                           int64
}

// splitCanonicalV2 parses v=2|mesh_id|invite_id|expires_at|role|owner_pubkey
// and insists it re-joins to the same string.
func splitCanonicalV2(s string) (canonicalV2, error) {
	var c canonicalV2
	parts := strings.Split(s, "|")
	if len(parts) != 6 || parts[0] != "v=2" {
		return c, fmt.Errorf("canonical_v2 %q is not v=2|mesh_id|invite_id|expires_at|role|owner_pubkey", clip(s, 80))
	}
	var err error
	if c.expiresAt, err = strconv.ParseInt(parts[3], 10, 64); err != nil {
		return c, fmt.Errorf("canonical_v2 expires_at %q is not a number", parts[3])
	}
	c.meshID, c.inviteID, c.role, c.ownerPubkey = parts[1], parts[2], parts[4], parts[5]
	if invite.V2Canonical(c.meshID, c.inviteID, c.expiresAt, c.role, c.ownerPubkey) != s {
		return c, fmt.Errorf("canonical_v2 %q is not in canonical form", clip(s, 80))
	}
	return c, nil
}

// saveJoined adds a freshly joined mesh, never replacing one already there
// (a second identity would orphan the first, and could drop an owner key).
func (a *App) saveJoined(m cliconfig.Mesh, display string) error {
	dir, err := a.configDir()
	if err != nil {
		return err
	}
	var kept *cliconfig.Mesh
	err = cliconfig.Update(dir, func(f *cliconfig.File) error {
		if old := findByID(f, m.MeshID); old != nil { // read under the lock: another run may have joined meanwhile
			kept = old
			return nil
		}
		f.Upsert(m)
		if f.DisplayName == "" {
			f.DisplayName = display
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("joined %s as member %s, but saving it locally failed: %w", m.Slug, m.MemberID, err)
	}
	if kept != nil {
		fmt.Fprintf(a.Stdout, "This machine had already joined %s as member %s; kept that identity (the broker also created member %s, which an admin can kick).\n",
			kept.Slug, kept.MemberID, m.MemberID)
		return nil
	}
	u := a.ui()
	fmt.Fprintf(a.Stdout, "%s %s as %s (member %s)\n", u.ok.Render("Joined"), u.title.Render(m.Name), m.Role, m.MemberID)
	a.suggestNext(u, m.Slug)
	return nil
}

func (a *App) alreadyJoined(m *cliconfig.Mesh) error {
	fmt.Fprintf(a.Stdout, "Already joined %s (%s) as %s, member %s; nothing claimed.\n", m.Name, m.Slug, m.Role, m.MemberID)
	return nil
}

func findByID(f *cliconfig.File, meshID string) *cliconfig.Mesh {
	if meshID == "" {
		return nil
	}
	for i := range f.Meshes {
		if f.Meshes[i].MeshID == meshID {
			return &f.Meshes[i]
		}
	}
	return nil
}
