package broker_test

import (
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

func TestHookRequestsThatChangeNothing(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	bob, mallory := h.addMember("bob"), h.addMember("mallory")
	bc := bob.connect(withSession("bob-1"))
	valid := func() map[string]any {
		return testkit.Hook(bob.id, bob.meshID, bob.member.ID, "bob-1", "", "working", time.Now())
	}
	replayed := valid()
	if code, _ := testkit.PostHook(t, h.baseURL(), replayed); code != 200 {
		t.Fatalf("first use of the hook: HTTP %d", code)
	}
	setStatus(t, bc, "idle", "") // so that any refused hook below would show as working

	cases := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"another member's key claiming bob", testkit.Hook(mallory.id, bob.meshID, bob.member.ID, "bob-1", "", "working", time.Now()), 401, "unauthorized"},
		{"bob's pubkey signed by another key", func() map[string]any {
			f := testkit.Hook(mallory.id, bob.meshID, bob.member.ID, "bob-1", "", "working", time.Now())
			f["pubkey"] = bob.id.Hex()
			return f
		}(), 401, "bad_signature"},
		{"no signature", func() map[string]any { f := valid(); delete(f, "signature"); return f }(), 401, "bad_signature"},
		{"no key", func() map[string]any { f := valid(); delete(f, "pubkey"); return f }(), 401, "bad_signature"},
		{"tampered status", func() map[string]any { f := valid(); f["status"] = "idle"; f["session_id"] = "bob-2"; return f }(), 401, "bad_signature"},
		{"replayed signature", replayed, 401, "replayed"},
		{"stale", testkit.Hook(bob.id, bob.meshID, bob.member.ID, "bob-1", "", "working", time.Now().Add(-2*time.Minute)), 401, "timestamp_skew"},
		{"dnd from a hook", testkit.Hook(bob.id, bob.meshID, bob.member.ID, "bob-1", "", "dnd", time.Now()), 401, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, res := testkit.PostHook(t, h.baseURL(), tc.body)
			if status != tc.status || res["error"] != tc.code || res["message"] == "" {
				t.Fatalf("HTTP %d %v, want %d %s", status, res, tc.status, tc.code)
			}
			if _, err := time.Parse(time.RFC3339, res["timestamp"].(string)); err != nil {
				t.Fatalf("timestamp %v: %v", res["timestamp"], err)
			}
			if st, src := peerStatus(t, bc, "bob-1"); st != "idle" || src != "manual" {
				t.Fatalf("refused hook changed the status: %s/%s", st, src)
			}
		})
	}
}

func TestHookMatchesSessionThenCwdThenWaitsForConnect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac := alice.connect()
		inRepo := func(hl *testkit.Hello) { hl.CWD = "/src/repo" }
		bob.connect(withSession("bob-1"), inRepo)

		// Unknown session_id, same cwd: the live session in that directory.
		if code, res := bob.hook("unknown", "/src/repo", "working"); code != 200 || res["matched"] != "cwd" {
			t.Fatalf("cwd match: HTTP %d %v", code, res)
		}
		if st, src := peerStatus(t, ac, "bob-1"); st != "working" || src != "hook" {
			t.Fatalf("after cwd hook: %s/%s", st, src)
		}
		// A hook for a session that has not connected yet waits for it.
		if code, res := bob.hook("bob-2", "/elsewhere", "working"); code != 200 || res["matched"] != "pending" {
			t.Fatalf("pending: HTTP %d %v", code, res)
		}
		bob.connect(withSession("bob-2"))
		if st, src := peerStatus(t, ac, "bob-2"); st != "working" || src != "hook" {
			t.Fatalf("pending hook not applied on connect: %s/%s", st, src)
		}
		// Messages sent while it works are held; the next hook releases them.
		if code, res := bob.hook("bob-2", "", "idle"); code != 200 || res["matched"] != "session" {
			t.Fatalf("session match: HTTP %d %v", code, res)
		}
		if st, _ := peerStatus(t, ac, "bob-2"); st != "idle" {
			t.Fatalf("after idle hook: %s", st)
		}
	})
}

func TestHookRateLimitPerMember(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(_ *config.Broker, o *broker.Options) { o.HookRatePerSec = 1 })
	bob, carol := h.addMember("bob"), h.addMember("carol")
	limited := 0
	for i := 0; i < 5; i++ {
		code, res := bob.hook("bob-1", "", "working")
		if code == 429 {
			if res["error"] != "rate_limited" {
				t.Fatalf("429 body: %v", res)
			}
			limited++
		}
	}
	if limited < 2 { // burst is 2
		t.Fatalf("%d of 5 hooks limited", limited)
	}
	if code, _ := carol.hook("carol-1", "", "working"); code != 200 {
		t.Fatalf("another member was limited: HTTP %d", code)
	}
}

func TestHeldBacklogAndLiveMessagesReleaseInSendOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac := alice.connect()
		sendAcked(t, ac, "bob", "next", "queued-offline")
		// The hook arrives before the session: it connects already working,
		// so its backlog is held too.
		if code, res := bob.hook("bob-1", "", "working"); code != 200 || res["matched"] != "pending" {
			t.Fatalf("hook: HTTP %d %v", code, res)
		}
		bc := bob.connect(withSession("bob-1"))
		sendBehindMarker(t, ac, bc, "bob", [][2]string{{"low", "live-held"}})
		if received(bc, "queued-offline") || received(bc, "live-held") {
			t.Fatalf("held messages delivered to a working session: %v", bc.Frames())
		}
		start := time.Now()
		mustHook(t, bob, "bob-1", "idle")
		for _, want := range []string{"queued-offline", "live-held"} {
			p, ok := bc.WaitForWithin(time.Until(start.Add(5*time.Second)), testkit.Push)
			if !ok || p["ciphertext"] != want {
				t.Fatalf("released %v, want %s next", p, want)
			}
		}
		if took := time.Since(start); took > releaseBudget {
			t.Fatalf("release took %v; budget %v", took, releaseBudget)
		}
	})
}
