package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

func TestDirectMessageBoxRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac, bc := alice.connect(), bob.connect()

		nonce, ct, err := protocol.SealBox([]byte("hi bob, ünïcødé ✓"), bob.id.Pub, alice.id.Priv)
		if err != nil {
			t.Fatal(err)
		}
		id := send(ac, bob.id.Hex(), "now", ct, map[string]any{"nonce": nonce, "enc": "box"})
		ack := ac.WaitFor(testkit.Reply(id))
		if ack["type"] != "ack" || ack["recipients"] != float64(1) || ack["queued"] != true {
			t.Fatalf("ack = %v", ack)
		}
		push := bc.WaitFor(testkit.Push)
		if push["messageId"] != ack["messageId"] || push["senderPubkey"] != alice.id.Hex() || push["enc"] != "box" || push["kind"] != "direct" {
			t.Fatalf("push = %v", push)
		}
		plain, err := protocol.OpenBox(push["nonce"].(string), push["ciphertext"].(string), alice.id.Pub, bob.id.Priv)
		if err != nil || string(plain) != "hi bob, ünïcødé ✓" {
			t.Fatalf("decrypt: %q %v", plain, err)
		}
		if _, err := time.Parse(time.RFC3339, push["createdAt"].(string)); err != nil {
			t.Fatalf("createdAt not ISO-8601: %v", push["createdAt"])
		}
	})
}

func TestBroadcastNamesAndTargetErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob, carol := h.addMember("alice"), h.addMember("Bob"), h.addMember("carol")
		a1, a2, bc, cc := alice.connect(), alice.connect(), bob.connect(), carol.connect()

		t.Run("broadcast skips only the sending session", func(t *testing.T) {
			ack := sendAcked(t, a1, "*", "now", "to-all")
			for _, c := range []*testkit.Client{a2, bc, cc} {
				if p := c.WaitFor(pushWithCiphertext("to-all")); p["kind"] != "broadcast" || p["messageId"] != ack {
					t.Fatalf("push = %v", p)
				}
			}
			// a1 must not get its own message: the next push it sees is one sent later to it.
			sendAcked(t, bc, alice.id.Hex(), "now", "marker")
			if p := nextPush(a1); p["ciphertext"] != "marker" {
				t.Fatalf("sender received %v before the marker", p)
			}
			a2.WaitFor(pushWithCiphertext("marker"))
		})
		t.Run("display name, case-insensitive", func(t *testing.T) {
			sendAcked(t, a1, "BOB", "now", "by-name")
			bc.WaitFor(pushWithCiphertext("by-name"))
		})
		t.Run("array is a union, each recipient once", func(t *testing.T) {
			id := send(a1, []string{"bob", bob.id.Hex(), "carol"}, "now", "arr")
			if ack := a1.WaitFor(testkit.Reply(id)); ack["recipients"] != float64(2) {
				t.Fatalf("ack = %v", ack)
			}
			bc.WaitFor(pushWithCiphertext("arr"))
			cc.WaitFor(pushWithCiphertext("arr"))
		})
		h.addMember("dup")
		h.addMember("DUP")
		waitMembers(t, a1, 5) // added behind the broker's back: wait for its cache
		storedBefore := h.countMessages()
		for _, tc := range []struct {
			target any
			code   protocol.Code
		}{
			{"nobody", protocol.CodeNoSuchPeer},
			{"0000000000000000000000000000000000000000000000000000000000000000", protocol.CodeNoSuchPeer},
			{[]string{"bob", "nobody"}, protocol.CodeNoSuchPeer},
			{"@nogroup", protocol.CodeNoSuchPeer},
			{"dup", protocol.CodeAmbiguousTarget},
			{"#general", protocol.CodeUnsupportedTarget},
			{"tag:backend", protocol.CodeUnsupportedTarget},
		} {
			t.Run(fmt.Sprintf("target %v", tc.target), func(t *testing.T) {
				expectError(t, a1, send(a1, tc.target, "now", "never"), tc.code)
			})
		}
		if n := h.countMessages(); n != storedBefore {
			t.Fatalf("refused sends stored %d messages", n-storedBefore)
		}
		sendAcked(t, a1, "bob", "now", "marker-2")
		if p := nextPush(bc); p["ciphertext"] != "marker-2" {
			t.Fatalf("bob got %v before marker-2", p)
		}
	})
}

func TestGroupTargets(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	alice, bob, carol := h.addMember("alice"), h.addMember("bob"), h.addMember("carol")
	ac := alice.connect()
	bc := bob.connect(func(hl *testkit.Hello) { hl.Groups = []protocol.Group{{Name: "backend", Role: "lead"}} })
	cc := carol.connect(func(hl *testkit.Hello) { hl.Groups = []protocol.Group{{Name: "frontend"}} })
	sendAcked(t, ac, "@backend", "now", "to-backend")
	if p := bc.WaitFor(testkit.Push); p["kind"] != "group" || p["group"] != "backend" {
		t.Fatalf("push = %v", p)
	}
	sendAcked(t, ac, "carol", "now", "marker")
	if p := nextPush(cc); p["ciphertext"] != "marker" {
		t.Fatalf("carol (not in backend) got %v", p)
	}
	// Bob's groups are remembered: offline, he is still queued for @backend,
	// and his next hello without groups restores them.
	bc.WS.CloseNow()
	sendAcked(t, ac, "@backend", "now", "while-away")
	bc2 := bob.connect()
	bc2.WaitFor(pushWithCiphertext("while-away"))
	peers := request(ac, map[string]any{"type": "list_peers"})["peers"].([]any)
	for _, p := range peers {
		pm := p.(map[string]any)
		if pm["memberId"] == bob.member.ID {
			if gs := pm["groups"].([]any); len(gs) != 1 || gs[0].(map[string]any)["name"] != "backend" {
				t.Fatalf("restored groups = %v", gs)
			}
		}
	}
}

func TestOfflineQueueDeliversInSendOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac := alice.connect()
		for i := 0; i < 20; i++ {
			sendAcked(t, ac, bob.id.Hex(), []string{"now", "next", "low"}[i%3], fmt.Sprintf("m%02d", i))
		}
		bc := bob.connect()
		for i := 0; i < 20; i++ {
			if p := nextPush(bc); p["ciphertext"] != fmt.Sprintf("m%02d", i) {
				t.Fatalf("push %d = %v", i, p["ciphertext"])
			}
		}
	})
}

func TestUnackedPushIsRedeliveredAfterReconnect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac := alice.connect()
		bc := bob.connect(withSession("bob-main"))
		id := sendAcked(t, ac, "bob", "now", "must-arrive")
		bc.WaitFor(pushWithCiphertext("must-arrive"))
		bc.WS.CloseNow() // killed before client_ack

		bc2 := bob.connect(withSession("bob-main"))
		p := bc2.WaitFor(testkit.Push)
		if p["messageId"] != id {
			t.Fatalf("redelivered %v, want %s", p, id)
		}
		bc2.Send(map[string]any{"type": "client_ack", "messageId": id})
		if st := request(ac, map[string]any{"type": "message_status", "messageId": id}); !waitDelivered(t, ac, id) {
			t.Fatalf("status after ack: %v", st)
		}
		bc2.WS.CloseNow()
		bc3 := bob.connect(withSession("bob-main"))
		sendAcked(t, ac, "bob", "now", "marker")
		if p := nextPush(bc3); p["ciphertext"] != "marker" {
			t.Fatalf("acked message delivered again: %v", p)
		}
	})
}

// TestUnackedPushReturnsToItsSessionWhileASiblingIsLive: at-least-once is
// per recipient session. A sibling session that acked its own copy must not
// swallow the copy of a session that dropped before acking and resumes.
func TestUnackedPushReturnsToItsSessionWhileASiblingIsLive(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac := alice.connect()
		b1, b2 := bob.connect(withSession("bob-1")), bob.connect(withSession("bob-2"))
		id := sendAcked(t, ac, bob.id.Hex(), "now", "both-copies")
		b1.WaitFor(pushWithCiphertext("both-copies"))
		b2.WaitFor(pushWithCiphertext("both-copies"))
		b2.Send(map[string]any{"type": "client_ack", "messageId": id})
		b1.WS.CloseNow() // dropped before acking
		again := bob.connect(withSession("bob-1"))
		if p := again.WaitFor(testkit.Push); p["messageId"] != id {
			t.Fatalf("resumed session got %v, want %s again", p, id)
		}
	})
}

// waitDelivered polls message_status until every recipient is delivered.
func waitDelivered(t testing.TB, c *testkit.Client, messageID string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st := request(c, map[string]any{"type": "message_status", "messageId": messageID}); st["delivered"] == true {
			return true
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
	}
	return false
}

func TestOldClientIsAckedOnWrite(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac := alice.connect()
	bc := bob.connect(withSession("old"), func(hl *testkit.Hello) { hl.ClientAck = false; hl.Protocol = -1 })
	id := sendAcked(t, ac, "bob", "now", "once")
	bc.WaitFor(pushWithCiphertext("once"))
	if !waitDelivered(t, ac, id) {
		t.Fatal("old client's written push was not recorded as delivered")
	}
	bc.WS.CloseNow()
	bc2 := bob.connect(withSession("old"), func(hl *testkit.Hello) { hl.ClientAck = false; hl.Protocol = -1 })
	sendAcked(t, ac, "bob", "now", "marker")
	if p := nextPush(bc2); p["ciphertext"] != "marker" {
		t.Fatalf("delivered message pushed again: %v", p)
	}
}

func TestClientMessageIDIsIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac, bc := alice.connect(), bob.connect()
		first := sendAcked(t, ac, "bob", "now", "once", map[string]any{"clientMessageId": "cm-1"})
		again := sendAcked(t, ac, "bob", "now", "once", map[string]any{"clientMessageId": "cm-1"})
		if first != again {
			t.Fatalf("resend created %s, want original %s", again, first)
		}
		if n := h.countMessages(); n != 1 {
			t.Fatalf("%d messages stored, want 1", n)
		}
		bc.WaitFor(pushWithCiphertext("once"))
		sendAcked(t, ac, "bob", "now", "marker")
		if p := nextPush(bc); p["ciphertext"] != "marker" {
			t.Fatalf("duplicate delivered: %v", p)
		}
	})
}

// waitMembers polls list_members until the mesh shows n members.
func waitMembers(t testing.TB, c *testkit.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ms := request(c, map[string]any{"type": "list_members"})["members"].([]any); len(ms) == n {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
	}
	t.Fatalf("mesh never showed %d members", n)
}

// countMessages reads how many messages the store holds for the mesh.
func (h *harness) countMessages() int {
	h.t.Helper()
	n, _, err := h.st.CountMessages(context.Background(), h.mesh.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}
