package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// TestBacklogLargerThanTheWriteQueue: a member back from a long absence
// receives every queued message, in order, although the backlog is many
// times the per-connection write queue (it is read in pages that wait for
// room instead of overflowing the queue).
func TestBacklogLargerThanTheWriteQueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b, func(c *config.Broker, o *broker.Options) {
			o.WriteQueueSize = 16
			c.SendRatePerSec = 1 << 20
		})
		alice, bob := h.addMember("alice"), h.addMember("bob")
		ac := alice.connect()
		const n = 300
		for i := 0; i < n; i++ {
			send(ac, "bob", "now", fmt.Sprintf("b%03d", i))
		}
		for i := 0; i < n; i++ {
			ac.WaitFor(testkit.Type("ack"))
		}
		t.Run("on connect", func(t *testing.T) {
			bc := bob.connect(withSession("bob-back"))
			for i := 0; i < n; i++ {
				p := nextPush(bc)
				if p["ciphertext"] != fmt.Sprintf("b%03d", i) {
					t.Fatalf("push %d = %v", i, p["ciphertext"])
				}
			}
			bc.WS.CloseNow()
		})
		t.Run("fetch_pending of an ephemeral session", func(t *testing.T) {
			ec := bob.connect(func(hl *testkit.Hello) { hl.Ephemeral = true })
			// The unacked rows return to bob's member once the broker has
			// processed the end of "bob-back"; poll until they have.
			deadline := time.Now().Add(5 * time.Second)
			for {
				ok := request(ec, map[string]any{"type": "fetch_pending"})
				if ok["count"] == float64(n) {
					break
				}
				if ok["count"] != float64(0) || time.Now().After(deadline) {
					t.Fatalf("fetch_pending = %v", ok)
				}
				time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
			}
			for i := 0; i < n; i++ {
				if p := nextPush(ec); p["ciphertext"] != fmt.Sprintf("b%03d", i) {
					t.Fatalf("push %d = %v", i, p["ciphertext"])
				}
			}
		})
	})
}
