package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// TestHelloRefusals proves every hello failure code: the error frame, then a
// 1008 close whose reason is the code.
func TestHelloRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b, func(c *config.Broker, _ *broker.Options) { c.MaxConnsPerMesh = 2 })
		cases := []struct {
			name  string
			code  protocol.Code
			hello func(t *testing.T, h *harness) map[string]any
		}{
			{"missing pubkey", protocol.CodeMalformed, func(t *testing.T, h *harness) map[string]any {
				f := h.addMemberTo(h.newMesh("m").ID, "a").hello().Frame()
				delete(f, "pubkey")
				return f
			}},
			{"short signature", protocol.CodeMalformed, func(t *testing.T, h *harness) map[string]any {
				f := h.addMemberTo(h.newMesh("m").ID, "a").hello().Frame()
				f["signature"] = "abcd"
				return f
			}},
			{"clock skew", protocol.CodeTimestampSkew, func(t *testing.T, h *harness) map[string]any {
				hello := h.addMemberTo(h.newMesh("m").ID, "a").hello()
				hello.Timestamp = time.Now().Add(-2 * time.Minute)
				return hello.Frame()
			}},
			{"signature by another key", protocol.CodeBadSignature, func(t *testing.T, h *harness) map[string]any {
				p := h.addMemberTo(h.newMesh("m").ID, "a")
				hello := p.hello()
				hello.Member = testkit.NewIdentity(t)
				f := hello.Frame()
				f["pubkey"] = p.id.Hex() // claims p's key, signed by another
				return f
			}},
			{"wrong memberId", protocol.CodeUnauthorized, func(t *testing.T, h *harness) map[string]any {
				mesh := h.newMesh("m")
				a, other := h.addMemberTo(mesh.ID, "a"), h.addMemberTo(mesh.ID, "b")
				hello := a.hello()
				hello.MemberID = other.member.ID
				return hello.Frame()
			}},
			{"revoked member", protocol.CodeUnauthorized, func(t *testing.T, h *harness) map[string]any {
				p := h.addMemberTo(h.newMesh("m").ID, "a")
				if _, err := h.st.RevokeMember(context.Background(), p.meshID, p.member.ID, time.Now()); err != nil {
					t.Fatal(err)
				}
				return p.hello().Frame()
			}},
			{"unknown key", protocol.CodeUnauthorized, func(t *testing.T, h *harness) map[string]any {
				p := h.addMemberTo(h.newMesh("m").ID, "a")
				hello := p.hello()
				hello.Member = testkit.NewIdentity(t) // validly signed, but not a member key
				return hello.Frame()
			}},
			{"replayed hello", protocol.CodeReplayed, func(t *testing.T, h *harness) map[string]any {
				p := h.addMemberTo(h.newMesh("m").ID, "a")
				f := p.hello().Frame()
				c := testkit.Dial(t, h.wsURL)
				c.Send(f)
				c.WaitFor(testkit.Type("hello_ack"))
				return f // the exact same signed frame again
			}},
			{"mesh at capacity", protocol.CodeCapacity, func(t *testing.T, h *harness) map[string]any {
				p := h.addMemberTo(h.newMesh("m").ID, "a")
				p.connect()
				p.connect()
				return p.hello().Frame()
			}},
			{"unproven session key", protocol.CodeBadSessionSignature, func(t *testing.T, h *harness) map[string]any {
				p := h.addMemberTo(h.newMesh("m").ID, "a")
				sess := testkit.NewIdentity(t)
				hello := p.hello()
				hello.Session = &sess
				f := hello.Frame()
				f["sessionPubkey"] = testkit.NewIdentity(t).Hex() // signature is by another key
				return f
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := testkit.Dial(t, h.wsURL)
				c.Send(tc.hello(t, h))
				f := c.WaitFor(testkit.Type("error"))
				if f["code"] != string(tc.code) {
					t.Fatalf("code = %v, want %s (%v)", f["code"], tc.code, f["message"])
				}
				err, ok := c.WaitClosed(5 * time.Second)
				if !ok {
					t.Fatal("socket not closed after a refused hello")
				}
				if code, reason := testkit.CloseCode(err); code != 1008 || reason != string(tc.code) {
					t.Fatalf("close = %d %q, want 1008 %q", code, reason, tc.code)
				}
			})
		}
	})
}

func TestFirstFrameMustBeHello(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	c := testkit.Dial(t, h.wsURL)
	c.Send(map[string]any{"type": "list_peers", "_reqId": "r1"})
	f := c.WaitFor(testkit.Type("error"))
	if f["code"] != "no_hello" || f["_reqId"] != "r1" {
		t.Fatalf("got %v, want no_hello echoing r1", f)
	}
}

func TestAuthenticatedSocketRefusesSecondHelloAndUnknownTypes(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	p := h.addMember("alice")
	c := p.connect()
	if f := request(c, p.hello().Frame()); f["code"] != "already_authenticated" {
		t.Fatalf("second hello: %v", f)
	}
	if f := request(c, map[string]any{"type": "teleport"}); f["code"] != "unknown_type" {
		t.Fatalf("unknown type: %v", f)
	}
	// The connection stays open and serves requests.
	if f := request(c, map[string]any{"type": "list_peers"}); f["type"] != "peers_list" {
		t.Fatalf("after errors: %v", f)
	}
}

func TestSessionKeyBecomesRoutingAddress(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	alice, bob := h.addMember("alice"), h.addMember("bob")
	sess := testkit.NewIdentity(t)
	bc := bob.connect(func(hl *testkit.Hello) { hl.Session = &sess })
	ac := alice.connect()
	peers := request(ac, map[string]any{"type": "list_peers"})["peers"].([]any)
	var found bool
	for _, p := range peers {
		pm := p.(map[string]any)
		if pm["memberId"] == bob.member.ID {
			found = pm["pubkey"] == sess.Hex() && pm["memberPubkey"] == bob.id.Hex()
		}
	}
	if !found {
		t.Fatalf("bob's peer entry should route by its session key: %v", peers)
	}
	sendAcked(t, ac, sess.Hex(), "now", "to-session")
	bc.WaitFor(pushWithCiphertext("to-session"))
}
