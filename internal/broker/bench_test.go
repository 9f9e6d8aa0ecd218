package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// BenchmarkDirectMessages measures durable DM throughput through a real
// broker: pairs of sessions on loopback, each sender keeping a window of
// unacked sends, each receiver acking pushes with client_ack. One op is one
// message acked to its sender AND pushed to its recipient.
//
//	go test -run '^$' -bench DirectMessages -benchtime 20000x ./internal/broker/
func BenchmarkDirectMessages(b *testing.B) {
	for _, backend := range storetest.Backends(b) {
		b.Run(backend.Name, func(b *testing.B) {
			const pairs, window = 16, 64
			// The per-session rate limit would cap this at 200 msg/s per sender.
			h := startBroker(b, backend, func(c *config.Broker, _ *broker.Options) { c.SendRatePerSec, c.MemberSendRatePerSec = 1<<30, 1<<30 })
			type pair struct{ from, to *benchConn }
			ps := make([]pair, pairs)
			for i := range ps {
				alice, bob := h.addMember(fmt.Sprintf("a%d", i)), h.addMember(fmt.Sprintf("b%d", i))
				ps[i] = pair{dialBench(b, h, alice), dialBench(b, h, bob)}
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, p := range ps {
				n := b.N / pairs
				if i < b.N%pairs {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.from.sendMany(b, p.to.pubkey, n, window)
					p.to.waitPushes(b, n)
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// benchConn is a lean client: one reader goroutine counting acks and pushes.
type benchConn struct {
	ws      *websocket.Conn
	pubkey  string
	acks    chan struct{}
	pushes  chan struct{}
	readErr error
}

func dialBench(b *testing.B, h *harness, p *peer) *benchConn {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, h.wsURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	b.Cleanup(func() { ws.CloseNow() })
	hello, _ := json.Marshal(p.hello().Frame())
	if err := ws.Write(ctx, websocket.MessageText, hello); err != nil {
		b.Fatal(err)
	}
	if _, first, err := ws.Read(ctx); err != nil || !strings.Contains(string(first), `"hello_ack"`) {
		b.Fatalf("hello: %s %v", first, err)
	}
	bc := &benchConn{ws: ws, pubkey: p.id.Hex(), acks: make(chan struct{}, 1<<16), pushes: make(chan struct{}, 1<<16)}
	go bc.read()
	return bc
}

func (c *benchConn) read() {
	var f struct {
		Type      string `json:"type"`
		MessageID string `json:"messageId"`
		Subtype   string `json:"subtype"`
	}
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.readErr = err
			close(c.acks)
			close(c.pushes)
			return
		}
		f.Subtype = ""
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch {
		case f.Type == "ack":
			c.acks <- struct{}{}
		case f.Type == "error":
			c.readErr = fmt.Errorf("broker error frame: %s", data)
			c.ws.CloseNow()
		case f.Type == "push" && f.Subtype == "":
			ack, _ := json.Marshal(map[string]string{"type": "client_ack", "messageId": f.MessageID})
			_ = c.ws.Write(context.Background(), websocket.MessageText, ack)
			c.pushes <- struct{}{}
		}
	}
}

// sendMany sends n DMs keeping at most window unacked.
func (c *benchConn) sendMany(b *testing.B, to string, n, window int) {
	inflight := 0
	for i := 0; i < n; i++ {
		for inflight >= window {
			c.waitAcks(b, 1)
			inflight--
		}
		frame := fmt.Sprintf(`{"type":"send","id":"%d","targetSpec":%q,"priority":"now","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ciphertext":"Y2lwaGVydGV4dCBvZiBhIHR5cGljYWwgc2hvcnQgbWVzc2FnZQ==","enc":"box"}`, i, to)
		if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
			b.Error(err)
			return
		}
		inflight++
	}
	c.waitAcks(b, inflight)
}

func (c *benchConn) waitAcks(b *testing.B, n int) { wait(b, c.acks, n, c) }

func (c *benchConn) waitPushes(b *testing.B, n int) { wait(b, c.pushes, n, c) }

func wait(b *testing.B, ch chan struct{}, n int, c *benchConn) {
	timeout := time.After(60 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case _, ok := <-ch:
			if !ok {
				b.Errorf("connection closed: %v", c.readErr)
				return
			}
		case <-timeout:
			b.Errorf("timed out with %d of %d outstanding", n-i, n)
			return
		}
	}
}
