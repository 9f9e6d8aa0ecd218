package broker_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
	"github.com/claudemesh/claudemesh/internal/testkit/pgcluster"
)

// TestPostgresOutageDuringLoad (R2): the broker runs on its own throwaway
// PostgreSQL, which the test stops for 10 s (repeatedly, longer, under
// CLAUDEMESH_SOAK) while two senders pipeline DMs. Every send is answered:
// acked only while the database commits, `unavailable` once it is down (an
// ack for a send written after the database stopped fails the test);
// /health answers 503 during the outage; within 5 s of the database
// returning, sends are acked and /health is 200 again; and every acked
// message reaches its recipient: 0 acked lost.
func TestPostgresOutageDuringLoad(t *testing.T) {
	outage, cycles := 10*time.Second, 1
	if os.Getenv("CLAUDEMESH_SOAK") != "" {
		outage, cycles = 30*time.Second, 3
	}
	pg := pgcluster.Start(t)
	cfg := testConfig(t, storetest.Backends(t)[0])
	cfg.DatabaseURL, cfg.DataDir = pg.URL(), ""
	h := startWithConfig(t, cfg, func(c *config.Broker, _ *broker.Options) {
		c.SendRatePerSec, c.MemberSendRatePerSec = 1<<20, 1<<20
	})
	alice, carol, bob := h.addMember("alice"), h.addMember("carol"), h.addMember("bob")
	senders := []*testkit.Client{alice.connect(), carol.connect()}
	bc := bob.connect()
	acked := map[string]bool{}
	got := map[string]bool{}
	seq := 0
	// round pipelines 8 sends per sender and returns how many were acked and
	// refused unavailable; any other answer fails the test.
	round := func() (ok, refused int) {
		t.Helper()
		var ids []string
		var from []*testkit.Client
		for _, c := range senders {
			for range 8 {
				seq++
				ids = append(ids, send(c, "bob", "now", fmt.Sprintf("m%d", seq)))
				from = append(from, c)
			}
		}
		for i, id := range ids {
			f, done := from[i].WaitForWithin(30*time.Second, testkit.Reply(id))
			switch {
			case !done:
				t.Fatalf("send %s never answered", id)
			case f["type"] == "ack":
				acked[f["messageId"].(string)] = true
				ok++
			case f["code"] == "unavailable":
				refused++
			default:
				t.Fatalf("send %s: %v", id, f)
			}
		}
		return ok, refused
	}
	drain := func() {
		for {
			p, ok := bc.WaitForWithin(0, testkit.Push)
			if !ok {
				return
			}
			got[p["messageId"].(string)] = true
			bc.Send(map[string]any{"type": "client_ack", "messageId": p["messageId"]})
		}
	}
	for cycle := 0; cycle < cycles; cycle++ {
		for range 10 {
			if ok, refused := round(); refused > 0 || ok == 0 {
				t.Fatalf("before the outage: %d acked, %d refused", ok, refused)
			}
			drain()
		}
		pg.Stop() // returns once the server is down
		down := time.Now()
		sawRefusal := false
		for time.Since(down) < outage {
			if ok, refused := round(); ok > 0 {
				t.Fatalf("%d sends written after the database stopped were acked", ok)
			} else if refused > 0 {
				sawRefusal = true
			}
			if code := healthCode(t, h); code != http.StatusServiceUnavailable {
				t.Fatalf("/health = %d with the database down", code)
			}
			drain()
			time.Sleep(100 * time.Millisecond) // pacing of the load during the outage
		}
		if !sawRefusal {
			t.Fatal("no send was refused unavailable during the outage")
		}
		pg.Start() // returns once PostgreSQL accepts connections
		back := time.Now()
		for {
			ok, _ := round()
			if ok > 0 && healthCode(t, h) == http.StatusOK {
				break
			}
			if time.Since(back) > 5*time.Second {
				t.Fatalf("not recovered 5 s after the database returned (acked %d, health %d)", ok, healthCode(t, h))
			}
			time.Sleep(50 * time.Millisecond) // polling interval, bounded by the deadline
		}
		t.Logf("cycle %d: recovered %v after the database returned; %d acked so far", cycle, time.Since(back).Round(time.Millisecond), len(acked))
		for range 10 { // steady again
			if ok, refused := round(); refused > 0 || ok == 0 {
				t.Fatalf("after the outage: %d acked, %d refused", ok, refused)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		drain()
		lost := 0
		for id := range acked {
			if !got[id] {
				lost++
			}
		}
		if lost == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acked messages never reached bob", lost, len(acked))
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

func healthCode(t *testing.T, h *harness) int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(h.baseURL() + "/health")
	if err != nil {
		t.Fatalf("/health: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
