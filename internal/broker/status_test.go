package broker_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// releaseBudget is how soon a held message must arrive once its recipient
// turns idle: the 50 ms, scaled under the race detector, which makes
// every frame several times slower without changing what triggers the
// release. The real figure comes from BenchmarkHeldRelease and meshload's
// `held` scenario (P7), not from this test.
var releaseBudget = map[bool]time.Duration{false: 50 * time.Millisecond, true: 250 * time.Millisecond}[raceEnabled]

func (h *harness) baseURL() string { return "http://" + h.srv.Addr }

// hook posts a status hook for this peer, signed by its own key.
func (p *peer) hook(sessionID, cwd, status string) (int, map[string]any) {
	p.h.t.Helper()
	return testkit.PostHook(p.h.t, p.h.baseURL(), testkit.Hook(p.id, p.meshID, p.member.ID, sessionID, cwd, status, hookClock()))
}

var lastHookMs atomic.Int64

// hookClock is now, but strictly increasing in milliseconds: two identical
// hooks signed in the same millisecond are byte-identical, and the broker
// rightly refuses the second as a replay.
func hookClock() time.Time {
	for {
		last, now := lastHookMs.Load(), time.Now().UnixMilli()
		next := max(now, last+1)
		if lastHookMs.CompareAndSwap(last, next) {
			return time.UnixMilli(next)
		}
	}
}

// peerStatus returns the status and statusSource list_peers shows for a session.
func peerStatus(t testing.TB, c *testkit.Client, sessionID string) (string, string) {
	t.Helper()
	for _, p := range request(c, map[string]any{"type": "list_peers"})["peers"].([]any) {
		if pm := p.(map[string]any); pm["sessionId"] == sessionID {
			return pm["status"].(string), pm["statusSource"].(string)
		}
	}
	t.Fatalf("session %s not in list_peers", sessionID)
	return "", ""
}

func setStatus(t testing.TB, c *testkit.Client, status, source string) {
	t.Helper()
	f := map[string]any{"type": "set_status", "status": status}
	if source != "" {
		f["source"] = source
	}
	if r := request(c, f); r["type"] != "ok" {
		t.Fatalf("set_status %s/%s: %v", status, source, r)
	}
}

// sendBehindMarker sends each ciphertext to target with its priority, then a
// "now" marker, and waits for the marker at rc. Pushes keep send order, so
// anything not received before the marker is held, not late.
func sendBehindMarker(t testing.TB, ac, rc *testkit.Client, target string, msgs [][2]string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, m := range msgs {
		ids[m[1]] = sendAcked(t, ac, target, m[0], m[1])
	}
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	sendAcked(t, ac, target, "now", marker)
	rc.WaitFor(pushWithCiphertext(marker))
	return ids
}

// received reports whether c has an unconsumed push carrying ct.
func received(c *testkit.Client, ct string) bool {
	for _, f := range c.Frames() {
		if pushWithCiphertext(ct)(f) {
			return true
		}
	}
	return false
}

// waitReleased polls for the held pushes until deadline and returns when
// the last of them arrived.
func waitReleased(t testing.TB, c *testkit.Client, deadline time.Time, cts ...string) time.Time {
	t.Helper()
	for _, ct := range cts {
		if _, ok := c.WaitForWithin(time.Until(deadline), pushWithCiphertext(ct)); !ok {
			t.Fatalf("held %q not delivered by the deadline; frames: %v", ct, c.Frames())
		}
	}
	return time.Now()
}

