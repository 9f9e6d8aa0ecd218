package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// joinV1 is the deprecated v1 join (invites.md §4): the token itself
// carries the root key, signed by the owner; the broker's POST /join only
// records the member. info is the public info when a short code led here.
func (a *App) joinV1(ctx context.Context, f *cliconfig.File, ref inviteRef, token string, info *brokerapi.InviteInfo, o joinOpts) error {
	p, err := invite.DecodeV1Token(token)
	if err != nil {
		if ref.Code != "" { // the broker handed out this token: not the user's typo
			return fmt.Errorf("the v1 token of invite %s is unusable: %w", ref.Code, err)
		}
		return usagef("the v1 invite link is not valid: %v", err)
	}
	if err := p.VerifySignature(); err != nil {
		return refusedf("the v1 invite is not validly signed by its owner key (%v); nothing was joined", err)
	}
	if err := checkFingerprint(ref.FP, p.OwnerPubkey); err != nil {
		return err
	}
	if info != nil && info.OwnerPubkey != "" && info.OwnerPubkey != p.OwnerPubkey {
		return refusedf("the v1 token's owner key differs from the one the broker reports for invite %s; nothing was joined", ref.Code)
	}
	if p.Expired(a.Now()) {
		return refusedf("this v1 invite expired at %s; ask for a new one", fmtTime(p.ExpiresAt))
	}
	if info != nil && ((info.MeshID != "" && info.MeshID != p.MeshID) || (info.Role != "" && info.Role != p.Role)) {
		return refusedf("the v1 token names mesh %s as %s, but the broker reports invite %s for mesh %s as %s; nothing was joined",
			p.MeshID, p.Role, ref.Code, info.MeshID, info.Role)
	}
	// The owner signed broker_url; the host a link came from is not signed,
	// so the join and the saved config use the signed one.
	base, err := v1Base(p.BrokerURL)
	if err != nil {
		return usagef("%v", err)
	}
	if m := findByID(f, p.MeshID); m != nil {
		return a.alreadyJoined(m)
	}
	c := card{mesh: p.MeshSlug, slug: p.MeshSlug, role: p.Role, expiresAt: p.ExpiresAt, broker: base,
		fpChecked: ref.FP != "", v1: true, members: -1}
	if info != nil {
		c.mesh, c.inviter, c.members, c.online = info.MeshName, info.InviterName, info.MemberCount, info.OnlineCount
	}
	a.consentCard(c)
	if !o.yes && !a.confirm(fmt.Sprintf("Join %s as %s? [y/N] ", c.mesh, titleRole(p.Role))) {
		return refusedf("not joined: you did not answer yes; nothing was claimed")
	}
	payload, err := protocol.DecodeB64URL(token)
	if err != nil {
		return err
	}
	display := a.displayName(o.name, f)
	_, member, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	api, err := brokerapi.New(base)
	if err != nil {
		return usagef("%v", err)
	}
	joined, err := api.JoinV1(ctx, brokerapi.JoinV1Request{InviteToken: token, InvitePayload: json.RawMessage(payload),
		PeerPubkey: pubHex(member), DisplayName: display})
	if err != nil {
		return fmt.Errorf("joining %s through %s/join: %w", p.MeshSlug, api.Base, err)
	}
	if joined.MemberID == "" {
		return fmt.Errorf("joining %s through %s/join: the broker answered without a memberId", p.MeshSlug, api.Base)
	}
	return a.saveJoined(cliconfig.Mesh{
		MeshID: p.MeshID, MemberID: joined.MemberID, Slug: p.MeshSlug, Name: c.mesh, Pubkey: pubHex(member),
		SecretKey: hex.EncodeToString(member), BrokerURL: api.Base, JoinedAt: isoNow(a.Now()),
		RootKey: p.MeshRootKey, Role: p.Role,
	}, display)
}
