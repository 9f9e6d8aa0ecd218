package broker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// Loopback addresses standing for distinct clients (Linux routes 127/8 to lo).
const (
	attackerAddr = "127.0.0.3"
	bystanderIP  = "127.0.0.4"
)

// TestFailedAuthenticationsAreLimitedPerAddress (R6/R7): bad hellos, hook
// 401s and refused admin requests from one address spend one budget
// (AUTH_FAILURES_PER_MIN). Past it that address is refused rate_limited
// before anything is verified or audited, so it cannot flood the victim
// mesh's audit log; a valid hello from it is refused too, while another
// address is unaffected.
func TestFailedAuthenticationsAreLimitedPerAddress(t *testing.T) {
	const budget, attempts = 5, 12
	routes := []struct {
		name    string
		refusal string // what a failed attempt answers while within budget
		attempt func(t *testing.T, h *harness, victim *peer) string
	}{
		{"hello", "unauthorized", func(t *testing.T, h *harness, victim *peer) string {
			hello := victim.hello()
			hello.Member = testkit.NewIdentity(t) // validly signed by a key that is not the member's
			_, f := testkit.ConnectWith(t, h.wsURL, hello, testkit.DialFrom(attackerAddr))
			return fmt.Sprint(f["code"])
		}},
		{"hook", "unauthorized", func(t *testing.T, h *harness, victim *peer) string {
			body := testkit.Hook(testkit.NewIdentity(t), victim.meshID, victim.member.ID, "s", "/w", "working", time.Now())
			_, out := testkit.PostHookWith(t, testkit.FromAddr(attackerAddr), h.baseURL(), body)
			return fmt.Sprint(out["error"])
		}},
		{"admin", "unauthenticated", func(t *testing.T, h *harness, victim *peer) string {
			path := "/meshes/" + victim.meshID + "/members"
			req, _ := http.NewRequest("GET", h.baseURL()+path, nil)
			// Signed for another path: the signature does not verify.
			req.Header.Set("Authorization", testkit.AdminAuth(h.owner, "GET", path+"?x=1", nil, time.Now()))
			_, out := doJSON(t, testkit.FromAddr(attackerAddr), req)
			return fmt.Sprint(out["error"])
		}},
	}
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker, _ *broker.Options) { c.AuthFailuresPerMin = budget })
			victim := h.addMember("victim")
			for i := 0; i < attempts; i++ {
				want := rt.refusal
				if i >= budget {
					want = "rate_limited"
				}
				if got := rt.attempt(t, h, victim); got != want {
					t.Fatalf("attempt %d answered %q, want %q", i, got, want)
				}
			}
			// The budget is per address and shared by every route: even a
			// valid hello from the attacker's address is refused unverified.
			if _, f := testkit.ConnectWith(t, h.wsURL, victim.hello(), testkit.DialFrom(attackerAddr)); f["code"] != "rate_limited" {
				t.Fatalf("valid hello from the blocked address: %v", f)
			}
			if _, f := testkit.ConnectWith(t, h.wsURL, victim.hello(), testkit.DialFrom(bystanderIP)); f["type"] != "hello_ack" {
				t.Fatalf("another address was refused: %v", f)
			}
			// The audit recorder is FIFO: once the bystander's
			// session_connected is written, every earlier row is too.
			events := waitAuditEvent(t, h, victim.meshID, "session_connected")
			if n := strings.Count(strings.Join(events, ","), "auth_failed"); n != budget {
				t.Fatalf("%d auth_failed audit rows, want %d (the budget): %v", n, budget, events)
			}
			m := scrape(t, h)
			if got := m[`claudemesh_auth_failures_total{route="`+rt.name+`"}`]; got != budget {
				t.Errorf("auth failures metric = %v, want %d", got, budget)
			}
			wantLimited := float64(attempts - budget)
			if rt.name == "hello" {
				wantLimited++ // the valid hello above
			} else if m[`claudemesh_rate_limited_total{kind="auth_hello"}`] != 1 {
				t.Errorf("valid hello not counted as auth_hello: %v", m)
			}
			if got := m[`claudemesh_rate_limited_total{kind="auth_`+rt.name+`"}`]; got != wantLimited {
				t.Errorf("rate limited auth_%s = %v, want %v", rt.name, got, wantLimited)
			}
		})
	}
}

// TestSendsAreLimitedPerMemberAcrossSessions: MEMBER_SEND_RATE_PER_SEC caps a
// member however many sessions it opens, while each session's own limit
// would allow more; another member keeps its own budget.
func TestSendsAreLimitedPerMemberAcrossSessions(t *testing.T) {
	const rate = 5 // burst 10
	h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker, _ *broker.Options) {
		c.SendRatePerSec, c.MemberSendRatePerSec = 1000, rate
	})
	alice, bob, carol := h.addMember("alice"), h.addMember("bob"), h.addMember("carol")
	bob.connect()
	sessions := []*testkit.Client{alice.connect(), alice.connect(), alice.connect()}
	start := time.Now()
	acked, limited := 0, 0
	for i := 0; i < 10; i++ {
		for _, c := range sessions {
			f := c.WaitFor(testkit.Reply(send(c, "bob", "now", "x")))
			switch {
			case f["type"] == "ack":
				acked++
			case f["code"] == "rate_limited":
				limited++
			default:
				t.Fatalf("send: %v", f)
			}
		}
	}
	allowed := 2*rate + int(time.Since(start).Seconds()*rate) + 1
	if acked > allowed || limited == 0 {
		t.Fatalf("alice's 3 sessions: %d acked, %d limited; the member may send at most %d", acked, limited, allowed)
	}
	sendAcked(t, carol.connect(), "bob", "now", "carol has her own budget")
	if got := scrape(t, h)[`claudemesh_rate_limited_total{kind="member_send"}`]; got != float64(limited) {
		t.Fatalf("member_send metric = %v, want %d", got, limited)
	}
}

