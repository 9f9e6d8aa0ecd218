package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// BenchmarkHeldRelease measures the time from a working recipient's
// set_status idle request to the arrival of the next message it held. One
// op is one hold-and-release; the figure includes the request round trip.
//
//	go test -run '^$' -bench HeldRelease -benchtime 200x ./internal/broker/
func BenchmarkHeldRelease(b *testing.B) {
	for _, backend := range storetest.Backends(b) {
		b.Run(backend.Name, func(b *testing.B) {
			// Each op sends two messages: lift the per-session send limit.
			h := startBroker(b, backend, func(c *config.Broker, _ *broker.Options) { c.SendRatePerSec, c.MemberSendRatePerSec = 1<<30, 1<<30 })
			alice, bob := h.addMember("alice"), h.addMember("bob")
			ac, bc := alice.connect(), bob.connect()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				setStatus(b, bc, "working", "")
				ct := fmt.Sprintf("held-%d", i)
				sendBehindMarker(b, ac, bc, "bob", [][2]string{{"next", ct}})
				start := time.Now()
				setStatus(b, bc, "idle", "")
				total += waitReleased(b, bc, start.Add(5*time.Second), ct).Sub(start)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/release")
		})
	}
}
