package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func testInvite(f *fixture, id, code string) store.Invite {
	return store.Invite{ID: id, MeshID: f.mesh.ID, Code: code, Version: 2, Role: store.RoleMember, MaxUses: 2,
		ExpiresAt: t0.Add(time.Hour), CreatedBy: f.alice.Pubkey, InviterName: "Alice", CreatedAt: t0,
		CapabilityCanonical: "v=2|c", CapabilitySignature: "sig", Preset: `{"role_tag":"qa"}`}
}

func TestInviteRows(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		inv := testInvite(f, "inv1", "AAAAAAAA")
		email := &store.PendingInvite{ID: "p1", MeshID: f.mesh.ID, InviteID: "inv1", Email: "d@example.com",
			Code: "AAAAAAAA", CreatedBy: f.alice.Pubkey, CreatedAt: t0}
		must(t, s.CreateInvite(ctx, inv, email))
		if err := s.CreateInvite(ctx, testInvite(f, "inv2", "AAAAAAAA"), nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate code: %v", err)
		}
		got, err := s.GetInviteByCode(ctx, "AAAAAAAA")
		must(t, err)
		if got.CapabilityCanonical != "v=2|c" || got.Preset != inv.Preset || !got.ExpiresAt.Equal(ms(inv.ExpiresAt)) || got.Status(t0) != "active" {
			t.Fatalf("round trip: %+v", got)
		}
		must(t, s.SetEmailSent(ctx, "p1", t0, "refused"))
		must(t, s.SetEmailSent(ctx, "p1", t0.Add(time.Second), ""))
		list, err := s.ListInvites(ctx, f.mesh.ID)
		must(t, err)
		if len(list) != 1 || len(list[0].Emails) != 1 || list[0].Emails[0].SentAt == nil || list[0].Emails[0].SendError != "" {
			t.Fatalf("listing: %+v", list)
		}
		revoked, err := s.RevokeInvite(ctx, f.mesh.ID, "inv1", t0.Add(time.Minute))
		must(t, err)
		again, err := s.RevokeInvite(ctx, f.mesh.ID, "inv1", t0.Add(time.Hour))
		must(t, err)
		if revoked.Status(t0) != "revoked" || !again.RevokedAt.Equal(*revoked.RevokedAt) {
			t.Fatalf("revoke keeps the first time: %v %v", revoked.RevokedAt, again.RevokedAt)
		}
		list, _ = s.ListInvites(ctx, f.mesh.ID)
		if list[0].Emails[0].RevokedAt == nil {
			t.Fatal("revoking an invite left its email invite pending")
		}
		if _, err := s.RevokeInvite(ctx, "other-mesh", "inv1", t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoke from another mesh: %v", err)
		}
		m, err := s.RenameMesh(ctx, f.mesh.ID, "New Name", "new-name")
		must(t, err)
		if m.Name != "New Name" || m.Slug != "new-name" {
			t.Fatalf("rename: %+v", m)
		}
	})
}

func TestClaimInviteRules(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		must(t, s.CreateInvite(ctx, testInvite(f, "inv1", "BBBBBBBB"), nil))
		claim := func(pubkey string, at time.Time, check func(store.Invite, store.Mesh) error) (store.ClaimResult, error) {
			return s.ClaimInvite(ctx, store.Claim{Code: "BBBBBBBB", PeerPubkey: pubkey, DisplayName: "new", ClaimedBy: "x",
				MemberID: "new" + pubkey[60:], Now: at, Check: check})
		}
		refuse := errors.New("capability refused")
		if _, err := claim(pubkey(10), t0, func(store.Invite, store.Mesh) error { return refuse }); !errors.Is(err, refuse) {
			t.Fatalf("check error: %v", err)
		}
		if _, err := claim(pubkey(10), t0.Add(2*time.Hour), nil); !errors.Is(err, store.ErrInviteExpired) {
			t.Fatalf("expired: %v", err)
		}
		res, err := claim(f.bob.Pubkey, t0, nil)
		if err != nil || !res.Existing || res.Member.ID != f.bob.ID {
			t.Fatalf("existing member: %+v, %v", res, err)
		}
		for i := range 2 {
			res, err := claim(pubkey(20+i), t0, nil)
			if err != nil || res.Existing || res.Member.Role != store.RoleMember || res.Invite.UsedCount != i+1 {
				t.Fatalf("claim %d: %+v, %v", i, res, err)
			}
		}
		if _, err := claim(pubkey(30), t0, nil); !errors.Is(err, store.ErrInviteExhausted) {
			t.Fatalf("third claim of a 2-use invite: %v", err)
		}
		if inv, _ := s.GetInvite(ctx, "inv1"); inv.UsedCount != 2 {
			t.Fatalf("used_count %d", inv.UsedCount)
		}
		head, err := s.GetAuditHead(ctx, f.mesh.ID)
		if err != nil || head.Seq != 4 { // member_joined + invite_claimed per successful claim
			t.Fatalf("audit head after two claims: %+v, %v", head, err)
		}
		if _, err := s.ClaimInvite(ctx, store.Claim{Code: "NOPE0000", PeerPubkey: pubkey(40), Now: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown code: %v", err)
		}
		_, err = s.RevokeInvite(ctx, f.mesh.ID, "inv1", t0)
		must(t, err)
		if _, err := claim(pubkey(41), t0.Add(2*time.Hour), nil); !errors.Is(err, store.ErrInviteRevoked) {
			t.Fatalf("revoked and expired reports revoked first: %v", err)
		}
	})
}
