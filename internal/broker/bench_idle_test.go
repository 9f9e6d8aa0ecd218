package broker_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// BenchmarkIdleSessions opens 500 authenticated sessions that then sit
// idle and reports memory and goroutines per session (P4 in
// /work/shared/spec/quality.md is 40 KB each). The clients run in the same
// process, so the figures are an upper bound: they include each client's
// socket, reader goroutine and buffers too.
//
//	go test -run '^$' -bench IdleSessions -benchtime 1x ./internal/broker/
func BenchmarkIdleSessions(b *testing.B) {
	const sessions, perMember = 500, 10
	backend := storetest.Backends(b)[0]
	h := startBroker(b, backend, func(c *config.Broker, _ *broker.Options) { c.MaxConnsPerMesh = 2 * sessions })
	peers := make([]*peer, sessions/perMember)
	for i := range peers {
		peers[i] = h.addMember(fmt.Sprintf("idle%d", i))
	}
	for b.Loop() {
		before := memInUse()
		goroutines := runtime.NumGoroutine()
		conns := make([]*benchConn, 0, sessions)
		for i := range sessions {
			conns = append(conns, dialBench(b, h, peers[i%len(peers)]))
		}
		waitQuiet(b, h)
		after := memInUse()
		b.ReportMetric(float64(after-before)/sessions/1024, "KiB/session")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/sessions, "goroutines/session")
		for _, c := range conns {
			c.ws.Close(websocket.StatusNormalClosure, "")
		}
	}
}

// waitQuiet waits until the peer_joined storm of the connects has been
// written, so the measure sees idle sessions rather than full queues.
func waitQuiet(b *testing.B, h *harness) {
	prev := -1
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n := runtime.NumGoroutine()
		if n == prev {
			return
		}
		prev = n
		time.Sleep(200 * time.Millisecond) // settle check, bounded by the deadline
	}
}

// memInUse is heap plus goroutine stacks in use after a full collection.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
