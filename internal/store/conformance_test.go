package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// t0 is the fixtures' clock. Its nanoseconds check millisecond truncation.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond) }

func pubkey(n int) string { return fmt.Sprintf("%064x", n) }

// fixture is one mesh with three members.
type fixture struct {
	s                 store.Store
	mesh              store.Mesh
	alice, bob, carol store.Member
}

func newFixture(t testing.TB, s store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{s: s, mesh: store.Mesh{ID: "mesh1", Name: "Mesh One", Slug: "mesh-one",
		OwnerPubkey: pubkey(1), RootKey: make([]byte, 32), CreatedAt: t0}}
	must(t, s.CreateMesh(ctx, f.mesh))
	mk := func(id, name string, n int, role string) store.Member {
		m := store.Member{ID: id, MeshID: f.mesh.ID, Pubkey: pubkey(n), DisplayName: name, Role: role,
			Groups: []store.Group{}, JoinedAt: t0.Add(time.Duration(n) * time.Second),
			UpdatedAt: t0.Add(time.Duration(n) * time.Second)}
		must(t, s.AddMember(ctx, m))
		return m
	}
	f.alice = mk("alice", "Alice", 1, store.RoleAdmin)
	f.bob = mk("bob", "Bob", 2, store.RoleMember)
	f.carol = mk("carol", "Carol", 3, store.RoleMember)
	return f
}

// msg is a message from alice, created at t0 and alive for a day.
func (f *fixture) msg(id string, to ...store.Recipient) store.NewMessage {
	return store.NewMessage{ID: id, MeshID: f.mesh.ID, SenderMemberID: f.alice.ID, SenderSessionID: "a1",
		SenderPubkey: f.alice.Pubkey, SenderMemberPubkey: f.alice.Pubkey, SenderName: "Alice",
		TargetSpec: `"bob"`, Priority: "now", Kind: "direct", Enc: "box", Nonce: "bm9uY2U=",
		Ciphertext: "Y2lwaGVy-" + id, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), Recipients: to}
}

// to is a delivery row for m (member-bound when session is "").
func to(m store.Member, session string) store.Recipient {
	return store.Recipient{MemberID: m.ID, SessionID: session, Pubkey: m.Pubkey, Name: m.DisplayName}
}

func (f *fixture) commit(t testing.TB, window time.Duration, msgs ...store.NewMessage) []store.CommitResult {
	t.Helper()
	res, err := f.s.CommitMessages(context.Background(), msgs, window)
	must(t, err)
	if len(res) != len(msgs) {
		t.Fatalf("CommitMessages: %d results for %d messages", len(res), len(msgs))
	}
	return res
}

// pendingIDs lists the message ids pending for a session at t0.
func (f *fixture) pendingIDs(t testing.TB, member store.Member, session string) []string {
	t.Helper()
	ds, err := f.s.PendingForSession(context.Background(), f.mesh.ID, member.ID, session, t0, 0, 0)
	must(t, err)
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.MessageID)
	}
	return ids
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func equal(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func TestMeshes(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		archived := t0.Add(time.Hour)
		a := store.Mesh{ID: "m-a", Name: "A", Slug: "same", OwnerPubkey: pubkey(1),
			RootKey: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: t0}
		b := store.Mesh{ID: "m-b", Name: "B", Slug: "same", OwnerPubkey: pubkey(2),
			CreatedAt: t0, ArchivedAt: &archived}
		must(t, s.CreateMesh(ctx, a))
		must(t, s.CreateMesh(ctx, b)) // slugs are not unique
		wantErr(t, s.CreateMesh(ctx, a), store.ErrConflict)

		for _, want := range []store.Mesh{a, b} {
			got, err := s.GetMesh(ctx, want.ID)
			must(t, err)
			want.CreatedAt = ms(want.CreatedAt)
			if want.ArchivedAt != nil {
				v := ms(*want.ArchivedAt)
				want.ArchivedAt = &v
			}
			equal(t, "mesh", got, want)
		}
		_, err := s.GetMesh(ctx, "nope")
		wantErr(t, err, store.ErrNotFound)
		if s.Backend() == "" {
			t.Fatal("empty Backend()")
		}
		must(t, s.Ping(ctx))
	})
}

func TestPresences(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		p := store.Presence{ID: "p1", MeshID: f.mesh.ID, MemberID: f.bob.ID, SessionID: "s1",
			SessionPubkey: pubkey(99), NodeID: "node-a", DisplayName: "Bob", PID: 4242, CWD: "/src",
			Hostname: "box", PeerType: "ai", Channel: "claude-code", Model: "opus", Ephemeral: true,
			ConnectedAt: t0}
		must(t, s.InsertPresence(ctx, p))
		wantErr(t, s.InsertPresence(ctx, p), store.ErrConflict)
		p2 := p
		p2.ID, p2.MemberID = "p2", "ghost"
		wantErr(t, s.InsertPresence(ctx, p2), store.ErrNotFound)

		must(t, s.EndPresence(ctx, "p1", t0.Add(time.Minute)))
		must(t, s.EndPresence(ctx, "p1", t0.Add(time.Hour))) // idempotent
		wantErr(t, s.EndPresence(ctx, "nope", t0), store.ErrNotFound)
	})
}
