package broker_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// auditLog records audit events for assertions.
type auditLog struct {
	mu     sync.Mutex
	events []broker.AuditEvent
}

func (a *auditLog) Record(e broker.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

func (a *auditLog) named(event string) []broker.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []broker.AuditEvent
	for _, e := range a.events {
		if e.Event == event {
			out = append(out, e)
		}
	}
	return out
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestSharedState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		audit := &auditLog{}
		h := startBroker(t, b, func(_ *config.Broker, o *broker.Options) { o.Audit = audit })
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac, bc := alice.connect(), bob.connect()
		ec := bob.connect(func(hl *testkit.Hello) { hl.Ephemeral = true })

		value := map[string]any{"owner": "alice", "files": []any{"a.go", "b.go"}}
		r := request(ac, map[string]any{"type": "set_state", "key": "deploy/lock", "value": value})
		if r["type"] != "ok" || r["version"] != float64(1) {
			t.Fatalf("set_state: %v", r)
		}
		ch := bc.WaitFor(testkit.Type("state_change"))
		if ch["key"] != "deploy/lock" || jsonText(ch["value"]) != jsonText(value) || ch["updatedBy"] != "alice" || ch["version"] != float64(1) || ch["updatedAt"] == "" {
			t.Fatalf("state_change = %v", ch)
		}
		request(ac, map[string]any{"type": "set_state", "key": "a-first", "value": 42})
		g := request(bc, map[string]any{"type": "get_state", "key": "deploy/lock"})
		if g["type"] != "state_result" || jsonText(g["value"]) != jsonText(value) || g["version"] != float64(1) || g["updatedBy"] != "alice" {
			t.Fatalf("get_state = %v", g)
		}
		if g := request(bc, map[string]any{"type": "get_state", "key": "missing"}); g["type"] != "state_result" || g["value"] != nil {
			t.Fatalf("missing key = %v", g)
		}
		list := request(bc, map[string]any{"type": "list_state"})["entries"].([]any)
		if len(list) != 2 || list[0].(map[string]any)["key"] != "a-first" || list[1].(map[string]any)["key"] != "deploy/lock" {
			t.Fatalf("list_state = %v", list)
		}
		// Compare-and-set.
		expectCode(t, request(bc, map[string]any{"type": "set_state", "key": "deploy/lock", "value": "bob", "ifVersion": 7}), "version_conflict")
		expectCode(t, request(bc, map[string]any{"type": "set_state", "key": "deploy/lock", "value": "bob", "ifVersion": 0}), "version_conflict")
		if r := request(bc, map[string]any{"type": "set_state", "key": "deploy/lock", "value": "bob", "ifVersion": 1}); r["version"] != float64(2) {
			t.Fatalf("cas: %v", r)
		}
		ac.WaitFor(func(f map[string]any) bool { return f["type"] == "state_change" && f["version"] == float64(2) })
		// Delete.
		if r := request(ac, map[string]any{"type": "delete_state", "key": "deploy/lock"}); r["type"] != "ok" {
			t.Fatalf("delete_state: %v", r)
		}
		del := bc.WaitFor(func(f map[string]any) bool { return f["type"] == "state_change" && f["deleted"] == true })
		if del["key"] != "deploy/lock" || del["value"] != nil {
			t.Fatalf("delete state_change = %v", del)
		}
		expectCode(t, request(ac, map[string]any{"type": "delete_state", "key": "deploy/lock"}), "not_found")
		// Limits (protocol.md §6).
		expectCode(t, request(ac, map[string]any{"type": "set_state", "key": strings.Repeat("k", 257), "value": 1}), "too_large")
		expectCode(t, request(ac, map[string]any{"type": "set_state", "key": "big", "value": strings.Repeat("v", 16*1024)}), "too_large")
		expectCode(t, request(ac, map[string]any{"type": "set_state", "key": "", "value": 1}), "malformed")
		expectCode(t, request(ac, map[string]any{"type": "set_state", "key": "k"}), "malformed")
		if r := request(ac, map[string]any{"type": "set_state", "key": strings.Repeat("k", 256), "value": strings.Repeat("v", 16*1024-2)}); r["type"] != "ok" {
			t.Fatalf("at the limits: %v", r)
		}
		// Audit: state_set with the key only; ephemeral sessions get no state_change.
		sets := audit.named("state_set")
		if len(sets) != 4 || sets[0].Details["key"] != "deploy/lock" || len(sets[0].Details) != 1 || sets[0].Actor != alice.id.Hex() {
			t.Fatalf("state_set audit = %+v", sets)
		}
		for _, f := range ec.Frames() {
			if f["type"] == "state_change" {
				t.Fatalf("ephemeral session got %v", f)
			}
		}
	})
}

func expectCode(t testing.TB, f map[string]any, code string) {
	t.Helper()
	if f["type"] != "error" || f["code"] != code {
		t.Fatalf("got %v, want error %s", f, code)
	}
}

func TestConcurrentSetStateOneWins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		ac, bc := h.addMember("alice").connect(), h.addMember("bob").connect()
		request(ac, map[string]any{"type": "set_state", "key": "leader", "value": "none"})
		for round := 1; round <= 10; round++ {
			// Both requests are on the wire before either answer is read.
			var ids []string
			for i, c := range []*testkit.Client{ac, bc} {
				id := fmt.Sprintf("cas-%d-%d", round, i)
				c.Send(map[string]any{"type": "set_state", "key": "leader", "value": i, "ifVersion": round, "_reqId": id})
				ids = append(ids, id)
			}
			replies := []map[string]any{ac.WaitFor(testkit.Reply(ids[0])), bc.WaitFor(testkit.Reply(ids[1]))}
			oks, conflicts := 0, 0
			for _, r := range replies {
				switch {
				case r["type"] == "ok" && r["version"] == float64(round+1):
					oks++
				case r["code"] == "version_conflict":
					conflicts++
				}
			}
			if oks != 1 || conflicts != 1 {
				t.Fatalf("round %d: %v", round, replies)
			}
		}
	})
}
