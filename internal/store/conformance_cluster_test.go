package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func presenceOn(f *fixture, id string, m store.Member, session, node string) store.Presence {
	return store.Presence{ID: id, MeshID: f.mesh.ID, MemberID: m.ID, SessionID: session, NodeID: node,
		DisplayName: m.DisplayName, ConnectedAt: t0, Capabilities: []string{"client_ack"},
		PresenceState: store.PresenceState{Status: "idle", StatusSource: "manual", Groups: []store.Group{{Name: "ops", Role: "lead"}}}}
}

func sessionKeys(refs []store.SessionRef) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.MemberID+"/"+r.SessionID)
	}
	return out
}

func wakeupKeys(ws []store.Wakeup) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%s/%s@%d", w.MemberID, w.SessionID, w.MaxSeq))
	}
	return out
}

// TestClusterNodes: liveness, takeover of a dead node's presences, the
// presences other nodes list, and which sessions count as orphaned.
func TestClusterNodes(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		must(t, s.RegisterNode(ctx, "n1", t0))
		must(t, s.RegisterNode(ctx, "n2", t0))
		must(t, s.InsertPresence(ctx, presenceOn(f, "p1", f.bob, "s1", "n1")))
		must(t, s.InsertPresence(ctx, presenceOn(f, "p2", f.carol, "c1", "n2")))
		must(t, s.InsertPresence(ctx, presenceOn(f, "p3", f.alice, "a1", "legacy"))) // no node row: never live
		must(t, s.InsertPresence(ctx, presenceOn(f, "p4", f.bob, "s2", "n2")))
		must(t, s.EndPresence(ctx, "p4", t0.Add(time.Second)))

		live, err := s.LivePresences(ctx, "n1")
		must(t, err)
		if len(live) != 1 || live[0].ID != "p2" || live[0].NodeID != "n2" || live[0].Status != "idle" ||
			len(live[0].Groups) != 1 || live[0].Groups[0].Role != "lead" || len(live[0].Capabilities) != 1 {
			t.Fatalf("live presences except n1 = %+v", live)
		}
		st := store.PresenceState{Status: "working", StatusSource: "hook", Summary: "deploying", Groups: []store.Group{}}
		must(t, s.UpdatePresenceState(ctx, "p2", st))
		wantErr(t, s.UpdatePresenceState(ctx, "nope", st), store.ErrNotFound)
		live, err = s.LivePresences(ctx, "n1")
		must(t, err)
		equal(t, "updated state", live[0].PresenceState, st)

		ps, err := s.SessionPresences(ctx, f.mesh.ID, f.bob.ID, "s2", t0)
		must(t, err)
		if len(ps) != 1 || ps[0].ID != "p4" || ps[0].EndedAt == nil {
			t.Fatalf("recently ended presence = %+v", ps)
		}
		ps, err = s.SessionPresences(ctx, f.mesh.ID, f.bob.ID, "s2", t0.Add(time.Second))
		must(t, err)
		equal(t, "presences ended before the window", len(ps), 0)

		f.commit(t, 0,
			f.msg("m1", to(f.bob, "s1"), to(f.carol, "c1"), to(f.alice, "a1")),
			f.msg("m2", pinned(f.carol, "c1")))
		orphans, err := s.OrphanedSessions(ctx)
		must(t, err)
		// bob/s1 lives on n1; alice/a1's node is unknown; carol/c1's n2 is live.
		equal(t, "orphans", sessionKeys(orphans), []string{f.alice.ID + "/a1"})

		ok, err := s.HeartbeatNode(ctx, "n1", t0.Add(time.Second))
		must(t, err)
		equal(t, "n1 heartbeat", ok, true)
		// n2 holds no liveness lock (PostgreSQL) and SQLite admits one node:
		// n1 declares it dead and gets the session it held.
		dead, err := s.ClaimDeadNodes(ctx, store.DeadNodeRule{Self: "n1", StaleBefore: t0.Add(-time.Minute), QuietBefore: t0.Add(time.Minute), Now: t0.Add(2 * time.Second)})
		must(t, err)
		if len(dead) != 1 || dead[0].NodeID != "n2" || dead[0].PresenceID != "p2" || dead[0].SessionID != "c1" || dead[0].MemberID != f.carol.ID {
			t.Fatalf("claimed = %+v", dead)
		}
		again, err := s.ClaimDeadNodes(ctx, store.DeadNodeRule{Self: "n1", StaleBefore: t0.Add(-time.Minute), QuietBefore: t0.Add(time.Minute), Now: t0.Add(3 * time.Second)})
		must(t, err)
		equal(t, "second claim", len(again), 0)
		live, err = s.LivePresences(ctx, "n1")
		must(t, err)
		equal(t, "live presences after the claim", len(live), 0)
		orphans, err = s.OrphanedSessions(ctx)
		must(t, err)
		equal(t, "orphans after the claim", sessionKeys(orphans), []string{f.alice.ID + "/a1", f.carol.ID + "/c1"})

		ok, err = s.HeartbeatNode(ctx, "n2", t0.Add(3*time.Second))
		must(t, err)
		equal(t, "dead node heartbeat", ok, false)
		must(t, s.RegisterNode(ctx, "n2", t0.Add(4*time.Second)))
		ok, err = s.HeartbeatNode(ctx, "n2", t0.Add(5*time.Second))
		must(t, err)
		equal(t, "re-registered node heartbeat", ok, true)
	})
}

