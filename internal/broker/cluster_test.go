package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// twoNodes starts two brokers on one PostgreSQL schema. The first harness
// owns the mesh; the second serves the same store.
func twoNodes(t *testing.T, tweaks ...tweak) (*harness, *harness) {
	t.Helper()
	var pg storetest.Backend
	for _, b := range storetest.Backends(t) {
		if b.Name == "postgres" {
			pg = b
		}
	}
	if pg.Name == "" {
		t.Skip("clustering needs PostgreSQL")
	}
	cfg := testConfig(t, pg)
	fast := func(_ *config.Broker, o *broker.Options) {
		o.PresencePollInterval = 100 * time.Millisecond
		o.CatchUpInterval = 200 * time.Millisecond
		o.HeartbeatInterval = 200 * time.Millisecond
	}
	h1 := startWithConfig(t, cfg, append([]tweak{fast}, tweaks...)...)
	h2 := startWithConfig(t, cfg, append([]tweak{fast}, tweaks...)...)
	h2.mesh = h1.mesh
	return h1, h2
}

// on returns a copy of p that connects to another node.
func (p *peer) on(h *harness) *peer { q := *p; q.h = h; return &q }

// TestCatchUpDeliversWhenTheWakeUpIsLost commits rows straight into the
// store, as another node would whose NOTIFY never arrived: the catch-up poll
// still delivers them, for a row bound to the session and a member-bound one.
func TestCatchUpDeliversWhenTheWakeUpIsLost(t *testing.T) {
	h1, _ := twoNodes(t)
	alice, bob := h1.addMember("alice"), h1.addMember("bob")
	bc := bob.connect(withSession("bob-live"))
	for _, tc := range []struct {
		name      string
		sessionID string
	}{{"session row", "bob-live"}, {"member-bound row", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			msg := store.NewMessage{
				ID: ids.New("msg"), MeshID: h1.mesh.ID, SenderMemberID: alice.member.ID, SenderSessionID: "elsewhere",
				SenderPubkey: alice.id.Hex(), SenderMemberPubkey: alice.id.Hex(), SenderName: "alice",
				TargetSpec: `"bob"`, Priority: "now", Kind: "direct", Enc: "plain", Ciphertext: "lost-wakeup " + tc.name,
				CreatedAt: now, ExpiresAt: now.Add(time.Hour),
				Recipients: []store.Recipient{{MemberID: bob.member.ID, SessionID: tc.sessionID, Pubkey: bob.id.Hex(), Name: "bob"}},
			}
			if _, err := h1.st.CommitMessages(context.Background(), []store.NewMessage{msg}, time.Hour); err != nil {
				t.Fatal(err)
			}
			p, ok := bc.WaitForWithin(5*time.Second, pushWithCiphertext(msg.Ciphertext))
			if !ok || p["messageId"] != msg.ID {
				t.Fatalf("no push of a row committed without a wake-up: %v", bc.Frames())
			}
			request(bc, map[string]any{"type": "client_ack", "messageId": msg.ID})
		})
	}
}

// TestHelloReplayedOnAnotherNodeIsRefused: quality R7 holds across nodes,
// because accepted hellos are remembered in the shared store.
func TestHelloReplayedOnAnotherNodeIsRefused(t *testing.T) {
	h1, h2 := twoNodes(t)
	bob := h1.addMember("bob")
	frame := bob.hello().Frame()
	c1 := testkit.Dial(t, h1.wsURL)
	c1.Send(frame)
	if f := c1.WaitFor(func(f map[string]any) bool { return f["type"] == "hello_ack" || f["type"] == "error" }); f["type"] != "hello_ack" {
		t.Fatalf("first hello: %v", f)
	}
	c2 := testkit.Dial(t, h2.wsURL)
	c2.Send(frame)
	if f := c2.WaitFor(testkit.Type("error")); f["code"] != "replayed" {
		t.Fatalf("the same hello on node 2 = %v, want replayed", f)
	}
}

