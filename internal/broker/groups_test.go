package broker_test

import (
	"testing"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

func groupsOf(t testing.TB, c *testkit.Client, sessionID string) []any {
	t.Helper()
	for _, p := range request(c, map[string]any{"type": "list_peers"})["peers"].([]any) {
		if pm := p.(map[string]any); pm["sessionId"] == sessionID {
			return pm["groups"].([]any)
		}
	}
	t.Fatalf("session %s not listed", sessionID)
	return nil
}

func TestGroupMessageReachesOfflineMemberAfterReconnect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob, carol := h.addMember("alice"), h.addMember("bob"), h.addMember("carol")
		ac, cc := alice.connect(), carol.connect()
		bc := bob.connect(withSession("bob-1"))
		for _, bad := range []string{"Backend", "-x", "has space", ""} {
			if r := request(bc, map[string]any{"type": "join_group", "name": bad}); r["code"] != "malformed" {
				t.Fatalf("join_group %q: %v", bad, r)
			}
		}
		if r := request(bc, map[string]any{"type": "join_group", "name": "backend", "role": "lead"}); r["type"] != "ok" {
			t.Fatalf("join_group: %v", r)
		}
		if g := groupsOf(t, ac, "bob-1"); len(g) != 1 || g[0].(map[string]any)["name"] != "backend" || g[0].(map[string]any)["role"] != "lead" {
			t.Fatalf("bob's groups = %v", g)
		}
		// Live: the group message reaches bob's session.
		sendAcked(t, ac, "@backend", "now", "live-group")
		bc.WaitFor(pushWithCiphertext("live-group"))

		// Offline: queued for bob because his remembered groups include it.
		bc.WS.CloseNow()
		ac.WaitFor(testkit.Event("peer_left"))
		sendAcked(t, ac, "@backend", "now", "offline-group")
		bc = bob.connect(withSession("bob-2")) // a hello without groups
		p := bc.WaitFor(pushWithCiphertext("offline-group"))
		if p["kind"] != "group" || p["group"] != "backend" {
			t.Fatalf("push = %v", p)
		}
		if g := groupsOf(t, ac, "bob-2"); len(g) != 1 || g[0].(map[string]any)["name"] != "backend" {
			t.Fatalf("remembered groups not restored: %v", g)
		}
		// carol, not in the group, got neither message: the marker sent
		// after them is the first push she sees.
		sendAcked(t, ac, "carol", "now", "carol-marker")
		if p := nextPush(cc); p["ciphertext"] != "carol-marker" {
			t.Fatalf("a non-member received %v", p)
		}

		// leave_group updates the session and the remembered groups.
		if r := request(bc, map[string]any{"type": "leave_group", "name": "backend"}); r["type"] != "ok" {
			t.Fatalf("leave_group: %v", r)
		}
		expectError(t, ac, send(ac, "@backend", "now", "nobody"), "no_such_peer")
		bc.WS.CloseNow()
		ac.WaitFor(testkit.Event("peer_left"))
		expectError(t, ac, send(ac, "@backend", "now", "nobody"), "no_such_peer")
	})
}
