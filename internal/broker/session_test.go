package broker_test

import (
	"context"
	"github.com/coder/websocket"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

func TestSessionResumeTakesOverWithoutAnnouncements(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac := alice.connect()
	old := bob.connect(withSession("bob-1"))
	ac.WaitFor(testkit.Event("peer_joined"))

	c, ack := testkit.Connect(t, h.wsURL, func() testkit.Hello { hl := bob.hello(); hl.SessionID = "bob-1"; return hl }())
	if ack["resumed"] != true {
		t.Fatalf("hello_ack = %v, want resumed", ack)
	}
	err, ok := old.WaitClosed(5 * time.Second)
	if code, reason := testkit.CloseCode(err); !ok || code != 4000 || reason != "superseded" {
		t.Fatalf("old socket close = %d %q", code, reason)
	}
	// No peer_left/peer_joined pair for a resume: the next event alice sees is carol's join.
	h.addMember("carol").connect()
	if ev := ac.WaitFor(testkit.Type("push")); ev["event"] != "peer_joined" || ev["eventData"].(map[string]any)["name"] != "carol" {
		t.Fatalf("first event after resume = %v", ev)
	}
	// After a drop, a return within the window is peer_returned.
	c.WS.CloseNow()
	ac.WaitFor(testkit.Event("peer_left"))
	_, ack = testkit.Connect(t, h.wsURL, func() testkit.Hello { hl := bob.hello(); hl.SessionID = "bob-1"; return hl }())
	if ack["resumed"] != true {
		t.Fatalf("return after drop: %v", ack)
	}
	ac.WaitFor(testkit.Event("peer_returned"))
}

func TestSystemEventsOnlyForProtocol2(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	alice, old, bob := h.addMember("alice"), h.addMember("old"), h.addMember("bob")
	ac := alice.connect()
	oc := old.connect(func(hl *testkit.Hello) { hl.Protocol = -1 })
	bob.connect()
	ev := ac.WaitFor(func(f map[string]any) bool {
		return testkit.Event("peer_joined")(f) && f["eventData"].(map[string]any)["name"] == "bob"
	})
	data := ev["eventData"].(map[string]any)
	if ev["senderPubkey"] != "system" || ev["subtype"] != "system" || ev["priority"] != "low" || data["pubkey"] != bob.id.Hex() {
		t.Fatalf("event = %v", ev)
	}
	sendAcked(t, ac, "old", "now", "marker")
	if p := oc.WaitFor(testkit.Type("push")); p["ciphertext"] != "marker" {
		t.Fatalf("an old client got a system push: %v", p)
	}
}

func TestRevokedMemberIsClosedWithinOneSecond(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b, func(_ *config.Broker, o *broker.Options) { o.MemberPollInterval = 250 * time.Millisecond })
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac, bc := alice.connect(), bob.connect()
		// Revoke through the store, as another process (the operator CLI) does.
		start := time.Now()
		if _, err := h.st.RevokeMember(context.Background(), bob.meshID, bob.member.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		err, ok := bc.WaitClosed(time.Second)
		if !ok {
			t.Fatalf("revoked session still open after %v", time.Since(start))
		}
		if code, reason := testkit.CloseCode(err); code != 4001 || reason != "revoked" {
			t.Fatalf("close = %d %q", code, reason)
		}
		ac.WaitFor(testkit.Event("member_revoked"))
		_, f := testkit.Connect(t, h.wsURL, bob.hello())
		if f["code"] != "unauthorized" {
			t.Fatalf("revoked member reconnected: %v", f)
		}
	})
}

func TestOversizedFrameIsDroppedAndConnectionStays(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker, _ *broker.Options) { c.MaxMessageBytes = 4096 })
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac, bc := alice.connect(), bob.connect()
	ac.Send(map[string]any{"type": "send", "id": "big", "targetSpec": "bob", "priority": "now", "ciphertext": strings.Repeat("x", 5000)})
	if f := ac.WaitFor(testkit.Type("error")); f["code"] != "too_large" {
		t.Fatalf("got %v", f)
	}
	sendAcked(t, ac, "bob", "now", "small")
	if p := nextPush(bc); p["ciphertext"] != "small" {
		t.Fatalf("bob got %v", p)
	}
}

func TestSendRateLimitPerSession(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker, _ *broker.Options) { c.SendRatePerSec = 5 })
	alice, _ := h.addMember("alice"), h.addMember("bob")
	ac := alice.connect()
	limited := 0
	for i := 0; i < 30; i++ {
		f := ac.WaitFor(testkit.Reply(send(ac, "bob", "now", "x")))
		if f["code"] == "rate_limited" {
			limited++
		}
	}
	if limited == 0 || limited > 30-10 {
		t.Fatalf("%d of 30 sends rate limited; burst is 10", limited)
	}
}

