package broker_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// TestConcurrentJoinsAnnounceEachPeerOnce: sessions joining at once each
// hear of every other joiner at most once and never of themselves, and of
// every pair at least one side hears of the other. Both sides hearing is
// right when they join together: each registers before the other's
// announcement (this is why meshload counts more peer_joined pushes than
// there are pairs).
func TestConcurrentJoinsAnnounceEachPeerOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend storetest.Backend) {
		const n = 12
		h := startBroker(t, backend)
		peers := make([]*peer, n)
		for i := range peers {
			peers[i] = h.addMember(fmt.Sprintf("joiner%d", i))
		}
		clients := make([]*testkit.Client, n)
		var wg sync.WaitGroup
		for i, p := range peers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				clients[i] = p.connect()
			}()
		}
		wg.Wait()
		// A joiner announces itself just after its hello_ack, so wait (with
		// a deadline) until every pair is covered; each ping's reply follows
		// every event queued for its session before it.
		var heard []map[string]int
		covered := func() bool {
			heard = make([]map[string]int, n)
			for i, c := range clients {
				request(c, map[string]any{"type": "ping"})
				heard[i] = map[string]int{}
				for _, f := range c.Frames() {
					if testkit.Event("peer_joined")(f) {
						heard[i][f["eventData"].(map[string]any)["pubkey"].(string)]++
					}
				}
			}
			for i := range peers {
				for j := i + 1; j < n; j++ {
					if heard[i][peers[j].id.Hex()]+heard[j][peers[i].id.Hex()] == 0 {
						return false
					}
				}
			}
			return true
		}
		deadline := time.Now().Add(5 * time.Second)
		for !covered() && time.Now().Before(deadline) {
		}
		for i := range peers {
			if heard[i][peers[i].id.Hex()] != 0 {
				t.Errorf("session %d heard of its own join", i)
			}
			for j := range peers {
				if j <= i {
					continue
				}
				a, b := heard[i][peers[j].id.Hex()], heard[j][peers[i].id.Hex()]
				if a > 1 || b > 1 {
					t.Errorf("sessions %d and %d: peer_joined heard %d and %d times", i, j, a, b)
				}
				if a+b == 0 {
					t.Errorf("sessions %d and %d never heard of each other", i, j)
				}
			}
		}
	})
}
