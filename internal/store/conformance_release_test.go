package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// pinned is a delivery row for one session of m, encrypted to its own key.
func pinned(m store.Member, session string) store.Recipient {
	r := to(m, session)
	r.Pinned = true
	return r
}

func TestPinnedRows(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		// bob/s2 is listed twice: once pinned is enough.
		f.commit(t, 0, f.msg("p", pinned(f.bob, "s1"), to(f.bob, "s2"), pinned(f.bob, "s2"), to(f.carol, "")))
		for _, c := range []struct {
			member  store.Member
			session string
			want    bool
		}{{f.bob, "s1", true}, {f.bob, "s2", true}, {f.carol, "", false}} {
			ds, err := s.PendingForSession(ctx, f.mesh.ID, c.member.ID, c.session, t0, 0, 0)
			must(t, err)
			if len(ds) != 1 || ds[0].Pinned != c.want {
				t.Fatalf("%s/%s: %+v, want one row with Pinned=%v", c.member.ID, c.session, ds, c.want)
			}
		}

		// A member-bound row cannot be pinned: the whole batch fails.
		_, err := s.CommitMessages(ctx, []store.NewMessage{f.msg("ok", to(f.bob, "")),
			f.msg("bad", pinned(f.bob, ""))}, 0)
		if err == nil {
			t.Fatal("a pinned member-bound row was committed")
		}
		equal(t, "bob member-bound", f.pendingIDs(t, f.bob, ""), []string{})
	})
}

func TestReleaseSessionRows(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		must(t, s.CreateMesh(ctx, store.Mesh{ID: "mesh2", Name: "Two", Slug: "two", OwnerPubkey: pubkey(9), CreatedAt: t0}))
		expired := f.msg("expired", to(f.bob, "s1"))
		expired.ExpiresAt = t0
		elsewhere := f.msg("elsewhere", to(f.bob, "s1"))
		elsewhere.MeshID = "mesh2"
		f.commit(t, 0,
			f.msg("r1", to(f.bob, "s1")),
			f.msg("pinned", pinned(f.bob, "s1")),
			f.msg("done", to(f.bob, "s1")),
			expired,
			f.msg("twin", to(f.bob, "s1"), to(f.bob, "")), // would collide with the member-bound row
			f.msg("twin-done", to(f.bob, "s1"), to(f.bob, "")),
			f.msg("other-session", to(f.bob, "s2")),
			f.msg("other-member", to(f.carol, "s1")),
			elsewhere,
			f.msg("r2", to(f.bob, "s1")),
		)
		must(t, s.MarkDelivered(ctx, []store.DeliveryKey{{MessageID: "done", MemberID: f.bob.ID, SessionID: "s1"},
			{MessageID: "twin-done", MemberID: f.bob.ID}}, t0))
		_, err := s.ExpireDeliveries(ctx, t0, 24*time.Hour)
		must(t, err)

		release := func(mesh, session string, want int) {
			t.Helper()
			n, err := s.ReleaseSessionRows(ctx, mesh, f.bob.ID, session)
			must(t, err)
			if n != want {
				t.Fatalf("release %s/%s: %d rows, want %d", mesh, session, n, want)
			}
		}
		release("mesh3", "s1", 0)
		release(f.mesh.ID, "", 0)
		release(f.mesh.ID, "s1", 2) // r1, r2; twin and twin-done are deleted, not released
		release(f.mesh.ID, "s1", 0)

		equal(t, "bob member-bound", f.pendingIDs(t, f.bob, ""), []string{"r1", "twin", "r2"})
		equal(t, "bob/s1", f.pendingIDs(t, f.bob, "s1"), []string{"pinned"})
		equal(t, "bob/s2", f.pendingIDs(t, f.bob, "s2"), []string{"other-session"})
		equal(t, "carol/s1", f.pendingIDs(t, f.carol, "s1"), []string{"other-member"})
		ds, err := s.PendingForSession(ctx, "mesh2", f.bob.ID, "s1", t0, 0, 0)
		must(t, err)
		if len(ds) != 1 || ds[0].MessageID != "elsewhere" {
			t.Fatalf("bob/s1 in mesh2: %+v", ds)
		}
		rows := func(id string) []store.RecipientStatus {
			t.Helper()
			st, err := s.MessageStatus(ctx, f.mesh.ID, id)
			must(t, err)
			return st.Recipients
		}
		for id, want := range map[string]struct{ session, status string }{
			"done":      {"s1", store.DeliveryDelivered},
			"expired":   {"s1", store.DeliveryExpired},
			"twin":      {"", store.DeliveryPending},
			"twin-done": {"", store.DeliveryDelivered},
		} {
			if rs := rows(id); len(rs) != 1 || rs[0].SessionID != want.session || rs[0].Status != want.status {
				t.Fatalf("rows of %q: %+v, want one %s row of session %q", id, rs, want.status, want.session)
			}
		}

		// The member's next session claims the released rows, in seq order.
		n, err := s.ClaimMemberQueue(ctx, f.mesh.ID, f.bob.ID, "s3", t0)
		must(t, err)
		if n != 3 {
			t.Fatalf("claimed %d rows, want 3", n)
		}
		ds, err = s.PendingForSession(ctx, f.mesh.ID, f.bob.ID, "s3", t0, 0, 0)
		must(t, err)
		var ids []string
		for i, d := range ds {
			ids = append(ids, d.MessageID)
			if i > 0 && d.Seq <= ds[i-1].Seq {
				t.Fatalf("s3 backlog not in seq order: %+v", ds)
			}
		}
		equal(t, "bob/s3", ids, []string{"r1", "twin", "r2"})
	})
}

func TestCountMessages(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		must(t, s.CreateMesh(ctx, store.Mesh{ID: "mesh2", Name: "Two", Slug: "two", OwnerPubkey: pubkey(9), CreatedAt: t0}))
		count := func(mesh string, wantMsgs, wantPending int) {
			t.Helper()
			msgs, pending, err := s.CountMessages(ctx, mesh)
			must(t, err)
			if msgs != wantMsgs || pending != wantPending {
				t.Fatalf("%s: %d messages, %d pending; want %d, %d", mesh, msgs, pending, wantMsgs, wantPending)
			}
		}
		count(f.mesh.ID, 0, 0)

		short := f.msg("short", to(f.bob, "s1"))
		short.ExpiresAt = t0.Add(time.Minute)
		elsewhere := f.msg("elsewhere", to(f.bob, "s1"))
		elsewhere.MeshID = "mesh2"
		f.commit(t, 0, f.msg("m1", to(f.bob, "s1"), to(f.carol, "")), f.msg("m2", to(f.bob, "s1")), short, elsewhere)
		must(t, s.MarkDelivered(ctx, []store.DeliveryKey{{MessageID: "m2", MemberID: f.bob.ID, SessionID: "s1"}}, t0))
		count(f.mesh.ID, 3, 3)
		count("mesh2", 1, 1)
		count("nope", 0, 0)

		_, err := s.ExpireDeliveries(ctx, t0.Add(time.Hour), 0) // sweeps "short"
		must(t, err)
		count(f.mesh.ID, 2, 2)
	})
}
