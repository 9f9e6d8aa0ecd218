package main_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// soakEnv makes the restart scenarios run longer variants (make soak).
const soakEnv = "CLAUDEMESH_SOAK"

// loadShape is how much load a restart scenario runs.
type loadShape struct {
	senders, receivers int
	killAfter          int // acked messages before the signal
	cycles             int // signal + restart rounds
}

func shape() loadShape {
	if os.Getenv(soakEnv) != "" {
		return loadShape{senders: 8, receivers: 4, killAfter: 4000, cycles: 5}
	}
	return loadShape{senders: 4, receivers: 2, killAfter: 300, cycles: 1}
}

// TestRestartMidLoadLosesNoAckedMessage runs R1 (SIGKILL) and R8 (SIGTERM)
// against the real binary on SQLite and PostgreSQL: several senders
// pipeline DMs to online receivers; the broker gets the signal mid-load and
// is restarted on the same store. Every client resumes its session
// (hello_ack.resumed, same sessionId), and every message any sender got an
// ack for reaches its recipient: 0 acked messages lost.
func TestRestartMidLoadLosesNoAckedMessage(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		for _, b := range storetest.Backends(t) {
			t.Run(sig.String()+"/"+b.Name, func(t *testing.T) {
				e := newEnv(t, b)
				e.vars = append(e.vars, "SEND_RATE_PER_SEC=1000000", "MEMBER_SEND_RATE_PER_SEC=1000000")
				runRestartScenario(t, e, sig, shape())
			})
		}
	}
}

func runRestartScenario(t *testing.T, e *env, sig syscall.Signal, sh loadShape) {
	meshID, _, _ := e.setup()
	senders := make([]testkit.Hello, sh.senders)
	receivers := make([]testkit.Hello, sh.receivers)
	for i := range senders {
		senders[i] = e.addMember(meshID, fmt.Sprintf("sender-%d", i))
	}
	for i := range receivers {
		receivers[i] = e.addMember(meshID, fmt.Sprintf("receiver-%d", i))
	}
	acked := newAckLog()
	received := map[string]map[string]bool{} // receiver pubkey -> message ids seen
	for _, r := range receivers {
		received[r.Member.Hex()] = map[string]bool{}
	}
	proc := e.serve()
	for cycle := 0; cycle < sh.cycles; cycle++ {
		rcs := make([]*testkit.Client, len(receivers))
		for i, r := range receivers {
			rcs[i] = connectResumed(t, e, r, cycle > 0)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for i, s := range senders {
			sc := connectResumed(t, e, s, cycle > 0)
			wg.Add(1)
			go func() {
				defer wg.Done()
				pipelineSends(sc, fmt.Sprintf("c%d-s%d", cycle, i), receivers, acked, stop)
			}()
		}
		// Mid-load: the signal lands while every sender has sends in flight.
		target := acked.count() + sh.killAfter
		deadline := time.Now().Add(2 * time.Minute)
		for acked.count() < target {
			drainPushes(rcs, receivers, received)
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: only %d acks within 2 min", cycle, acked.count())
			}
			time.Sleep(5 * time.Millisecond) // polling interval, bounded by the deadline
		}
		if err := proc.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait() // each sender returns when its socket is gone
		err := proc.Wait()
		if sig == syscall.SIGTERM && err != nil {
			t.Fatalf("broker exit after SIGTERM: %v", err)
		}
		drainPushes(rcs, receivers, received)
		t.Logf("cycle %d: %v mid-load after %d acks", cycle, sig, acked.count())
		proc = e.serve()
	}
	// Every client resumes, receivers get everything acked, senders can send.
	rcs := make([]*testkit.Client, len(receivers))
	for i, r := range receivers {
		rcs[i] = connectResumed(t, e, r, true)
	}
	sc := connectResumed(t, e, senders[0], true)
	want := acked.byRecipient()
	deadline := time.Now().Add(time.Minute)
	for {
		drainPushes(rcs, receivers, received)
		lost := 0
		for rcpt, ids := range want {
			for id := range ids {
				if !received[rcpt][id] {
					lost++
				}
			}
		}
		if lost == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acked messages never delivered after the restart", lost, acked.count())
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
	}
	sc.Send(map[string]any{"type": "send", "id": "after", "targetSpec": receivers[0].Member.Hex(), "priority": "now", "nonce": "", "ciphertext": "after", "enc": "plain"})
	if f := sc.WaitFor(testkit.Reply("after")); f["type"] != "ack" {
		t.Fatalf("send after the restart: %v", f)
	}
	t.Logf("%d acked messages, all delivered", acked.count())
}

