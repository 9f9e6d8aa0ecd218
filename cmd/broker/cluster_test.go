package main_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// postgresBackend returns the PostgreSQL backend (skipped outside CI when no
// database is configured, failing under CI).
func postgresBackend(t *testing.T) storetest.Backend {
	for _, b := range storetest.Backends(t) {
		if b.Name == "postgres" {
			return b
		}
	}
	t.Skip("PostgreSQL backend not available")
	return storetest.Backend{}
}

// newCluster makes n environments sharing one PostgreSQL schema and one data
// directory (for the data key), each on its own loopback port.
func newCluster(t *testing.T, n int, extra ...string) []*env {
	t.Helper()
	dbURL, _ := postgresBackend(t).DSN(t)
	dataDir := t.TempDir()
	var out []*env
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		vars := append(os.Environ(), fmt.Sprintf("BROKER_PORT=%d", port), "LOG_LEVEL=warn",
			"DATABASE_URL="+dbURL, "BROKER_DATA_DIR="+dataDir)
		vars = append(vars, extra...)
		out = append(out, &env{t: t, vars: vars, port: port, dbURL: dbURL, dataDir: dataDir})
	}
	return out
}

// peerSessions asks for list_peers until want sessions are listed (or the
// deadline passes) and returns the session ids listed last.
func peerSessions(t *testing.T, c *testkit.Client, want []string, within time.Duration) []string {
	t.Helper()
	sort.Strings(want)
	deadline := time.Now().Add(within)
	var got []string
	for i := 0; ; i++ {
		req := fmt.Sprintf("peers-%d-%d", time.Now().UnixNano(), i)
		c.Send(map[string]any{"type": "list_peers", "_reqId": req})
		f := c.WaitFor(testkit.Reply(req))
		got = got[:0]
		for _, p := range f["peers"].([]any) {
			got = append(got, p.(map[string]any)["sessionId"].(string))
		}
		sort.Strings(got)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

// sendAcked sends one plain message and returns its message id once acked.
func sendAcked(t *testing.T, c *testkit.Client, id, target, text string) string {
	t.Helper()
	c.Send(map[string]any{"type": "send", "id": id, "targetSpec": target, "priority": "now",
		"nonce": "", "ciphertext": text, "enc": "plain"})
	f := c.WaitFor(testkit.Reply(id))
	if f["type"] != "ack" {
		t.Fatalf("send %s to %s: %v", id, target, f)
	}
	return f["messageId"].(string)
}

// receive waits for a push with the given ciphertext and acks it.
func receive(t *testing.T, c *testkit.Client, text string) {
	t.Helper()
	p, ok := c.WaitForWithin(10*time.Second, func(f map[string]any) bool { return testkit.Push(f) && f["ciphertext"] == text })
	if !ok {
		t.Fatalf("no push %q within 10s; frames: %v", text, c.Frames())
	}
	c.Send(map[string]any{"type": "client_ack", "messageId": p["messageId"]})
}

// TestThreeNodesOnOnePostgres runs three real brokers on one database:
// DMs and a broadcast cross nodes, list_peers shows every node's sessions,
// a revocation on the store closes sessions on every node within 1 s, and
// after a SIGKILL of one node its clients resume on another node with every
// acked message delivered, while the mail of a session that never comes
// back reaches its member's next session.
func TestThreeNodesOnOnePostgres(t *testing.T) {
	nodes := newCluster(t, 3, "CLUSTER_HEARTBEAT_SECONDS=1", "CLUSTER_NODE_TIMEOUT_SECONDS=3", "SESSION_RESUME_SECONDS=4")
	meshID, alice, bob := nodes[0].setup()
	carol, dave, eve := testkit.NewIdentity(t), testkit.NewIdentity(t), testkit.NewIdentity(t)
	var cm, dm, em memberOut
	nodes[0].run(&cm, "member", "add", "--mesh", meshID, "--pubkey", carol.Hex(), "--name", "carol", "--json")
	nodes[0].run(&dm, "member", "add", "--mesh", meshID, "--pubkey", dave.Hex(), "--name", "dave", "--json")
	nodes[0].run(&em, "member", "add", "--mesh", meshID, "--pubkey", eve.Hex(), "--name", "eve", "--json")
	carolH := testkit.Hello{MeshID: meshID, MemberID: cm.ID, Member: carol, SessionID: "carol-s", ClientAck: true}
	daveH := testkit.Hello{MeshID: meshID, MemberID: dm.ID, Member: dave, SessionID: "dave-s", ClientAck: true}
	eveH := testkit.Hello{MeshID: meshID, MemberID: em.ID, Member: eve, SessionID: "eve-s", ClientAck: true}

	procs := make([]interface{ Signal(os.Signal) error }, 3)
	for i, n := range nodes {
		procs[i] = n.serve().Process
	}
	connect := func(n *env, h testkit.Hello) (*testkit.Client, map[string]any) {
		c, ack := testkit.Connect(t, n.url("ws")+"/ws", h)
		if ack["type"] != "hello_ack" {
			t.Fatalf("%s on %s: %v", h.SessionID, n.url("ws"), ack)
		}
		return c, ack
	}
	ac, _ := connect(nodes[0], alice)
	bc, _ := connect(nodes[1], bob)
	cc, _ := connect(nodes[2], carolH)
	dc, _ := connect(nodes[2], daveH)
	ec, _ := connect(nodes[1], eveH)

	all := []string{"alice-s", "bob-s", "carol-s", "dave-s", "eve-s"}
	for _, c := range []*testkit.Client{ac, bc, cc} {
		if got := peerSessions(t, c, all, 5*time.Second); !slices.Equal(got, all) {
			t.Fatalf("list_peers = %v, want %v", got, all)
		}
	}

	// DMs across every pair of nodes, and one broadcast.
	sendAcked(t, ac, "a1", "bob", "alice->bob")
	receive(t, bc, "alice->bob")
	sendAcked(t, bc, "b1", "carol", "bob->carol")
	receive(t, cc, "bob->carol")
	sendAcked(t, cc, "c1", alice.Member.Hex(), "carol->alice")
	receive(t, ac, "carol->alice")
	sendAcked(t, ac, "a2", "*", "broadcast")
	for _, c := range []*testkit.Client{bc, cc, dc, ec} {
		receive(t, c, "broadcast")
	}

	// A revocation committed by an operator process reaches the node
	// holding eve's session (node 2) within 1 s.
	start := time.Now()
	nodes[0].run(nil, "member", "revoke", "--mesh", meshID, "--member", em.ID, "--json")
	if err, ok := ec.WaitClosed(time.Second); !ok {
		t.Fatalf("eve's session on node 2 still open %v after the revoke", time.Since(start))
	} else if code, _ := testkit.CloseCode(err); code != 4001 {
		t.Fatalf("eve closed with %d, want 4001", code)
	}

	// Mail for node 3's sessions: carol acks nothing of this batch, dave
	// never acks. Every send below is acked, so every one must arrive.
	const n = 40
	acked := map[string]string{}
	for i := range n {
		text := fmt.Sprintf("to-carol-%02d", i)
		acked[sendAcked(t, ac, fmt.Sprintf("ca%d", i), "carol", text)] = text
		sendAcked(t, bc, fmt.Sprintf("d%d", i), "dave", fmt.Sprintf("to-dave-%02d", i))
	}
	if err := procs[2].Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// Sends while node 3 is dead but not yet declared dead.
	for i := n; i < n+10; i++ {
		text := fmt.Sprintf("to-carol-%02d", i)
		acked[sendAcked(t, ac, fmt.Sprintf("ca%d", i), "carol", text)] = text
	}

	// carol resumes her session on node 1.
	cc2, ack := connect(nodes[0], carolH)
	if ack["resumed"] != true {
		t.Fatalf("carol's hello_ack on node 1 after node 3 died: %v (want resumed)", ack)
	}
	for i := n + 10; i < n+20; i++ { // sent from node 2 after the resume
		text := fmt.Sprintf("to-carol-%02d", i)
		acked[sendAcked(t, bc, fmt.Sprintf("cb%d", i), "carol", text)] = text
	}
	got := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < len(acked) && time.Now().Before(deadline) {
		p, ok := cc2.WaitForWithin(time.Until(deadline), testkit.Push)
		if !ok {
			break
		}
		id := p["messageId"].(string)
		if want, ok := acked[id]; ok {
			if p["ciphertext"] != want {
				t.Fatalf("message %s carries %v, want %s", id, p["ciphertext"], want)
			}
			got[id] = true
		}
		cc2.Send(map[string]any{"type": "client_ack", "messageId": id})
	}
	if len(got) != len(acked) {
		var missing []string
		for id, text := range acked {
			if !got[id] {
				missing = append(missing, text)
			}
		}
		sort.Strings(missing)
		t.Fatalf("carol got %d of %d acked messages after resuming; missing %v", len(got), len(acked), missing)
	}

	// dave never comes back: node 3 is declared dead, his session leaves
	// the peer lists within 30 s, and after the resume window his unacked
	// mail goes to his member's next session, on another node.
	left := []string{"alice-s", "bob-s", "carol-s"}
	if got := peerSessions(t, bc, left, 30*time.Second); !slices.Equal(got, left) {
		t.Fatalf("list_peers %v after node 3 died = %v, want %v", time.Since(killed), got, left)
	}
	t.Logf("node 3's sessions left the peer list %v after SIGKILL", time.Since(killed).Round(10*time.Millisecond))
	daveH.SessionID = "dave-new"
	var dc2 *testkit.Client
	deadline = time.Now().Add(30 * time.Second)
	for i := 0; i < n; {
		if dc2 == nil {
			dc2, _ = connect(nodes[1], daveH)
		}
		want := fmt.Sprintf("to-dave-%02d", i)
		p, ok := dc2.WaitForWithin(time.Second, testkit.Push)
		switch {
		case ok && p["ciphertext"] == want:
			dc2.Send(map[string]any{"type": "client_ack", "messageId": p["messageId"]})
			i++
		case ok:
			t.Fatalf("dave's push %d = %v, want %s in send order", i, p["ciphertext"], want)
		case time.Now().After(deadline):
			t.Fatalf("dave's new session got %d of %d messages of his dead session within 30s", i, n)
		case i == 0:
			// The rows go back to dave's member only after the resume
			// window; a session connected before that finds nothing yet,
			// and the member wake-up reaches it when they are released.
		}
	}
}

// TestSecondSQLiteProcessIsRefused: two real processes on one SQLite data
// directory; the second exits with an error naming the directory.
func TestSecondSQLiteProcessIsRefused(t *testing.T) {
	var sqlite storetest.Backend
	for _, b := range storetest.Backends(t) {
		if b.Name == "sqlite" {
			sqlite = b
		}
	}
	first := newEnv(t, sqlite)
	first.serve()
	second := newEnv(t, sqlite)
	second.vars = append(second.vars, "BROKER_DATA_DIR="+first.dataDir) // the later value wins
	cmd := exec.Command(brokerBin, "serve")
	cmd.Env = second.vars
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), first.dataDir) || !strings.Contains(string(out), "another broker") {
		t.Fatalf("second broker: %v\n%s", err, out)
	}
}

