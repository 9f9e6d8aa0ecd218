package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// TestMeshIsolation (R7): alice, a member of mesh A, can neither address
// nor list anything of mesh B, whose members share names and a group with
// mesh A's. Every attempt is refused or comes back empty, and nothing
// reaches bob in mesh B.
func TestMeshIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, amy := h.addMember("alice"), h.addMember("amy")
		meshB := h.newMesh("other").ID
		bob, carol := h.addMemberTo(meshB, "bob"), h.addMemberTo(meshB, "carol")
		bobSession := testkit.NewIdentity(t)
		bc := bob.connect(func(hl *testkit.Hello) { hl.Session = &bobSession })
		cc := carol.connect()
		ac, _ := alice.connect(), amy.connect()

		// Mesh B's own traffic: a message, a state key and a memory.
		msgB := sendAcked(t, cc, "bob", "now", "b-internal")
		bc.WaitFor(pushWithCiphertext("b-internal"))
		if r := request(cc, map[string]any{"type": "set_state", "key": "b-secret", "value": 1}); r["type"] == "error" {
			t.Fatalf("set_state in B: %v", r)
		}
		if r := request(cc, map[string]any{"type": "remember", "content": "zanzibar launch codes"}); r["type"] == "error" {
			t.Fatalf("remember in B: %v", r)
		}

		cases := []struct {
			name  string
			frame map[string]any
			check func(t *testing.T, reply map[string]any)
		}{
			{"send to B's member key", sendFrame(bob.id.Hex()), wantCode("no_such_peer")},
			{"send to B's session key", sendFrame(bobSession.Hex()), wantCode("no_such_peer")},
			{"send to B's member by name", sendFrame("bob"), wantCode("no_such_peer")},
			{"send to B's keys in an array", sendFrame([]any{bob.id.Hex(), carol.id.Hex()}), wantCode("no_such_peer")},
			{"message_status of B's message", map[string]any{"type": "message_status", "messageId": msgB}, wantCode("not_found")},
			{"get_state of B's key", map[string]any{"type": "get_state", "key": "b-secret"}, func(t *testing.T, r map[string]any) {
				if r["type"] != "state_result" || r["value"] != nil || r["version"] != float64(0) {
					t.Fatalf("mesh A sees B's state: %v", r)
				}
			}},
			{"list_peers", map[string]any{"type": "list_peers"}, notMentioning(bob.id.Hex(), bobSession.Hex(), carol.id.Hex(), "bob", "carol")},
			{"list_members", map[string]any{"type": "list_members"}, notMentioning(bob.id.Hex(), carol.id.Hex(), "bob", "carol")},
			{"list_state", map[string]any{"type": "list_state"}, notMentioning("b-secret")},
			{"recall B's memory", map[string]any{"type": "recall", "query": "zanzibar"}, notMentioning("zanzibar")},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { tc.check(t, request(ac, tc.frame)) })
		}
		// Mesh A's broadcast reaches amy only; bob's next push is B's own.
		sendAcked(t, ac, "*", "now", "a-broadcast")
		sendAcked(t, cc, "bob", "now", "b-marker")
		if p := nextPush(bc); p["ciphertext"] != "b-marker" {
			t.Fatalf("bob received %v from outside his mesh", p)
		}
	})
}

func sendFrame(target any) map[string]any {
	return map[string]any{"type": "send", "id": nextSessionID(), "targetSpec": target, "priority": "now", "nonce": "", "ciphertext": "x", "enc": "plain"}
}

func wantCode(code string) func(*testing.T, map[string]any) {
	return func(t *testing.T, r map[string]any) {
		t.Helper()
		if r["type"] != "error" || r["code"] != code {
			t.Fatalf("got %v, want error %s", r, code)
		}
	}
}

func notMentioning(words ...string) func(*testing.T, map[string]any) {
	return func(t *testing.T, r map[string]any) {
		t.Helper()
		if r["type"] == "error" {
			t.Fatalf("got %v", r)
		}
		data, _ := json.Marshal(r)
		for _, w := range words {
			if strings.Contains(string(data), `"`+w+`"`) || strings.Contains(string(data), w+" ") || strings.Contains(string(data), " "+w) {
				t.Fatalf("reply mentions mesh B's %q: %s", w, data)
			}
		}
	}
}