func TestPriorityGatingTable(t *testing.T) {
	cases := []struct {
		status    string
		delivered []string // priorities pushed at once
		held      []string // priorities held until idle
	}{
		{"idle", []string{"low", "next", "now"}, nil},
		{"working", []string{"now"}, []string{"low", "next"}},
		{"dnd", []string{"now"}, []string{"low", "next"}},
	}
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac, bc := alice.connect(), bob.connect()
		for _, tc := range cases {
			t.Run(tc.status, func(t *testing.T) {
				setStatus(t, bc, tc.status, "")
				var msgs [][2]string
				for _, p := range append(append([]string(nil), tc.held...), tc.delivered...) {
					msgs = append(msgs, [2]string{p, tc.status + "-" + p})
				}
				ids := sendBehindMarker(t, ac, bc, "bob", msgs)
				for _, p := range tc.delivered {
					bc.WaitFor(pushWithCiphertext(tc.status + "-" + p))
				}
				for _, p := range tc.held {
					ct := tc.status + "-" + p
					if received(bc, ct) {
						t.Fatalf("%s message delivered to a %s session", p, tc.status)
					}
					st := request(ac, map[string]any{"type": "message_status", "messageId": ids[ct]})
					if r := st["recipients"].([]any)[0].(map[string]any); r["status"] != "held" {
						t.Fatalf("message_status of held %s = %v", p, st)
					}
				}
				if len(tc.held) == 0 {
					return
				}
				start := time.Now()
				setStatus(t, bc, "idle", "")
				var cts []string
				for _, p := range tc.held {
					cts = append(cts, tc.status+"-"+p)
				}
				if took := waitReleased(t, bc, start.Add(5*time.Second), cts...).Sub(start); took > releaseBudget {
					t.Fatalf("held messages arrived %v after set_status idle; budget %v", took, releaseBudget)
				}
			})
		}
	})
}

func TestHeldMessagesFlowWhenIdle(t *testing.T) {
	triggers := []struct {
		name string
		busy func(t *testing.T, p *peer, c *testkit.Client)
		idle func(t *testing.T, p *peer, c *testkit.Client)
	}{
		{"set_status",
			func(t *testing.T, _ *peer, c *testkit.Client) { setStatus(t, c, "working", "") },
			func(t *testing.T, _ *peer, c *testkit.Client) { setStatus(t, c, "idle", "") }},
		{"hook",
			func(t *testing.T, p *peer, _ *testkit.Client) { mustHook(t, p, "bob-main", "working") },
			func(t *testing.T, p *peer, _ *testkit.Client) { mustHook(t, p, "bob-main", "idle") }},
	}
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac, bc := alice.connect(), bob.connect(withSession("bob-main"))
		for _, tr := range triggers {
			t.Run(tr.name, func(t *testing.T) {
				tr.busy(t, bob, bc)
				ct := "held-by-" + tr.name
				sendBehindMarker(t, ac, bc, "bob", [][2]string{{"next", ct}})
				if received(bc, ct) {
					t.Fatal("next delivered to a working session")
				}
				start := time.Now()
				tr.idle(t, bob, bc)
				if took := waitReleased(t, bc, start.Add(5*time.Second), ct).Sub(start); took > releaseBudget {
					t.Fatalf("held message arrived %v after the %s made the session idle; budget %v", took, tr.name, releaseBudget)
				}
			})
		}
	})
}

func TestTTLSweepTurnsWorkingIdleAndReleases(t *testing.T) {
	const ttl, sweep = 300 * time.Millisecond, 5 * time.Millisecond
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b, func(c *config.Broker, o *broker.Options) {
			c.StatusTTL, o.StatusSweepInterval = ttl, sweep
		})
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac, bc := alice.connect(), bob.connect(withSession("bob-1"))
		before := time.Now()
		setStatus(t, bc, "working", "")
		after := time.Now()
		// The sweep turns working idle between TTL after the status was set
		// and one sweep interval later; release must follow within budget.
		from, to := before.Add(ttl), after.Add(ttl+sweep)
		sendBehindMarker(t, ac, bc, "bob", [][2]string{{"next", "held-by-ttl"}})
		if time.Now().Before(from) && received(bc, "held-by-ttl") {
			t.Fatal("released before the TTL ran out")
		}
		arrived := waitReleased(t, bc, to.Add(5*time.Second), "held-by-ttl")
		if arrived.Before(from) || arrived.Sub(to) > releaseBudget {
			t.Fatalf("released %v after the status was set; TTL %v, budget %v after the sweep", arrived.Sub(before), ttl, releaseBudget)
		}
		if st, src := peerStatus(t, ac, "bob-1"); st != "idle" || src != "ttl" {
			t.Fatalf("after the TTL: %s/%s", st, src)
		}
	})
}

