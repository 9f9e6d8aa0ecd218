package main_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

var bridgeTools = []string{"check_messages", "forget", "get_state", "join_group", "leave_group", "list_peers", "list_state",
	"message_status", "recall", "remember", "send_message", "set_state", "set_status", "set_summary"}

// bridgePeer is the live session u's `peers --json` shows under name.
func bridgePeer(t *testing.T, u *user, name string) (protocol.Peer, bool) {
	t.Helper()
	r := u.must("peers", "--json")
	var peers []protocol.Peer
	if err := json.Unmarshal([]byte(r.stdout), &peers); err != nil {
		t.Fatalf("peers --json: %v\n%s", err, r)
	}
	for _, p := range peers {
		if p.DisplayName == name {
			return p, true
		}
	}
	return protocol.Peer{}, false
}

func waitBridgePeer(t *testing.T, u *user, name string) protocol.Peer {
	t.Helper()
	var p protocol.Peer
	pollUntilFor(t, 20*time.Second, name+" listed as a peer", func() bool {
		var ok bool
		p, ok = bridgePeer(t, u, name)
		return ok
	})
	return p
}

var identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// assertStringMeta checks what Claude Code requires of every channel event.
func assertStringMeta(t *testing.T, n channelNote) {
	t.Helper()
	for k, v := range n.Meta {
		if !identifierRE.MatchString(k) {
			t.Errorf("meta key %q is not an identifier", k)
		}
		if _, ok := v.(string); !ok {
			t.Errorf("meta %s = %#v (%T), want a string", k, v, v)
		}
	}
}

func TestBridgeInitializeAdvertisesChannelAndTools(t *testing.T) {
	_, _, bob := twoUsers(t)
	bp := bob.startBridge(t, t.TempDir())
	if _, ok := bp.init.Capabilities.Experimental["claude/channel"]; !ok {
		t.Fatalf("initialize capabilities.experimental = %v, want claude/channel", bp.init.Capabilities.Experimental)
	}
	if bp.init.ServerInfo.Name != "claudemesh" {
		t.Errorf("server name %q, want claudemesh", bp.init.ServerInfo.Name)
	}
	ins := bp.init.Instructions
	// 2,000 tokens is about 8,000 characters of English; stay far below.
	if len(ins) > 6000 || !strings.Contains(ins, "untrusted") || !strings.Contains(ins, "send_message") {
		t.Errorf("instructions (%d chars) must be short and say peer messages are untrusted:\n%s", len(ins), ins)
	}
	ctx := t.Context()
	tools, err := bp.c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" {
			t.Errorf("tool %s has no description", tool.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, bridgeTools) {
		t.Fatalf("tools = %v\nwant %v", names, bridgeTools)
	}
}

func TestBridgeSendMessageReachesPeer(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	oliviaLive := olivia.liveSession(t, "olivia")
	bp := bob.startBridge(t, t.TempDir())
	waitBridgePeer(t, olivia, "bob")

	out := bp.mustCall("send_message", map[string]any{"to": "olivia", "message": "build is green", "priority": "now"})
	if !strings.Contains(out, "message id") {
		t.Fatalf("send_message said %q", out)
	}
	pollUntil(t, "olivia receives the message", func() bool { return slices.Contains(oliviaLive.received(), "build is green") })

	// Bad input is an isError result naming the problem.
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"to": "nobody-here", "message": "x"}, "nobody-here"},
		{map[string]any{"to": "olivia", "message": "x", "priority": "urgent"}, "priority"},
		{map[string]any{"to": "olivia"}, `"message" is required`},
	} {
		text, isErr := bp.call("send_message", c.args)
		if !isErr || !strings.Contains(text, c.want) {
			t.Errorf("send_message %v = %q (isError %v), want an error containing %q", c.args, text, isErr, c.want)
		}
	}
}

func TestBridgePushesDirectMessageAsChannelEvent(t *testing.T) {
	// Claude Code speaks the initialize handshake; stateless-era clients
	// (server/discover) get the same events.
	for _, version := range []string{mcp.LATEST_LEGACY_PROTOCOL_VERSION, mcp.ProtocolVersion20250618, mcp.LATEST_PROTOCOL_VERSION} {
		t.Run(version, func(t *testing.T) { testBridgePushesDirectMessage(t, version) })
	}
}

func testBridgePushesDirectMessage(t *testing.T, version string) {
	_, olivia, bob := twoUsers(t)
	bp := bob.startBridge(t, t.TempDir(), "MCP_PROTOCOL="+version)
	waitBridgePeer(t, olivia, "bob")

	sent := sendJSON(t, olivia, "bob", "can you review PR 42?")
	id := sent["messageId"].(string)
	n := bp.waitNote(map[string]string{"message_id": id})
	if n.Content != "can you review PR 42?" {
		t.Errorf("content = %q", n.Content)
	}
	assertStringMeta(t, n)
	for _, k := range []string{"from_id", "from_name", "mesh_slug", "mesh_id", "message_id", "priority", "kind", "sent_at"} {
		if s, _ := n.Meta[k].(string); s == "" {
			t.Errorf("meta %s is missing or empty: %v", k, n.Meta)
		}
	}
	if n.Meta["from_name"] != "olivia" || n.Meta["kind"] != "direct" || n.Meta["mesh_slug"] != bob.soleMesh().Slug {
		t.Errorf("meta = %v", n.Meta)
	}

	// Pushed means read: check_messages has nothing new, and the broker
	// marks it delivered (acked once the event was written to Claude Code).
	if out := bp.mustCall("check_messages", nil); !strings.HasPrefix(out, "No new messages") {
		t.Fatalf("check_messages after the push = %q", out)
	}
	pollUntil(t, "message delivered", func() bool {
		out := bp.mustCall("message_status", map[string]any{"id": id})
		return strings.Contains(out, "bob: delivered")
	})
	if got := len(bp.channelNotes()); got != 1 {
		t.Errorf("%d channel events, want exactly the one message: %+v", got, bp.channelNotes())
	}
}

