package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// BenchmarkHello measures the hello rate of quality.md P5 (>= 3,000/s):
// b.N sessions dial in parallel over loopback, each waiting for its
// hello_ack, in meshes of 50 members (one session each) so the peer_joined
// fan-out stays what a real mesh sees. Hellos are signed before the timer
// starts; the sessions stay open until the end, like a broker filling up.
//
//	go test -run '^$' -bench Hello -benchtime 2000x -count 5 ./internal/broker/
func BenchmarkHello(b *testing.B) {
	const meshSize, dialers = 50, 32
	backend := storetest.Backends(b)[0]
	h := startBroker(b, backend, func(c *config.Broker, _ *broker.Options) { c.MaxConnsPerMesh = 2 * meshSize })
	hellos := make([][]byte, b.N)
	for i := range hellos {
		if i%meshSize == 0 && i > 0 {
			h.mesh = h.newMesh(fmt.Sprintf("hello%d", i/meshSize))
		}
		hellos[i], _ = json.Marshal(h.addMember(fmt.Sprintf("h%d", i)).hello().Frame())
	}
	var (
		next  atomic.Int64
		mu    sync.Mutex
		conns []*websocket.Conn
		wg    sync.WaitGroup
	)
	b.Cleanup(func() {
		for _, ws := range conns {
			ws.CloseNow()
		}
	})
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				ws, err := helloOnce(h.wsURL, hellos[i])
				if err != nil {
					b.Error(err)
					return
				}
				go drain(ws) // peer_joined pushes must be read, or the session is a slow consumer
				mu.Lock()
				conns = append(conns, ws)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "hellos/s")
	// CPU per hello varies less than the rate on a shared machine; it
	// counts the in-process clients (dial, read, drain) too.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/hello")
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func helloOnce(url string, hello []byte) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	if err := ws.Write(ctx, websocket.MessageText, hello); err != nil {
		ws.CloseNow()
		return nil, err
	}
	if _, first, err := ws.Read(ctx); err != nil || !strings.Contains(string(first), `"hello_ack"`) {
		ws.CloseNow()
		return nil, fmt.Errorf("hello: %s %v", first, err)
	}
	return ws, nil
}

func drain(ws *websocket.Conn) {
	for {
		if _, _, err := ws.Read(context.Background()); err != nil {
			return
		}
	}
}
