package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func TestClaimMemberQueue(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		expired := f.msg("expired", to(f.bob, ""))
		expired.ExpiresAt = t0
		f.commit(t, 0,
			f.msg("queued", to(f.bob, "")),
			f.msg("both", to(f.bob, ""), to(f.bob, "s1")), // the claim would collide
			f.msg("other-session", to(f.bob, "s2")),
			f.msg("carols", to(f.carol, "")),
			expired,
			f.msg("done", to(f.bob, "")),
			f.msg("queued2", to(f.bob, "")),
		)
		must(t, s.MarkDelivered(ctx, []store.DeliveryKey{{MessageID: "done", MemberID: f.bob.ID}}, t0))

		n, err := s.ClaimMemberQueue(ctx, "other-mesh", f.bob.ID, "s1", t0)
		must(t, err)
		if n != 0 {
			t.Fatalf("claim in another mesh took %d rows", n)
		}
		n, err = s.ClaimMemberQueue(ctx, f.mesh.ID, f.bob.ID, "s1", t0)
		must(t, err)
		if n != 2 {
			t.Fatalf("claimed %d rows, want 2 (queued, queued2)", n)
		}
		equal(t, "bob/s1", f.pendingIDs(t, f.bob, "s1"), []string{"queued", "both", "queued2"})
		equal(t, "bob member-bound", f.pendingIDs(t, f.bob, ""), []string{})
		equal(t, "bob/s2", f.pendingIDs(t, f.bob, "s2"), []string{"other-session"})
		equal(t, "carol", f.pendingIDs(t, f.carol, ""), []string{"carols"})

		// The redundant member-bound row is gone, not duplicated.
		st, err := s.MessageStatus(ctx, f.mesh.ID, "both")
		must(t, err)
		if len(st.Recipients) != 1 || st.Recipients[0].SessionID != "s1" {
			t.Fatalf("rows of 'both': %+v", st.Recipients)
		}
		// Expired and delivered member-bound rows stay where they are.
		for _, id := range []string{"expired", "done"} {
			st, err := s.MessageStatus(ctx, f.mesh.ID, id)
			must(t, err)
			if len(st.Recipients) != 1 || st.Recipients[0].SessionID != "" {
				t.Fatalf("rows of %q: %+v", id, st.Recipients)
			}
		}
		n, err = s.ClaimMemberQueue(ctx, f.mesh.ID, f.bob.ID, "s3", t0)
		must(t, err)
		if n != 0 {
			t.Fatalf("second claim took %d rows", n)
		}
	})
}

func TestPendingForSession(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		var msgs []store.NewMessage
		for _, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
			msgs = append(msgs, f.msg(id, to(f.bob, "s1")))
		}
		msgs[3].ExpiresAt = t0.Add(time.Minute) // "p4" expires first
		f.commit(t, 0, msgs...)
		must(t, s.MarkDelivered(ctx, []store.DeliveryKey{{MessageID: "p2", MemberID: f.bob.ID, SessionID: "s1"}}, t0))

		all, err := s.PendingForSession(ctx, f.mesh.ID, f.bob.ID, "s1", t0, 0, 0)
		must(t, err)
		if len(all) != 4 {
			t.Fatalf("pending rows: %+v", all)
		}
		cases := []struct {
			name          string
			mesh, session string
			now           time.Time
			after         int64
			limit         int
			want          []string
		}{
			{"all", f.mesh.ID, "s1", t0, 0, 0, []string{"p1", "p3", "p4", "p5"}},
			{"limit", f.mesh.ID, "s1", t0, 0, 2, []string{"p1", "p3"}},
			{"after a seq (paging)", f.mesh.ID, "s1", t0, all[1].Seq, 1, []string{"p4"}},
			{"after the last seq", f.mesh.ID, "s1", t0, all[3].Seq, 0, nil},
			{"expiry is exclusive", f.mesh.ID, "s1", ms(t0).Add(time.Minute), 0, 0, []string{"p1", "p3", "p5"}},
			{"other session", f.mesh.ID, "s2", t0, 0, 0, nil},
			{"member-bound is another queue", f.mesh.ID, "", t0, 0, 0, nil},
			{"other mesh", "mesh2", "s1", t0, 0, 0, nil},
		}
		for _, c := range cases {
			ds, err := s.PendingForSession(ctx, c.mesh, f.bob.ID, c.session, c.now, c.after, c.limit)
			must(t, err)
			var ids []string
			for i, d := range ds {
				ids = append(ids, d.MessageID)
				if i > 0 && d.Seq <= ds[i-1].Seq {
					t.Fatalf("%s: not in seq order", c.name)
				}
			}
			equal(t, c.name, ids, c.want)
		}
	})
}

func TestMarkDelivered(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		short := f.msg("short", to(f.bob, "s1"))
		short.ExpiresAt = t0.Add(time.Second)
		f.commit(t, 0, f.msg("d1", to(f.bob, "s1"), to(f.carol, "")), f.msg("d2", to(f.bob, "s1")), short)
		_, err := s.ExpireDeliveries(ctx, t0.Add(time.Minute), time.Hour)
		must(t, err)

		at := t0.Add(time.Second)
		keys := []store.DeliveryKey{
			{MessageID: "d1", MemberID: f.bob.ID, SessionID: "s1"},
			{MessageID: "d2", MemberID: f.bob.ID, SessionID: "s1"},
			{MessageID: "short", MemberID: f.bob.ID, SessionID: "s1"}, // expired: stays expired
			{MessageID: "d1", MemberID: f.bob.ID, SessionID: "nope"},  // unknown: ignored
			{MessageID: "nope", MemberID: f.bob.ID, SessionID: "s1"},
		}
		must(t, s.MarkDelivered(ctx, keys, at))
		must(t, s.MarkDelivered(ctx, keys[:1], at.Add(time.Hour))) // keeps the first time
		must(t, s.MarkDelivered(ctx, nil, at))

		st, err := s.MessageStatus(ctx, f.mesh.ID, "d1")
		must(t, err)
		deliveredAt := ms(at)
		equal(t, "rows of d1", st.Recipients, []store.RecipientStatus{
			{MemberID: f.bob.ID, SessionID: "s1", Pubkey: f.bob.Pubkey, Name: "Bob", Status: store.DeliveryDelivered, DeliveredAt: &deliveredAt},
			{MemberID: f.carol.ID, Pubkey: f.carol.Pubkey, Name: "Carol", Status: store.DeliveryPending},
		})
		st, err = s.MessageStatus(ctx, f.mesh.ID, "short")
		must(t, err)
		if st.Recipients[0].Status != store.DeliveryExpired || st.Recipients[0].DeliveredAt != nil {
			t.Fatalf("expired row after MarkDelivered: %+v", st.Recipients[0])
		}
	})
}