func TestPriorityGatingFetchPendingAndIdleFlip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac, bc := alice.connect(), bob.connect()
		if f := request(bc, map[string]any{"type": "set_status", "status": "working"}); f["type"] != "ok" {
			t.Fatalf("set_status: %v", f)
		}
		held := sendAcked(t, ac, "bob", "next", "held-next")
		sendAcked(t, ac, "bob", "now", "urgent")
		if p := nextPush(bc); p["ciphertext"] != "urgent" {
			t.Fatalf("working session got %v before the now message", p)
		}
		st := request(ac, map[string]any{"type": "message_status", "messageId": held})
		if r := st["recipients"].([]any)[0].(map[string]any); r["status"] != "held" {
			t.Fatalf("status = %v", st)
		}
		// fetch_pending pulls held messages regardless of status.
		ok := request(bc, map[string]any{"type": "fetch_pending"})
		if ok["type"] != "ok" || ok["count"] != float64(1) {
			t.Fatalf("fetch_pending = %v", ok)
		}
		bc.WaitFor(pushWithCiphertext("held-next"))
		// Held messages flow the moment the status becomes idle.
		sendAcked(t, ac, "bob", "low", "held-low")
		request(bc, map[string]any{"type": "set_status", "status": "idle"})
		bc.WaitFor(pushWithCiphertext("held-low"))
	})
}

func TestMessageStatusTTLAndMeshIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b, func(c *config.Broker, o *broker.Options) {
			// Long enough that the status read right after the ack sees
			// "pending" even on a loaded machine.
			c.MessageTTL = time.Second
			o.SweepInterval = 50 * time.Millisecond
		})
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac := alice.connect()
		id := sendAcked(t, ac, "bob", "now", "will-expire")
		st := request(ac, map[string]any{"type": "message_status", "messageId": id})
		r := st["recipients"].([]any)[0].(map[string]any)
		if st["delivered"] != false || r["status"] != "pending" || r["pubkey"] != bob.id.Hex() || r["name"] != "bob" {
			t.Fatalf("status = %v", st)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			st = request(ac, map[string]any{"type": "message_status", "messageId": id})
			if st["recipients"].([]any)[0].(map[string]any)["status"] == "expired" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never expired: %v", st)
			}
			time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
		}
		bc := bob.connect()
		sendAcked(t, ac, "bob", "now", "marker")
		if p := nextPush(bc); p["ciphertext"] != "marker" {
			t.Fatalf("expired message delivered: %v", p)
		}
		// A member of another mesh cannot see the message.
		eve := h.addMemberTo(h.newMesh("other").ID, "eve").connect()
		if f := request(eve, map[string]any{"type": "message_status", "messageId": id}); f["code"] != "not_found" {
			t.Fatalf("cross-mesh status: %v", f)
		}
		expectError(t, eve, send(eve, bob.id.Hex(), "now", "x"), "no_such_peer")
	})
}

func TestEphemeralSessionsAreInvisibleAndPullMemberMail(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac := alice.connect()
	ec := bob.connect(func(hl *testkit.Hello) { hl.Ephemeral = true })
	peers := request(ac, map[string]any{"type": "list_peers"})["peers"].([]any)
	if len(peers) != 1 {
		t.Fatalf("ephemeral session listed: %v", peers)
	}
	// Mail to bob queues for his member (the ephemeral session is no target) ...
	sendAcked(t, ac, "bob", "now", "for-bob")
	members := request(ac, map[string]any{"type": "list_members"})["members"].([]any)
	for _, m := range members {
		if mm := m.(map[string]any); mm["memberId"] == bob.member.ID && mm["online"] != false {
			t.Fatalf("ephemeral session counted online: %v", mm)
		}
	}
	// ... until the ephemeral session pulls it itself.
	if ok := request(ec, map[string]any{"type": "fetch_pending"}); ok["count"] != float64(1) {
		t.Fatalf("fetch_pending = %v", ok)
	}
	ec.WaitFor(pushWithCiphertext("for-bob"))
}

// An ephemeral session that pulled mail and left without acking it (an
// interrupted `claudemesh inbox`, an undecryptable message) must not hold
// that mail for a resume window: a one-shot session never resumes.
func TestMailAnEphemeralSessionLeftUnackedReturnsAtOnce(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(_ *config.Broker, o *broker.Options) {
		o.ResumeWindow = time.Hour // only the immediate release can pass this test
	})
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac := alice.connect()
	ec := bob.connect(func(hl *testkit.Hello) { hl.Ephemeral = true; hl.ClientAck = true })
	sendAcked(t, ac, "bob", "now", "pulled-not-acked")
	if ok := request(ec, map[string]any{"type": "fetch_pending"}); ok["count"] != float64(1) {
		t.Fatalf("fetch_pending = %v", ok)
	}
	ec.WaitFor(pushWithCiphertext("pulled-not-acked"))
	ec.WS.Close(websocket.StatusNormalClosure, "done")
	real := bob.connect(withSession("bob-real"))
	real.WaitFor(pushWithCiphertext("pulled-not-acked"))
}

func TestUnansweredPingClosesTheSession(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(_ *config.Broker, o *broker.Options) {
		// alice must answer in time too, so the pong timeout leaves room
		// for a loaded machine; bob never answers at all.
		o.PingInterval, o.PongTimeout = 100*time.Millisecond, time.Second
	})
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac := alice.connect()
	// A raw socket that never reads cannot answer pings.
	testkit.DialSilent(t, h.wsURL, bob.hello().Frame())
	ac.WaitFor(testkit.Event("peer_joined"))
	ac.WaitFor(testkit.Event("peer_left"))
}

func TestShutdownClosesWith1001(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	c := h.addMember("alice").connect()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Broker.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	err, _ := c.WaitClosed(5 * time.Second)
	if code, _ := testkit.CloseCode(err); code != 1001 {
		t.Fatalf("close code = %d (%v)", code, err)
	}
}