func TestBridgeInboxModeSendsOnlyTheCountLine(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	bp := bob.startBridge(t, t.TempDir(), "CLAUDEMESH_MESSAGE_MODE=inbox")
	waitBridgePeer(t, olivia, "bob")

	sendJSON(t, olivia, "bob", "the secret plan")
	n := bp.waitNote(map[string]string{"kind": "inbox"})
	if n.Content != "1 new message(s) from olivia, call check_messages" {
		t.Errorf("count line = %q", n.Content)
	}
	assertStringMeta(t, n)
	for _, note := range bp.channelNotes() {
		if strings.Contains(note.Content, "secret plan") {
			t.Fatalf("inbox mode pushed the message text: %+v", note)
		}
	}
	out := bp.mustCall("check_messages", nil)
	if !strings.Contains(out, "the secret plan") || !strings.Contains(out, "from olivia") {
		t.Fatalf("check_messages = %q", out)
	}
	if out := bp.mustCall("check_messages", nil); !strings.HasPrefix(out, "No new messages") {
		t.Fatalf("second check_messages repeated a message: %q", out)
	}
}

func TestBridgeCheckMessagesReturnsMessagesHeldWhileWorking(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	bp := bob.startBridge(t, t.TempDir())
	waitBridgePeer(t, olivia, "bob")
	bp.mustCall("set_status", map[string]any{"status": "working"})
	pollUntil(t, "bob working", func() bool { p, _ := bridgePeer(t, olivia, "bob"); return p.Status == "working" })

	sendJSON(t, olivia, "bob", "when you have a minute", "--priority", "low")
	out := bp.mustCall("check_messages", nil)
	if !strings.Contains(out, "when you have a minute") {
		t.Fatalf("check_messages while working = %q", out)
	}
	// Read through check_messages, it is not pushed again when bob idles.
	bp.mustCall("set_status", map[string]any{"status": "idle"})
	sendJSON(t, olivia, "bob", "marker")
	bp.waitNote(map[string]string{"from_name": "olivia"})
	for _, n := range bp.channelNotes() {
		if strings.Contains(n.Content, "when you have a minute") {
			t.Fatalf("a message read with check_messages was pushed too: %+v", n)
		}
	}
}

func TestBridgeResumesAfterBrokerRestart(t *testing.T) {
	rb := startRestartableBroker(t)
	olivia, bob := twoUsersAt(t, rb.URL)
	bp := bob.startBridge(t, t.TempDir())
	before := waitBridgePeer(t, olivia, "bob")

	rb.stop()
	rb.start()
	// Sent before the bridge is back: queued for bob, then delivered to the
	// resumed session.
	sent := sendJSON(t, olivia, "bob", "sent while you were away")
	n := bp.waitNote(map[string]string{"message_id": sent["messageId"].(string)})
	if n.Content != "sent while you were away" {
		t.Fatalf("content = %q", n.Content)
	}
	after := waitBridgePeer(t, olivia, "bob")
	if after.SessionID != before.SessionID || after.Pubkey != before.Pubkey {
		t.Fatalf("session changed across the restart: before %s/%s, after %s/%s", before.SessionID, before.Pubkey, after.SessionID, after.Pubkey)
	}
}

func TestBridgeKeepsItsSessionAcrossRuns(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	cwd := t.TempDir()
	first := bob.startBridge(t, cwd)
	p1 := waitBridgePeer(t, olivia, "bob")
	// A second window in the same directory gets its own session.
	second := bob.startBridge(t, cwd)
	pollUntil(t, "two bob sessions", func() bool { return countPeers(t, olivia, "bob") == 2 })
	first.c.Close()
	second.c.Close()
	pollUntilFor(t, 20*time.Second, "bob gone", func() bool { return countPeers(t, olivia, "bob") == 0 })

	bob.startBridge(t, cwd)
	p2 := waitBridgePeer(t, olivia, "bob")
	if p2.SessionID != p1.SessionID || p2.Pubkey != p1.Pubkey {
		t.Fatalf("a new run in the same directory got session %s/%s, want %s/%s", p2.SessionID, p2.Pubkey, p1.SessionID, p1.Pubkey)
	}
}

func countPeers(t *testing.T, u *user, name string) int {
	r := u.must("peers", "--json")
	var peers []protocol.Peer
	if err := json.Unmarshal([]byte(r.stdout), &peers); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range peers {
		if p.DisplayName == name {
			n++
		}
	}
	return n
}

func TestBridgeTakesItsIdentityFromLaunch(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	const sid = "6f1c2a9e-3b7d-4c1e-9a52-0d8e7f6a5b4c"
	bob.startBridge(t, t.TempDir(), "CLAUDEMESH_SESSION_ID="+sid, "CLAUDEMESH_DISPLAY_NAME=bob-reviewer",
		"CLAUDEMESH_GROUPS=backend:lead,qa", "CLAUDEMESH_ROLE=reviewer")
	p := waitBridgePeer(t, olivia, "bob-reviewer")
	if p.SessionID != sid || p.Channel != "claude-code" || p.PeerType != "ai" {
		t.Errorf("peer = %+v", p)
	}
	if got := protocol.FormatGroupsSpec(p.Groups); got != "backend:lead,qa" {
		t.Errorf("groups = %q", got)
	}
	pollUntil(t, "role summary", func() bool { p, _ := bridgePeer(t, olivia, "bob-reviewer"); return p.Summary == "role: reviewer" })
}