func TestMessageStatus(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		must(t, s.CreateMesh(ctx, store.Mesh{ID: "mesh2", Name: "Two", Slug: "two", OwnerPubkey: pubkey(9), CreatedAt: t0}))
		m := f.msg("st1", to(f.carol, "c2"), to(f.carol, "c1"), to(f.bob, ""), to(f.bob, "b1"))
		m.TargetSpec, m.Priority = `["bob","carol"]`, "next"
		f.commit(t, 0, m)

		st, err := s.MessageStatus(ctx, f.mesh.ID, "st1")
		must(t, err)
		row := func(mem store.Member, session string) store.RecipientStatus {
			return store.RecipientStatus{MemberID: mem.ID, SessionID: session, Pubkey: mem.Pubkey,
				Name: mem.DisplayName, Status: store.DeliveryPending}
		}
		equal(t, "status", st, store.MessageStatus{MessageID: "st1", MeshID: f.mesh.ID,
			SenderMemberID: f.alice.ID, TargetSpec: m.TargetSpec, Priority: "next",
			Recipients: []store.RecipientStatus{row(f.bob, ""), row(f.bob, "b1"), row(f.carol, "c1"), row(f.carol, "c2")}})

		for _, c := range []struct{ mesh, id string }{{"mesh2", "st1"}, {f.mesh.ID, "nope"}} {
			_, err := s.MessageStatus(ctx, c.mesh, c.id)
			wantErr(t, err, store.ErrNotFound)
		}
	})
}

func TestExpireDeliveries(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		now := t0.Add(10 * 24 * time.Hour)
		const retain = 48 * time.Hour
		at := func(id string, expires time.Time, rs ...store.Recipient) store.NewMessage {
			m := f.msg(id, rs...)
			m.ExpiresAt = expires
			return m
		}
		f.commit(t, 0,
			at("recent", now.Add(-time.Hour), to(f.bob, "s1"), to(f.carol, "")),
			at("alive", now.Add(time.Hour), to(f.bob, "s1")),
			at("old", now.Add(-3*24*time.Hour), to(f.bob, "s1")),
			at("edge", now, to(f.bob, "s1")), // expires_at <= now: expired
			at("old-delivered", now.Add(-3*24*time.Hour), to(f.bob, "s1")),
			at("fresh-delivered", now.Add(4*24*time.Hour), to(f.bob, "s1")),
		)
		var delivered []store.DeliveryKey
		for _, id := range []string{"recent", "old-delivered", "fresh-delivered"} {
			delivered = append(delivered, store.DeliveryKey{MessageID: id, MemberID: f.bob.ID, SessionID: "s1"})
		}
		must(t, s.MarkDelivered(ctx, delivered, t0))

		status := func(id string) []string {
			t.Helper()
			st, err := s.MessageStatus(ctx, f.mesh.ID, id)
			if err != nil {
				wantErr(t, err, store.ErrNotFound)
				return nil
			}
			out := []string{}
			for _, r := range st.Recipients {
				out = append(out, r.Status)
			}
			return out
		}
		n, err := s.ExpireDeliveries(ctx, now, retain)
		must(t, err)
		if n != 3 {
			t.Fatalf("expired %d rows, want 3 (recent/carol, old, edge)", n)
		}
		equal(t, "recent", status("recent"), []string{store.DeliveryDelivered, store.DeliveryExpired})
		equal(t, "alive", status("alive"), []string{store.DeliveryPending})
		equal(t, "edge", status("edge"), []string{store.DeliveryExpired})
		// Past TTL+retain, delivered rows go too, and with them the ciphertext.
		for _, id := range []string{"old", "old-delivered"} {
			equal(t, id+" (swept)", status(id), []string(nil))
		}
		equal(t, "fresh-delivered", status("fresh-delivered"), []string{store.DeliveryDelivered})
		equal(t, "pending", f.pendingIDs(t, f.bob, "s1"), []string{"alive"})

		// Past the retention of all but fresh-delivered (expired, but within
		// retain): every row of the others goes, and the messages with them.
		n, err = s.ExpireDeliveries(ctx, now.Add(5*24*time.Hour), retain)
		must(t, err)
		if n != 1 {
			t.Fatalf("second sweep expired %d rows, want 1 (alive)", n)
		}
		for _, id := range []string{"recent", "alive", "edge"} {
			equal(t, id+" (swept)", status(id), []string(nil))
		}
		equal(t, "fresh-delivered", status("fresh-delivered"), []string{store.DeliveryDelivered})
		msgs, pending, err := s.CountMessages(ctx, f.mesh.ID)
		must(t, err)
		if msgs != 1 || pending != 0 {
			t.Fatalf("left: %d messages, %d pending rows; want 1, 0", msgs, pending)
		}
	})
}