// connectResumed connects h and, after a restart, checks the broker
// resumed its session.
func connectResumed(t *testing.T, e *env, h testkit.Hello, wantResumed bool) *testkit.Client {
	t.Helper()
	c, ack := testkit.Connect(t, e.url("ws")+"/ws", h)
	if ack["type"] != "hello_ack" {
		t.Fatalf("hello of %s: %v", h.SessionID, ack)
	}
	if wantResumed && ack["resumed"] != true {
		t.Fatalf("session %s was not resumed after the restart: %v", h.SessionID, ack)
	}
	return c
}

// pipelineSends sends windows of 32 DMs round-robin to the receivers and
// records every ack, until stop is closed or the socket dies. It never
// fails the test: after the signal, errors are expected.
func pipelineSends(c *testkit.Client, prefix string, receivers []testkit.Hello, acked *ackLog, stop <-chan struct{}) {
	const window = 32
	for n := 0; ; n += window {
		select {
		case <-stop:
			return
		default:
		}
		ids := make([]string, 0, window)
		rcpt := map[string]string{}
		for i := n; i < n+window; i++ {
			id := fmt.Sprintf("%s-%d", prefix, i)
			to := receivers[i%len(receivers)].Member.Hex()
			frame := fmt.Sprintf(`{"type":"send","id":%q,"targetSpec":%q,"priority":"now","nonce":"","ciphertext":%q,"enc":"plain"}`, id, to, id)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.WS.Write(ctx, websocket.MessageText, []byte(frame))
			cancel()
			if err != nil {
				break
			}
			ids, rcpt[id] = append(ids, id), to
		}
		for _, id := range ids {
			f, ok := c.WaitForWithin(30*time.Second, testkit.Reply(id))
			if !ok {
				return // the socket closed: the rest were never answered, so never acked
			}
			if f["type"] == "ack" {
				acked.add(f["messageId"].(string), rcpt[id])
			}
		}
		if len(ids) < window {
			return
		}
	}
}

// drainPushes consumes the pushes each receiver has read so far, records
// them and acks them (client_ack), ignoring sockets that are gone.
func drainPushes(rcs []*testkit.Client, receivers []testkit.Hello, received map[string]map[string]bool) {
	for i, c := range rcs {
		for {
			p, ok := c.WaitForWithin(0, testkit.Push)
			if !ok {
				break
			}
			received[receivers[i].Member.Hex()][p["messageId"].(string)] = true
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.WS.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"client_ack","messageId":%q}`, p["messageId"])))
			cancel()
		}
	}
}

// ackLog is the senders' shared record of acked messages.
type ackLog struct {
	mu   sync.Mutex
	rcpt map[string]string // message id -> recipient pubkey
}

func newAckLog() *ackLog { return &ackLog{rcpt: map[string]string{}} }

func (a *ackLog) add(id, to string) { a.mu.Lock(); a.rcpt[id] = to; a.mu.Unlock() }

func (a *ackLog) count() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.rcpt) }

func (a *ackLog) byRecipient() map[string]map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]map[string]bool{}
	for id, to := range a.rcpt {
		if out[to] == nil {
			out[to] = map[string]bool{}
		}
		out[to][id] = true
	}
	return out
}

// addMember adds a member through the operator CLI and returns its hello
// (a fixed sessionId, so reconnects are resumes).
func (e *env) addMember(meshID, name string) testkit.Hello {
	id := testkit.NewIdentity(e.t)
	var m memberOut
	e.run(&m, "member", "add", "--mesh", meshID, "--pubkey", id.Hex(), "--name", name, "--json")
	return testkit.Hello{MeshID: meshID, MemberID: m.ID, Member: id, SessionID: name + "-session", ClientAck: true}
}
