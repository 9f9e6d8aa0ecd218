package store_test

import (
	"context"
	"testing"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func TestSessionsWithPendingRows(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		f.commit(t, 0,
			f.msg("a", to(f.bob, "s1")),
			f.msg("b", to(f.bob, "s1"), to(f.carol, "c1")),
			f.msg("delivered", to(f.bob, "s2")),
			f.msg("pinned-only", pinned(f.carol, "c2")),
			f.msg("member-bound", to(f.bob, "")),
		)
		must(t, s.MarkDelivered(ctx, []store.DeliveryKey{{MessageID: "delivered", MemberID: f.bob.ID, SessionID: "s2"}}, t0))
		refs, err := s.SessionsWithPendingRows(ctx)
		must(t, err)
		var got []string
		for _, r := range refs {
			if r.MeshID != f.mesh.ID {
				t.Fatalf("ref in another mesh: %+v", r)
			}
			got = append(got, r.MemberID+"/"+r.SessionID)
		}
		equal(t, "sessions", got, []string{f.bob.ID + "/s1", f.carol.ID + "/c1"})
	})
}
