package broker_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// TestMetricsExposeTheDocumentedSeries scrapes /metrics after real traffic.
func TestMetricsExposeTheDocumentedSeries(t *testing.T) {
	h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker, _ *broker.Options) { c.SendRatePerSec = 1 })
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac, bc := alice.connect(), bob.connect()
	sendAcked(t, ac, "bob", "now", "counted")
	bc.WaitFor(pushWithCiphertext("counted"))
	for i := 0; i < 3; i++ { // burst is 2: one of these is refused
		ac.WaitFor(testkit.Reply(send(ac, "bob", "now", "more")))
	}
	resp, err := http.Get("http://" + h.srv.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"claudemesh_connections 2",
		`claudemesh_hellos_total{result="ok"} 2`,
		`claudemesh_messages_routed_total{kind="direct",priority="now"}`,
		`claudemesh_rate_limited_total{kind="send"} `,
		"claudemesh_commit_queue_depth 0",
		"claudemesh_held_messages 0",
		"claudemesh_delivery_latency_seconds_count",
		"claudemesh_store_commit_seconds_count",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