func mustHook(t testing.TB, p *peer, session, status string) {
	t.Helper()
	if code, res := p.hook(session, "", status); code != 200 || res["ok"] != true {
		t.Fatalf("hook %s: HTTP %d %v", status, code, res)
	}
}

func TestInferredStatusYieldsToAFreshHook(t *testing.T) {
	const window = 400 * time.Millisecond
	h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker, _ *broker.Options) { c.HookFreshWindow = window })
	bob := h.addMember("bob")
	bc := bob.connect(withSession("bob-1"))
	hookAt := time.Now()
	mustHook(t, bob, "bob-1", "working")
	setStatus(t, bc, "idle", "inferred")
	if st, src := peerStatus(t, bc, "bob-1"); st != "working" || src != "hook" {
		t.Fatalf("inferred idle overrode a fresh hook: %s/%s", st, src)
	}
	// Past the window the inferred signal wins. Poll with a deadline.
	deadline := time.Now().Add(5 * time.Second)
	for {
		setStatus(t, bc, "idle", "inferred")
		st, src := peerStatus(t, bc, "bob-1")
		if st == "idle" && src == "inferred" {
			break
		}
		if elapsed := time.Since(hookAt); elapsed > window+time.Second || time.Now().After(deadline) {
			t.Fatalf("inferred idle still ignored %v after the hook (window %v): %s/%s", elapsed, window, st, src)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
	}
	if elapsed := time.Since(hookAt); elapsed < window {
		t.Fatalf("inferred idle won after %v, inside the %v window", elapsed, window)
	}
	// A manual signal always applies, hook or not.
	mustHook(t, bob, "bob-1", "working")
	setStatus(t, bc, "idle", "")
	if st, src := peerStatus(t, bc, "bob-1"); st != "idle" || src != "manual" {
		t.Fatalf("manual idle: %s/%s", st, src)
	}
}

func TestDndIsSetAndClearedOnlyManually(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker, o *broker.Options) {
		c.StatusTTL, o.StatusSweepInterval = 50*time.Millisecond, 5*time.Millisecond
	})
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac, bc := alice.connect(), bob.connect(withSession("bob-1"))
	setStatus(t, bc, "dnd", "")
	mustHook(t, bob, "bob-1", "idle")
	setStatus(t, bc, "idle", "inferred")
	if r := request(bc, map[string]any{"type": "set_status", "status": "dnd", "source": "inferred"}); r["code"] != "malformed" {
		t.Fatalf("inferred dnd: %v", r)
	}
	// The TTL applies to working only: a held message stays held under dnd.
	sendBehindMarker(t, ac, bc, "bob", [][2]string{{"next", "during-dnd"}})
	if st, src := peerStatus(t, ac, "bob-1"); st != "dnd" || src != "manual" || received(bc, "during-dnd") {
		t.Fatalf("dnd changed by a non-manual signal: %s/%s", st, src)
	}
	setStatus(t, bc, "idle", "")
	bc.WaitFor(pushWithCiphertext("during-dnd"))
}

func TestSetSummaryShowsInListPeers(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0])
	bc := h.addMember("bob").connect(withSession("bob-1"))
	if r := request(bc, map[string]any{"type": "set_summary", "summary": "refactoring the router"}); r["type"] != "ok" {
		t.Fatalf("set_summary: %v", r)
	}
	peers := request(bc, map[string]any{"type": "list_peers"})["peers"].([]any)
	if s := peers[0].(map[string]any)["summary"]; s != "refactoring the router" {
		t.Fatalf("summary = %v", s)
	}
	long := strings.Repeat("é", 513) // 513 characters, 1026 bytes
	if r := request(bc, map[string]any{"type": "set_summary", "summary": long}); r["code"] != "too_large" {
		t.Fatalf("513-char summary: %v", r)
	}
	if r := request(bc, map[string]any{"type": "set_summary", "summary": long[:1024]}); r["type"] != "ok" {
		t.Fatalf("512-char summary: %v", r)
	}
}