// TestPendingWakeups: the catch-up poll finds a node's live sessions with
// rows (their own or their member's) newer than the watermark.
func TestPendingWakeups(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		must(t, s.RegisterNode(ctx, "n1", t0))
		must(t, s.InsertPresence(ctx, presenceOn(f, "p1", f.bob, "s1", "n1")))
		must(t, s.InsertPresence(ctx, presenceOn(f, "p2", f.carol, "c1", "n1")))
		eph := presenceOn(f, "p3", f.alice, "a1", "n1")
		eph.Ephemeral = true
		must(t, s.InsertPresence(ctx, eph))
		must(t, s.InsertPresence(ctx, presenceOn(f, "p4", f.alice, "a2", "n2")))
		res := f.commit(t, 0, f.msg("m1", to(f.bob, "s1")), f.msg("m2", to(f.carol, ""), to(f.alice, "")))

		ws, maxSeq, err := s.PendingWakeups(ctx, "n1", t0, 0)
		must(t, err)
		equal(t, "wakeups", wakeupKeys(ws), []string{
			fmt.Sprintf("%s/s1@%d", f.bob.ID, res[0].Seq), fmt.Sprintf("%s/c1@%d", f.carol.ID, res[1].Seq)})
		equal(t, "max seq", maxSeq, res[1].Seq)
		ws, _, err = s.PendingWakeups(ctx, "n1", t0, res[0].Seq)
		must(t, err)
		equal(t, "wakeups after m1", wakeupKeys(ws), []string{fmt.Sprintf("%s/c1@%d", f.carol.ID, res[1].Seq)})
		must(t, s.MarkDelivered(ctx, []store.DeliveryKey{{MessageID: "m1", MemberID: f.bob.ID, SessionID: "s1"}}, t0))
		ws, _, err = s.PendingWakeups(ctx, "n1", t0, 0)
		must(t, err)
		equal(t, "wakeups after delivery", wakeupKeys(ws), []string{fmt.Sprintf("%s/c1@%d", f.carol.ID, res[1].Seq)})
		ws, _, err = s.PendingWakeups(ctx, "n1", t0.Add(25*time.Hour), 0)
		must(t, err)
		equal(t, "wakeups for expired rows", wakeupKeys(ws), []string{})
	})
}