// TestForgedReplayedAndRevokedRequestsAreRefused (R7): hellos, hooks and
// signed admin requests that are forged (signed by a key with no right to
// that mesh or member), replayed (the exact same signed request again), or
// sent by a revoked member are refused, and change nothing.
func TestForgedReplayedAndRevokedRequestsAreRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b, func(c *config.Broker, o *broker.Options) { o.MemberPollInterval = 250 * time.Millisecond })
		alice := h.addMember("alice")
		// Mesh B has its own owner, so mesh A's owner key has no rights there.
		bOwner := testkit.NewIdentity(t)
		meshB, err := meshadmin.CreateSealed(context.Background(), h.st, nil, "other", bOwner.Hex(), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		bob := h.addMemberTo(meshB.ID, "bob")
		revoked := h.addMember("rita")

		// One use of each signed request, accepted, to replay below.
		usedHello := alice.hello().Frame()
		first := testkit.Dial(t, h.wsURL)
		first.Send(usedHello)
		first.WaitFor(testkit.Type("hello_ack"))
		usedHook := testkit.Hook(alice.id, alice.meshID, alice.member.ID, "s-1", "/w", "working", time.Now())
		if st, out := testkit.PostHook(t, h.baseURL(), usedHook); st != 200 {
			t.Fatalf("first hook: %d %v", st, out)
		}
		adminPath := "/meshes/" + alice.meshID + "/members"
		usedAdmin := testkit.AdminAuth(h.owner, "GET", adminPath, nil, time.Now())
		if st, out := adminGet(t, h, adminPath, usedAdmin); st != 200 {
			t.Fatalf("first admin request: %d %v", st, out)
		}
		// Rita is revoked through the admin API while connected.
		rc := revoked.connect()
		delPath := "/meshes/" + revoked.meshID + "/members/" + revoked.member.ID
		req, _ := http.NewRequest("DELETE", h.baseURL()+delPath, nil)
		req.Header.Set("Authorization", testkit.AdminAuth(h.owner, "DELETE", delPath, nil, time.Now()))
		start := time.Now()
		if st, out := doJSON(t, http.DefaultClient, req); st != 200 {
			t.Fatalf("revoke: %d %v", st, out)
		}
		err2, ok := rc.WaitClosed(time.Second)
		if code, reason := testkit.CloseCode(err2); !ok || code != 4001 || reason != "revoked" {
			t.Fatalf("revoked session: closed=%v code %d %q after %v", ok, code, reason, time.Since(start))
		}

		hellos := []struct {
			name, code string
			frame      map[string]any
		}{
			{"replayed hello", "replayed", usedHello},
			{"A's member naming mesh B", "unauthorized", func() map[string]any {
				hl := alice.hello()
				hl.MeshID = meshB.ID
				return hl.Frame()
			}()},
			{"A's member claiming B's member id", "unauthorized", func() map[string]any {
				hl := alice.hello()
				hl.MeshID, hl.MemberID = meshB.ID, bob.member.ID
				return hl.Frame()
			}()},
			{"revoked member", "unauthorized", revoked.hello().Frame()},
		}
		for _, tc := range hellos {
			t.Run("hello/"+tc.name, func(t *testing.T) {
				c := testkit.Dial(t, h.wsURL)
				c.Send(tc.frame)
				if f := c.WaitFor(testkit.Type("error")); f["code"] != tc.code {
					t.Fatalf("got %v, want %s", f, tc.code)
				}
			})
		}
		hooks := []struct {
			name, code string
			body       map[string]any
		}{
			{"replayed hook", "replayed", usedHook},
			{"A's member key for B's member", "unauthorized", testkit.Hook(alice.id, meshB.ID, bob.member.ID, "s", "/w", "working", time.Now())},
			{"A's member naming mesh B", "unauthorized", testkit.Hook(alice.id, meshB.ID, alice.member.ID, "s", "/w", "working", time.Now())},
			{"revoked member", "unauthorized", testkit.Hook(revoked.id, revoked.meshID, revoked.member.ID, "s", "/w", "working", time.Now())},
		}
		for _, tc := range hooks {
			t.Run("hook/"+tc.name, func(t *testing.T) {
				if st, out := testkit.PostHook(t, h.baseURL(), tc.body); st != 401 || out["error"] != tc.code {
					t.Fatalf("HTTP %d %v, want 401 %s", st, out, tc.code)
				}
			})
		}
		bPath := "/meshes/" + meshB.ID + "/members"
		admins := []struct {
			name, header string
			status       int
			code         string
		}{
			{"replayed admin request", usedAdmin, 401, "unauthenticated"},
			{"mesh A's owner on mesh B", testkit.AdminAuth(h.owner, "GET", bPath, nil, time.Now()), 403, "forbidden"},
			{"mesh B's member on mesh B", testkit.AdminAuth(bob.id, "GET", bPath, nil, time.Now()), 403, "forbidden"},
			{"signature for mesh A's path on mesh B", testkit.AdminAuth(h.owner, "GET", adminPath, nil, time.Now()), 401, "unauthenticated"},
		}
		for _, tc := range admins {
			t.Run("admin/"+tc.name, func(t *testing.T) {
				path := bPath
				if tc.name == "replayed admin request" {
					path = adminPath
				}
				if st, out := adminGet(t, h, path, tc.header); st != tc.status || out["error"] != tc.code {
					t.Fatalf("HTTP %d %v, want %d %s", st, out, tc.status, tc.code)
				}
			})
		}
		// Nothing above made bob's mesh any member richer.
		members, err := h.st.ListMembers(context.Background(), meshB.ID)
		if err != nil || len(members) != 1 || members[0].Role != store.RoleMember {
			t.Fatalf("mesh B members = %v, %v", members, err)
		}
	})
}

func adminGet(t *testing.T, h *harness, path, auth string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.baseURL()+path, nil)
	req.Header.Set("Authorization", auth)
	return doJSON(t, http.DefaultClient, req)
}
