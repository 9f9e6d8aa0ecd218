package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// TestRecentSessions: a restarted node finds its own non-ephemeral
// presences that are still open or ended at or after `since`.
func TestRecentSessions(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		add := func(id, member, session, node string, ephemeral bool, ended *time.Time) {
			must(t, s.InsertPresence(ctx, store.Presence{ID: id, MeshID: f.mesh.ID, MemberID: member,
				SessionID: session, NodeID: node, Ephemeral: ephemeral, ConnectedAt: t0.Add(time.Duration(len(id)) * time.Millisecond)}))
			if ended != nil {
				must(t, s.EndPresence(ctx, id, *ended))
			}
		}
		recent, old := t0.Add(time.Minute), t0.Add(-time.Minute)
		add("p", f.alice.ID, "open", "node-a", false, nil)
		add("pp", f.bob.ID, "ended-recently", "node-a", false, &recent)
		add("ppp", f.bob.ID, "ended-long-ago", "node-a", false, &old)
		add("pppp", f.carol.ID, "ephemeral", "node-a", true, nil)
		add("ppppp", f.carol.ID, "other-node", "node-b", false, nil)

		got, err := s.RecentSessions(ctx, "node-a", t0)
		must(t, err)
		want := []store.RecentSession{
			{SessionRef: store.SessionRef{MeshID: f.mesh.ID, MemberID: f.alice.ID, SessionID: "open"}, PresenceID: "p"},
			{SessionRef: store.SessionRef{MeshID: f.mesh.ID, MemberID: f.bob.ID, SessionID: "ended-recently"}, PresenceID: "pp", EndedAt: &[]time.Time{ms(recent)}[0]},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("recent sessions:\n got %+v\nwant %+v", got, want)
		}
		got, err = s.RecentSessions(ctx, "", t0) // every node
		must(t, err)
		want = append(want, store.RecentSession{SessionRef: store.SessionRef{MeshID: f.mesh.ID, MemberID: f.carol.ID, SessionID: "other-node"}, PresenceID: "ppppp"})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("recent sessions of every node:\n got %+v\nwant %+v", got, want)
		}
	})
}
