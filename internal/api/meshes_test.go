package api_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

func TestCreateMesh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		a, c := h.createMesh("  Platform / Team!! "), h.createMesh("platform team")
		if a.slug != "platform-team" || c.slug != a.slug || a.id == c.id {
			t.Fatalf("slugs %q %q ids %q %q: want equal non-unique slugs, distinct ids", a.slug, c.slug, a.id, c.id)
		}
		// The root key is stored encrypted, and opens with the data key.
		stored, err := h.st.GetMesh(context.Background(), a.id)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.RootKey) == 32 || bytes.Contains(stored.RootKey, a.rootKey) {
			t.Fatal("root key stored in the clear")
		}
		members, _ := h.st.ListMembers(context.Background(), a.id)
		if len(members) != 1 || members[0].Pubkey != a.creator.Hex() || members[0].Role != "admin" || members[0].ID != a.creatorID {
			t.Fatalf("creator member: %+v", members)
		}

		owner, peer := testkit.NewIdentity(t), testkit.NewIdentity(t)
		key := make([]byte, 32)
		body := createBody("x", owner, peer, key, time.Now())
		bad := createBody("x", owner, peer, key, time.Now())
		bad["name"] = "y" // signed over "x"
		stale := createBody("x", owner, peer, key, time.Now().Add(-2*time.Minute))
		short := createBody("x", owner, peer, key[:31], time.Now())
		for _, c := range []struct {
			name   string
			body   map[string]any
			status int
			code   string
		}{
			{"bad signature", bad, 400, "bad_signature"},
			{"stale timestamp", stale, 400, "malformed"},
			{"short root key", short, 400, "malformed"},
			{"ok", body, 201, ""},
			{"replayed", body, 401, "unauthenticated"},
		} {
			status, out := h.call("POST", "/meshes", c.body)
			if status != c.status || (c.code != "" && out["error"] != c.code) {
				t.Errorf("%s: %d %v, want %d %s", c.name, status, out, c.status, c.code)
			}
		}
	})
}

func TestCreateMeshNeedsAdminTokenWhenSet(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker) { c.AdminToken = "s3cret" })
	owner, peer := testkit.NewIdentity(t), testkit.NewIdentity(t)
	status, out := h.call("POST", "/meshes", createBody("m", owner, peer, make([]byte, 32), time.Now()))
	if status != http.StatusForbidden || out["error"] != "forbidden" {
		t.Fatalf("without token: %d %v", status, out)
	}
	h.createMesh("m", "Authorization", "Bearer s3cret")
}

func TestAdminRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		m := h.createMesh("ops")
		base := "/meshes/" + m.id

		// The creator's member key and the owner key may both administer.
		for _, id := range []testkit.Identity{m.owner, m.creator} {
			if status, out := h.admin(id, "GET", base, nil); status != 200 || out["name"] != "ops" || out["member_count"] != float64(1) {
				t.Fatalf("GET mesh: %d %v", status, out)
			}
		}
		status, out := h.admin(m.owner, "PATCH", base, map[string]any{"name": "Ops Room"})
		if status != 200 || out["slug"] != "ops-room" {
			t.Fatalf("rename: %d %v", status, out)
		}

		// A plain member is forbidden; a stranger too; replays and old
		// timestamps are refused.
		j := newJoiner(t)
		code := h.mint(m, "member", 1)["code"].(string)
		if status, out := h.call("POST", "/invites/"+code+"/claim", j.claimBody(code)); status != 200 {
			t.Fatalf("claim: %d %v", status, out)
		}
		for _, c := range []struct {
			name   string
			header string
			status int
			code   string
		}{
			{"member", signedHeader(j.id, "GET", base+"/members", nil, time.Now()), 403, "forbidden"},
			{"stranger", signedHeader(testkit.NewIdentity(t), "GET", base+"/members", nil, time.Now()), 403, "forbidden"},
			{"skewed", signedHeader(m.owner, "GET", base+"/members", nil, time.Now().Add(-90*time.Second)), 401, "unauthenticated"},
			{"other path", signedHeader(m.owner, "GET", base, nil, time.Now()), 401, "unauthenticated"},
			{"no header", "", 401, "unauthenticated"},
		} {
			status, out := h.callRaw("GET", base+"/members", nil, "Authorization", c.header)
			if status != c.status || out["error"] != c.code {
				t.Errorf("%s: %d %v, want %d %s", c.name, status, out, c.status, c.code)
			}
		}
		header := signedHeader(m.owner, "GET", base+"/members", nil, time.Now())
		if status, _ := h.callRaw("GET", base+"/members", nil, "Authorization", header); status != 200 {
			t.Fatalf("first use: %d", status)
		}
		if status, out := h.callRaw("GET", base+"/members", nil, "Authorization", header); status != 401 {
			t.Fatalf("replayed admin request: %d %v", status, out)
		}

		// Revoke: the store is written; the broker closes the session.
		_, claimed := h.call("POST", "/invites/"+code+"/claim", j.claimBody(code))
		memberID := claimed["member_id"].(string)
		c, f := testkit.Connect(t, "ws://"+h.srv.Addr+"/ws", testkit.Hello{MeshID: m.id, MemberID: memberID, Member: j.id})
		if f["type"] != "hello_ack" {
			t.Fatalf("hello: %v", f)
		}
		if status, out := h.admin(m.owner, "DELETE", base+"/members/"+memberID, nil); status != 200 || out["revoked_at"] == nil {
			t.Fatalf("revoke: %d %v", status, out)
		}
		closeErr, closed := c.WaitClosed(2 * time.Second)
		if !closed || websocket.CloseStatus(closeErr) != 4001 {
			t.Fatalf("revoked session: closed %v, err %v; want close 4001", closed, closeErr)
		}
		status, out = h.admin(m.owner, "GET", base+"/members", nil)
		if status != 200 || len(out["members"].([]any)) != 2 {
			t.Fatalf("members: %d %v", status, out)
		}
		// The audit route lists the chain newest first, in pages.
		var events []any
		waitFor(t, 5*time.Second, "the member_revoked audit row", func() bool {
			_, out := h.admin(m.owner, "GET", base+"/audit?limit=1000", nil)
			events, _ = out["entries"].([]any)
			for _, e := range events {
				if e.(map[string]any)["event"] == "member_revoked" {
					return true
				}
			}
			return false
		})
		last := events[len(events)-1].(map[string]any)
		if last["seq"] != float64(1) || last["event"] != "mesh_created" || last["prev_hash"] != strings.Repeat("0", 64) {
			t.Fatalf("first audit row: %v", last)
		}
		status, page := h.admin(m.owner, "GET", base+"/audit?limit=2", nil)
		entries := page["entries"].([]any)
		if status != 200 || len(entries) != 2 || page["next_before"] != entries[1].(map[string]any)["seq"] {
			t.Fatalf("audit page: %d %v", status, page)
		}
		if status, _ := h.admin(m.owner, "DELETE", base+"/members/mem_nope", nil); status != 404 {
			t.Fatalf("revoke unknown member: %d", status)
		}
		if status, out := h.admin(m.owner, "GET", "/meshes/mesh_nope", nil); status != 404 || out["error"] != "not_found" {
			t.Fatalf("unknown mesh: %d %v", status, out)
		}
	})
}