// TestHungNodeIsTakenOver: a stopped (SIGSTOP) node keeps its database
// connection, so only its stale heartbeat shows it is gone. Its session
// leaves the other node's peer list and resumes there; when the node wakes
// up it finds itself declared dead, closes its old sockets with 1001 and
// serves again as a fresh member of the cluster.
func TestHungNodeIsTakenOver(t *testing.T) {
	nodes := newCluster(t, 2, "CLUSTER_HEARTBEAT_SECONDS=1", "CLUSTER_NODE_TIMEOUT_SECONDS=3")
	_, alice, bob := nodes[0].setup()
	nodes[0].serve()
	hung := nodes[1].serve().Process
	ac, _ := testkit.Connect(t, nodes[0].url("ws")+"/ws", alice)
	bc, _ := testkit.Connect(t, nodes[1].url("ws")+"/ws", bob)
	both := []string{"alice-s", "bob-s"}
	if got := peerSessions(t, ac, both, 5*time.Second); !slices.Equal(got, both) {
		t.Fatalf("list_peers = %v", got)
	}
	if err := hung.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Cleanup(func() { hung.Signal(syscall.SIGCONT) })
	if got := peerSessions(t, ac, []string{"alice-s"}, 30*time.Second); !slices.Equal(got, []string{"alice-s"}) {
		t.Fatalf("list_peers %v after the node hung = %v", time.Since(stopped), got)
	}
	t.Logf("the hung node's session left the peer list %v after SIGSTOP", time.Since(stopped).Round(10*time.Millisecond))
	sendAcked(t, ac, "a1", "bob", "while bob's node hangs")
	bc2, ack := testkit.Connect(t, nodes[0].url("ws")+"/ws", bob)
	if ack["resumed"] != true {
		t.Fatalf("bob's hello on node 1: %v, want resumed", ack)
	}
	receive(t, bc2, "while bob's node hangs")

	if err := hung.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	err, ok := bc.WaitClosed(10 * time.Second)
	if code, _ := testkit.CloseCode(err); !ok || code != 1001 {
		t.Fatalf("bob's socket on the woken node: closed=%v code=%d, want 1001", ok, code)
	}
	alice.SessionID = "alice-2"
	ac2, ack := testkit.Connect(t, nodes[1].url("ws")+"/ws", alice)
	if ack["type"] != "hello_ack" {
		t.Fatalf("hello on the woken node: %v", ack)
	}
	all := []string{"alice-2", "alice-s", "bob-s"}
	if got := peerSessions(t, ac2, all, 10*time.Second); !slices.Equal(got, all) {
		t.Fatalf("list_peers on the woken node = %v, want %v", got, all)
	}
	if got := peerSessions(t, ac, all, 10*time.Second); !slices.Equal(got, all) {
		t.Fatalf("list_peers on node 1 = %v, want %v", got, all)
	}
}