// TestSessionMovingToAnotherNode: a session that reconnects to another
// node while its old socket is still open takes over (the old socket gets
// 4000, the new hello_ack says resumed), and DMs, list_peers and status
// work across the two nodes.
func TestSessionMovingToAnotherNode(t *testing.T) {
	h1, h2 := twoNodes(t)
	alice, bob := h1.addMember("alice"), h1.addMember("bob")
	ac := alice.connect(withSession("alice-1"))
	old := bob.on(h2).connect(withSession("bob-1"))

	// alice (node 1) sees bob (node 2) and his status once node 2 wrote it.
	request(old, map[string]any{"type": "set_status", "status": "working"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		peers := request(ac, map[string]any{"type": "list_peers"})["peers"].([]any)
		if len(peers) == 2 {
			bp := peers[0].(map[string]any)
			if bp["sessionId"] != "bob-1" {
				bp = peers[1].(map[string]any)
			}
			if bp["sessionId"] == "bob-1" && bp["status"] == "working" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("list_peers on node 1 = %v", peers)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
	request(old, map[string]any{"type": "set_status", "status": "idle"})
	sendAcked(t, ac, "bob", "now", "to node 2")
	if p, ok := old.WaitForWithin(5*time.Second, pushWithCiphertext("to node 2")); !ok {
		t.Fatalf("no cross-node push: %v", old.Frames())
	} else {
		request(old, map[string]any{"type": "client_ack", "messageId": p["messageId"]})
	}

	hello := bob.hello()
	hello.SessionID = "bob-1"
	moved, ack := testkit.Connect(t, h1.wsURL, hello)
	if ack["type"] != "hello_ack" || ack["resumed"] != true {
		t.Fatalf("hello on node 1 = %v, want resumed", ack)
	}
	err, ok := old.WaitClosed(5 * time.Second)
	if code, _ := testkit.CloseCode(err); !ok || code != 4000 {
		t.Fatalf("old socket on node 2: closed=%v code=%d, want 4000", ok, code)
	}
	sendAcked(t, ac, "bob", "now", "after the move")
	if _, ok := moved.WaitForWithin(5*time.Second, pushWithCiphertext("after the move")); !ok {
		t.Fatalf("no push after the move: %v", moved.Frames())
	}
}

// TestEventsAcrossNodes: peer_joined and peer_left, state_change and hook
// requests reach sessions on the other node.
func TestEventsAcrossNodes(t *testing.T) {
	h1, h2 := twoNodes(t)
	alice, bob := h1.addMember("alice"), h1.addMember("bob")
	ac := alice.connect(withSession("alice-1"))
	bc := bob.on(h2).connect(withSession("bob-1"))
	if f, ok := ac.WaitForWithin(5*time.Second, testkit.Event("peer_joined")); !ok {
		t.Fatalf("no peer_joined on node 1 for a session on node 2: %v", ac.Frames())
	} else if data := f["eventData"].(map[string]any); data["name"] != "bob" {
		t.Fatalf("peer_joined = %v", f)
	}

	if r := request(ac, map[string]any{"type": "set_state", "key": "deploy", "value": map[string]any{"v": 1}}); r["type"] != "ok" {
		t.Fatalf("set_state: %v", r)
	}
	f, ok := bc.WaitForWithin(5*time.Second, testkit.Type("state_change"))
	if !ok || f["key"] != "deploy" || f["value"].(map[string]any)["v"] != float64(1) || f["version"] != float64(1) {
		t.Fatalf("state_change on node 2 = %v (%v)", f, bc.Frames())
	}
	request(ac, map[string]any{"type": "delete_state", "key": "deploy"})
	f, ok = bc.WaitForWithin(5*time.Second, testkit.Type("state_change"))
	if !ok || f["deleted"] != true || f["value"] != nil || f["updatedBy"] != "alice" {
		t.Fatalf("deleting state_change on node 2 = %v", f)
	}

	// A group joined on node 2 routes from node 1 once node 2 wrote it.
	if r := request(bc, map[string]any{"type": "join_group", "name": "ops"}); r["type"] != "ok" {
		t.Fatalf("join_group: %v", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		id := send(ac, "@ops", "now", "to ops")
		if f := ac.WaitFor(testkit.Reply(id)); f["type"] == "ack" {
			break
		} else if f["code"] != "no_such_peer" || time.Now().After(deadline) {
			t.Fatalf("send to @ops from node 1: %v", f)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
	if _, ok := bc.WaitForWithin(5*time.Second, pushWithCiphertext("to ops")); !ok {
		t.Fatalf("no @ops push on node 2: %v", bc.Frames())
	}

	// A hook for bob's session, posted to node 1, sets his status on node 2,
	// and node 1's message_status reports a message for him as held.
	hook := testkit.Hook(bob.id, bob.meshID, bob.member.ID, "bob-1", "", "working", time.Now())
	if code, res := testkit.PostHook(t, h1.baseURL(), hook); code != 200 || res["matched"] != "session" {
		t.Fatalf("hook on node 1: HTTP %d %v", code, res)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		if st, src := peerStatus(t, bc, "bob-1"); st == "working" && src == "hook" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hook posted to node 1 never set bob's status on node 2")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
	held := sendAcked(t, ac, "bob", "next", "held on node 2")
	deadline = time.Now().Add(5 * time.Second)
	for {
		st := request(ac, map[string]any{"type": "message_status", "messageId": held})
		if st["recipients"].([]any)[0].(map[string]any)["status"] == "held" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message_status on node 1 for a message held on node 2: %v", st)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}

	bc.WS.CloseNow()
	if _, ok := ac.WaitForWithin(5*time.Second, testkit.Event("peer_left")); !ok {
		t.Fatalf("no peer_left on node 1: %v", ac.Frames())
	}
}
