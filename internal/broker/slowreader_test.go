package broker_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// TestSlowReaderIsClosedAndItsMailWaits (R5): bob's client stops reading
// while alice sends him far more than the socket buffers and his write
// queue hold. The broker closes bob's connection, either because his write
// queue filled (4002) or because one write outlasted the write timeout; its
// heap does not grow with the data addressed to him; dave and carol keep
// exchanging messages promptly meanwhile; and when bob reconnects every
// message alice got an ack for is delivered to him.
func TestSlowReaderIsClosedAndItsMailWaits(t *testing.T) {
	cases := []struct {
		name         string
		queue        int // 0: larger than everything sent, so only the timeout can close
		writeTimeout time.Duration
		metric       string // the close counter that must move
	}{
		{"write queue fills", 64, 10 * time.Second, "claudemesh_slow_consumer_closes_total"},
		{"write times out", 0, 10 * time.Second, "claudemesh_write_timeout_closes_total"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// 24 MiB for bob (96 MiB under CLAUDEMESH_SOAK, 12 MiB under
			// -race): several times the socket buffers (at most 4 MiB on
			// the broker's side here) plus his write queue.
			n, chunk, size := 1536, 128, 16<<10
			switch {
			case os.Getenv("CLAUDEMESH_SOAK") != "":
				n = 6144
			case raceEnabled:
				n = 768 // still over twice what the socket and queue hold
			}
			queue := tc.queue
			if queue == 0 {
				queue = 2 * n
			}
			h := startBroker(t, storetest.Backends(t)[0], func(c *config.Broker, o *broker.Options) {
				c.SendRatePerSec, c.MemberSendRatePerSec = 1<<20, 1<<20
				o.WriteQueueSize, o.WriteTimeout = queue, tc.writeTimeout
			})
			alice, bob, carol, dave := h.addMember("alice"), h.addMember("bob"), h.addMember("carol"), h.addMember("dave")
			ac := alice.connect()
			bobHello := bob.hello()
			// Never reads again, with a small socket receive buffer so the
			// broker backs up after little data.
			testkit.DialSilentWith(t, h.wsURL, bobHello.Frame(), testkit.SmallReceiveBuffer())
			ac.WaitFor(testkit.Event("peer_joined"))
			cc, dc := carol.connect(), dave.connect()

			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)

			payload := strings.Repeat("p", size)
			total := n * size
			acked := map[string]bool{}
			var worst time.Duration
			for sent := 0; sent < n; sent += chunk {
				ids := make([]string, chunk)
				for i := range ids {
					ids[i] = send(ac, bob.id.Hex(), "now", payload)
				}
				for _, id := range ids {
					f := ac.WaitFor(testkit.Reply(id))
					if f["type"] != "ack" {
						t.Fatalf("send to the slow reader: %v", f)
					}
					acked[f["messageId"].(string)] = true
				}
				start := time.Now()
				ct := fmt.Sprintf("probe-%d", sent)
				sendAcked(t, dc, "carol", "now", ct)
				cc.WaitFor(pushWithCiphertext(ct))
				worst = max(worst, time.Since(start))
			}
			// Bob's connection ends: alice sees him leave.
			if _, ok := ac.WaitForWithin(tc.writeTimeout+10*time.Second, testkit.Event("peer_left")); !ok {
				t.Fatal("the slow reader was never disconnected")
			}
			if got := scrape(t, h)[tc.metric]; got != 1 {
				t.Fatalf("%s = %v, want 1", tc.metric, got)
			}
			// Once bob's connection has unwound, the heap is back near where
			// it started: nothing addressed to him is kept in memory.
			bound := int64(4 << 20)
			growth := heapGrowth(before, func(g int64) bool { return g < bound })
			t.Logf("heap in use grew %d KiB while %d MiB were addressed to the slow reader; probe round trip worst %v", growth>>10, total>>20, worst)
			if growth >= bound {
				t.Fatalf("heap grew %d MiB: the broker keeps what the slow reader did not read", growth>>20)
			}
			// Had delivery waited on bob's blocked socket, a probe would
			// have taken about the write timeout.
			if worst > tc.writeTimeout/2 {
				t.Fatalf("other sessions' round trip reached %v while bob was stuck", worst)
			}
			// Bob reconnects (same session: a resume) and gets every acked
			// message. Like a real client he reconnects if dropped again.
			got := map[string]bool{}
			deadline := time.Now().Add(2 * time.Minute)
			for len(got) < len(acked) && time.Now().Before(deadline) {
				bobHello.Timestamp = time.Now()
				bc, ack := testkit.Connect(t, h.wsURL, bobHello)
				if ack["type"] != "hello_ack" {
					t.Fatalf("bob's reconnect: %v", ack)
				}
				for len(got) < len(acked) {
					p, ok := bc.WaitForWithin(30*time.Second, testkit.Push)
					if !ok {
						break
					}
					id := p["messageId"].(string)
					if !acked[id] {
						t.Fatalf("unexpected push %s", id)
					}
					got[id] = true
					// Ignore a failed ack: a dropped socket means reconnecting.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = bc.WS.Write(ctx, websocket.MessageText, []byte(`{"type":"client_ack","messageId":"`+id+`"}`))
					cancel()
				}
				bc.WS.CloseNow()
			}
			if len(got) < len(acked) {
				t.Fatalf("bob got %d of %d acked messages after reconnecting", len(got), len(acked))
			}
		})
	}
}

// heapGrowth measures HeapInuse against before after a GC, again every
// 100 ms for up to 5 s until ok accepts it, and returns the last growth.
func heapGrowth(before runtime.MemStats, ok func(int64) bool) int64 {
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		g := int64(after.HeapInuse) - int64(before.HeapInuse)
		if ok(g) || time.Now().After(deadline) {
			return g
		}
		time.Sleep(100 * time.Millisecond) // polling interval, bounded by the deadline
	}
}