// TestRememberHello: a key is a replay until it expires, then fresh again.
func TestRememberHello(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		for _, c := range []struct {
			at   time.Duration // after t0; each record expires a minute later
			want bool
		}{{0, true}, {30 * time.Second, false}, {61 * time.Second, true}, {90 * time.Second, false}} {
			at := t0.Add(c.at)
			fresh, err := s.RememberHello(ctx, "k1", at, at.Add(time.Minute))
			must(t, err)
			equal(t, "fresh at t0+"+c.at.String(), fresh, c.want)
		}
		fresh, err := s.RememberHello(ctx, "k2", t0.Add(90*time.Second), t0.Add(2*time.Minute))
		must(t, err)
		equal(t, "another key", fresh, true)
	})
}

// TestNotifyAndListen: PostgreSQL delivers payloads to listeners and a
// listener's node counts as live while its heartbeat is fresh; SQLite has
// no listeners (one broker per data directory).
func TestNotifyAndListen(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := s.Listen(ctx, "n3")
		if s.Backend() == "sqlite" {
			if !errors.Is(err, store.ErrUnsupported) {
				t.Fatalf("sqlite Listen = %v, want ErrUnsupported", err)
			}
			must(t, s.Notify(ctx, []string{"x"}))
			return
		}
		must(t, err)
		defer l.Close()
		must(t, s.Notify(ctx, []string{"one", "two"}))
		for _, want := range []string{"one", "two"} {
			got, err := l.Wait(ctx)
			must(t, err)
			equal(t, "payload", got, want)
		}

		now := time.Now()
		must(t, s.RegisterNode(ctx, "n3", now))
		rule := store.DeadNodeRule{Self: "n1", StaleBefore: now.Add(-time.Minute), QuietBefore: now.Add(time.Second), Now: now}
		_, err = s.ClaimDeadNodes(ctx, rule)
		must(t, err)
		ok, err := s.HeartbeatNode(ctx, "n3", now)
		must(t, err)
		equal(t, "listening node alive", ok, true)
		// A stale heartbeat is death even with the lock held (a hung node).
		_, err = s.ClaimDeadNodes(ctx, store.DeadNodeRule{Self: "n1", StaleBefore: now.Add(time.Second), Now: now})
		must(t, err)
		ok, err = s.HeartbeatNode(ctx, "n3", now)
		must(t, err)
		equal(t, "stale node alive", ok, false)

		// Closing a listener frees its node's lock: the node is dead
		// without waiting for its heartbeat to go stale, but only once its
		// last heartbeat is older than QuietBefore. n4's heartbeat is old,
		// n3's fresh; both listeners close, n3's first.
		l4, err := s.Listen(ctx, "n4")
		must(t, err)
		must(t, s.RegisterNode(ctx, "n3", now))
		must(t, s.RegisterNode(ctx, "n4", now.Add(-10*time.Second)))
		must(t, l.Close())
		must(t, l4.Close())
		claimUntilDead := func(node string, quiet time.Time) {
			t.Helper()
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err := s.ClaimDeadNodes(ctx, store.DeadNodeRule{Self: "n1", StaleBefore: now.Add(-time.Minute), QuietBefore: quiet, Now: now})
				must(t, err)
				if !nodeAlive(t, s, node) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still alive 5 s after its listener closed", node)
				}
				time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
			}
		}
		claimUntilDead("n4", now.Add(-5*time.Second))
		equal(t, "lock-less node within its grace alive", nodeAlive(t, s, "n3"), true)
		claimUntilDead("n3", now.Add(time.Second))
	})
}

// nodeAlive reports whether a node is registered and not declared dead,
// without moving its heartbeat (a heartbeat at the zero time changes nothing).
func nodeAlive(t *testing.T, s store.Store, node string) bool {
	t.Helper()
	ok, err := s.HeartbeatNode(context.Background(), node, time.Time{})
	must(t, err)
	return ok
}
