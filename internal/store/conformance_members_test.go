package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func TestMembers(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		must(t, s.CreateMesh(ctx, store.Mesh{ID: "mesh2", Name: "Two", Slug: "two", OwnerPubkey: pubkey(9), CreatedAt: t0}))

		dave := store.Member{ID: "dave", MeshID: f.mesh.ID, Pubkey: pubkey(4), DisplayName: "Dave",
			Role: store.RoleMember, Groups: []store.Group{{Name: "backend", Role: "lead"}, {Name: "ops"}},
			JoinedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Hour)}
		must(t, s.AddMember(ctx, dave))
		got, err := s.GetMember(ctx, f.mesh.ID, "dave")
		must(t, err)
		want := dave
		want.JoinedAt, want.UpdatedAt = ms(dave.JoinedAt), ms(dave.UpdatedAt)
		equal(t, "member", got, want)

		conflicts := []struct {
			name string
			m    store.Member
			want error
		}{
			{"live pubkey in mesh", store.Member{ID: "dave2", MeshID: f.mesh.ID, Pubkey: dave.Pubkey}, store.ErrConflict},
			{"member id", store.Member{ID: "dave", MeshID: f.mesh.ID, Pubkey: pubkey(5)}, store.ErrConflict},
			{"unknown mesh", store.Member{ID: "x", MeshID: "nope", Pubkey: pubkey(6)}, store.ErrNotFound},
		}
		for _, c := range conflicts {
			c.m.Role, c.m.JoinedAt = store.RoleMember, t0
			if err := s.AddMember(ctx, c.m); err == nil {
				t.Fatalf("%s: AddMember succeeded", c.name)
			} else {
				wantErr(t, err, c.want)
			}
		}
		// The same key in another mesh is another identity.
		must(t, s.AddMember(ctx, store.Member{ID: "dave-m2", MeshID: "mesh2", Pubkey: dave.Pubkey,
			Role: store.RoleMember, JoinedAt: t0}))

		for _, c := range []struct{ mesh, id string }{{f.mesh.ID, "nope"}, {"mesh2", "dave"}} {
			_, err := s.GetMember(ctx, c.mesh, c.id)
			wantErr(t, err, store.ErrNotFound)
		}

		// Revoke: idempotent, keeps the first time, moves updated_at.
		at := t0.Add(2 * time.Hour)
		r, err := s.RevokeMember(ctx, f.mesh.ID, "dave", at)
		must(t, err)
		if r.RevokedAt == nil || !r.RevokedAt.Equal(ms(at)) || r.UpdatedAt.Before(ms(at)) {
			t.Fatalf("revoked member = %+v", r)
		}
		r2, err := s.RevokeMember(ctx, f.mesh.ID, "dave", at.Add(time.Hour))
		must(t, err)
		if !r2.RevokedAt.Equal(ms(at)) || r2.UpdatedAt.Before(r.UpdatedAt) {
			t.Fatalf("second revoke = %+v", r2)
		}
		_, err = s.RevokeMember(ctx, f.mesh.ID, "nope", at)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.RevokeMember(ctx, "mesh2", "dave", at)
		wantErr(t, err, store.ErrNotFound)

		// A revoked member's key may join again as a new member.
		back := store.Member{ID: "dave-again", MeshID: f.mesh.ID, Pubkey: dave.Pubkey,
			Role: store.RoleMember, JoinedAt: t0.Add(3 * time.Hour)}
		must(t, s.AddMember(ctx, back))
		got, err = s.GetMember(ctx, f.mesh.ID, back.ID)
		must(t, err)
		if !got.UpdatedAt.Equal(ms(back.JoinedAt)) || got.Groups == nil || len(got.Groups) != 0 {
			t.Fatalf("re-added member = %+v (UpdatedAt defaults to JoinedAt, Groups to empty)", got)
		}

		list, err := s.ListMembers(ctx, f.mesh.ID)
		must(t, err)
		var ids []string
		for _, m := range list {
			ids = append(ids, m.ID)
		}
		equal(t, "ListMembers", ids, []string{"alice", "bob", "carol", "dave", "dave-again"})
	})
}

func TestSetMemberGroups(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		groups := []store.Group{{Name: "frontend"}, {Name: "reviewers", Role: "lead"}}
		must(t, s.SetMemberGroups(ctx, f.mesh.ID, f.bob.ID, groups))
		got, err := s.GetMember(ctx, f.mesh.ID, f.bob.ID)
		must(t, err)
		equal(t, "groups", got.Groups, groups)
		if !got.UpdatedAt.After(f.bob.UpdatedAt) {
			t.Fatalf("UpdatedAt %v did not move past %v", got.UpdatedAt, f.bob.UpdatedAt)
		}
		must(t, s.SetMemberGroups(ctx, f.mesh.ID, f.bob.ID, nil))
		got, err = s.GetMember(ctx, f.mesh.ID, f.bob.ID)
		must(t, err)
		equal(t, "cleared groups", got.Groups, []store.Group{})
		wantErr(t, s.SetMemberGroups(ctx, f.mesh.ID, "nope", groups), store.ErrNotFound)
		wantErr(t, s.SetMemberGroups(ctx, "other", f.bob.ID, groups), store.ErrNotFound)
	})
}

func TestMembersChangedSince(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s) // alice, bob, carol updated at t0+1s, +2s, +3s
		cases := []struct {
			since time.Time
			want  []string
		}{
			{t0, []string{"alice", "bob", "carol"}},
			{f.bob.UpdatedAt, []string{"bob", "carol"}}, // inclusive
			{ms(f.bob.UpdatedAt).Add(time.Millisecond), []string{"carol"}},
			{t0.Add(time.Hour), nil},
		}
		for _, c := range cases {
			list, err := s.MembersChangedSince(ctx, c.since)
			must(t, err)
			var ids []string
			for _, m := range list {
				ids = append(ids, m.ID)
			}
			equal(t, "MembersChangedSince("+c.since.String()+")", ids, c.want)
		}
		_, err := s.RevokeMember(ctx, f.mesh.ID, f.alice.ID, t0.Add(2*time.Hour))
		must(t, err)
		list, err := s.MembersChangedSince(ctx, t0.Add(time.Hour))
		must(t, err)
		if len(list) != 1 || list[0].ID != f.alice.ID || list[0].RevokedAt == nil {
			t.Fatalf("after revoke: %+v", list)
		}
	})
}