// TestFloodingMemberLeavesOtherMeshesHealthy (R6): a member of mesh A floods
// sends from two sessions, sends oversized frames, and its address sends
// bad hellos. It is refused rate_limited / too_large / rate_limited while
// the broker stays healthy and a pair in mesh B, connected from another
// address, exchanges every message promptly.
func TestFloodingMemberLeavesOtherMeshesHealthy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b, func(c *config.Broker, _ *broker.Options) {
			c.SendRatePerSec, c.MemberSendRatePerSec, c.MaxMessageBytes, c.AuthFailuresPerMin = 20, 30, 4096, 5
		})
		mallory, victim := h.addMember("mallory"), h.addMember("victim")
		victim.connect()
		meshB := h.newMesh("quiet").ID
		bob, carol := h.addMemberTo(meshB, "bob"), h.addMemberTo(meshB, "carol")
		bc, _ := testkit.ConnectWith(t, h.wsURL, bob.hello(), testkit.DialFrom(bystanderIP))
		cc, _ := testkit.ConnectWith(t, h.wsURL, carol.hello(), testkit.DialFrom(bystanderIP))

		floods := []*testkit.Client{}
		for range 2 {
			c, f := testkit.ConnectWith(t, h.wsURL, mallory.hello(), testkit.DialFrom(attackerAddr))
			if f["type"] != "hello_ack" {
				t.Fatalf("mallory hello: %v", f)
			}
			floods = append(floods, c)
		}
		big := strings.Repeat("x", 5000)
		var floodIDs []string
		var worst time.Duration
		const rounds, perRound = 20, 20
		for r := 0; r < rounds; r++ {
			for _, c := range floods { // pipelined: none of these waits for its answer
				for i := 0; i < perRound; i++ {
					floodIDs = append(floodIDs, send(c, "victim", "now", "flood"))
				}
				c.Send(map[string]any{"type": "send", "id": "big", "targetSpec": "victim", "priority": "now", "ciphertext": big})
			}
			bad := mallory.hello()
			bad.Member = testkit.NewIdentity(t)
			testkit.ConnectWith(t, h.wsURL, bad, testkit.DialFrom(attackerAddr))

			sent := time.Now()
			sendAcked(t, bc, "carol", "now", fmt.Sprintf("quiet-%d", r))
			cc.WaitFor(pushWithCiphertext(fmt.Sprintf("quiet-%d", r)))
			worst = max(worst, time.Since(sent))
		}
		limited, acked := 0, 0
		for i, id := range floodIDs {
			f := floods[i/perRound%2].WaitFor(testkit.Reply(id))
			switch {
			case f["type"] == "ack":
				acked++
			case f["code"] == "rate_limited":
				limited++
			default:
				t.Fatalf("flood send: %v", f)
			}
		}
		for _, c := range floods {
			for r := 0; r < rounds; r++ {
				c.WaitFor(func(f map[string]any) bool { return f["code"] == "too_large" })
			}
		}
		if limited == 0 || acked == 0 {
			t.Fatalf("flood: %d acked, %d rate_limited", acked, limited)
		}
		resp, err := http.Get(h.baseURL() + "/health")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("health during abuse: %v %v", resp, err)
		}
		resp.Body.Close()
		m := scrape(t, h)
		if m[`claudemesh_rate_limited_total{kind="auth_hello"}`] == 0 {
			t.Errorf("bad hellos were never rate limited: %v", m)
		}
		t.Logf("flood: %d acked, %d rate_limited; mesh B's slowest round trip %v", acked, limited, worst)
		// A fresh session of mesh B from its own address still connects.
		if _, f := testkit.ConnectWith(t, h.wsURL, carol.hello(), testkit.DialFrom(bystanderIP)); f["type"] != "hello_ack" {
			t.Fatalf("mesh B hello after the flood: %v", f)
		}
	})
}

// doJSON runs req through client and decodes the JSON answer.
func doJSON(t *testing.T, client *http.Client, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// scrape reads /metrics into series -> value.
func scrape(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	resp, err := http.Get(h.baseURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				out[line[:i]] = v
			}
		}
	}
	return out
}

// waitAuditEvent polls the mesh's audit log until event appears and
// returns every event so far.
func waitAuditEvent(t *testing.T, h *harness, meshID, event string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, err := h.st.AuditAfter(context.Background(), meshID, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		var events []string
		found := false
		for _, r := range rows {
			events = append(events, r.Event)
			found = found || r.Event == event
		}
		if found {
			return events
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s audit row within 5s: %v", event, events)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
	}
}
