package main_test

import (
	"strings"
	"testing"
)

func TestBridgePushesSystemAndStateEventsWithStringMeta(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	bp := bob.startBridge(t, t.TempDir())
	waitBridgePeer(t, olivia, "bob")

	olivia.liveSession(t, "olivia-laptop")
	joined := bp.waitNote(map[string]string{"kind": "system", "event": "peer_joined"})
	if !strings.Contains(joined.Content, "olivia-laptop joined") {
		t.Errorf("peer_joined content = %q", joined.Content)
	}
	olivia.must("state", "set", "release", `{"version":"1.4","frozen":true}`)
	changed := bp.waitNote(map[string]string{"kind": "state_change", "key": "release"})
	if !strings.Contains(changed.Content, `"frozen":true`) {
		t.Errorf("state_change content = %q", changed.Content)
	}
	for _, n := range bp.channelNotes() {
		assertStringMeta(t, n)
	}
	// Tools see the same state.
	if out := bp.mustCall("get_state", map[string]any{"key": "release"}); !strings.Contains(out, `"version":"1.4"`) {
		t.Errorf("get_state = %q", out)
	}
}

func TestBridgeOffModePushesNothing(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	bp := bob.startBridge(t, t.TempDir(), "CLAUDEMESH_MESSAGE_MODE=off")
	waitBridgePeer(t, olivia, "bob")

	olivia.liveSession(t, "olivia-laptop") // a system event, not pushed either
	sendJSON(t, olivia, "bob", "quiet please")
	var out string
	pollUntil(t, "the message via check_messages", func() bool {
		out = bp.mustCall("check_messages", nil)
		return strings.Contains(out, "quiet please")
	})
	if n := bp.channelNotes(); len(n) != 0 {
		t.Fatalf("off mode pushed %d events: %+v", len(n), n)
	}
}

func TestBridgeGroupMessagesAndTools(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	bp := bob.startBridge(t, t.TempDir())
	waitBridgePeer(t, olivia, "bob")

	bp.mustCall("join_group", map[string]any{"name": "backend", "role": "lead"})
	bp.mustCall("set_summary", map[string]any{"summary": "fixing the login bug"})
	pollUntil(t, "bob in @backend with a summary", func() bool {
		p, _ := bridgePeer(t, olivia, "bob")
		return p.Summary == "fixing the login bug" && len(p.Groups) == 1 && p.Groups[0].Name == "backend"
	})
	sendJSON(t, olivia, "@backend", "deploy at 5")
	n := bp.waitNote(map[string]string{"kind": "group", "group": "backend"})
	if n.Content != "deploy at 5" {
		t.Errorf("group message content = %q", n.Content)
	}
	if out := bp.mustCall("list_peers", map[string]any{"group": "backend"}); !strings.Contains(out, "bob (this session)") || !strings.Contains(out, "fixing the login bug") {
		t.Errorf("list_peers @backend = %q", out)
	}
	id := strings.Fields(strings.SplitN(bp.mustCall("remember", map[string]any{"content": "staging db is pg 17", "tags": []any{"infra"}}), " as ", 2)[1])[0]
	id = strings.TrimSuffix(id, ".")
	if out := bp.mustCall("recall", map[string]any{"query": "staging"}); !strings.Contains(out, "pg 17") {
		t.Errorf("recall = %q", out)
	}
	bp.mustCall("forget", map[string]any{"id": id})
	if out := bp.mustCall("recall", map[string]any{"query": "staging"}); strings.Contains(out, "pg 17") {
		t.Errorf("recall after forget = %q", out)
	}
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"join_group", map[string]any{"name": "Bad Name"}, "names are"},
		{"set_status", map[string]any{"status": "busy"}, "idle, working or dnd"},
		{"forget", map[string]any{"id": "mem_does_not_exist"}, "not_found"},
		{"message_status", map[string]any{"id": "msg_nope"}, "not_found"},
		{"get_state", map[string]any{"key": "k", "mesh": "elsewhere"}, `no joined mesh is called "elsewhere"`},
	} {
		text, isErr := bp.call(c.tool, c.args)
		if !isErr || !strings.Contains(text, c.want) {
			t.Errorf("%s %v = %q (isError %v), want an error containing %q", c.tool, c.args, text, isErr, c.want)
		}
	}
}

// Without launch, Claude Code may drop channel events, so the bridge keeps
// messages for check_messages instead of acking pushes nobody may see.
func TestBridgeNotLaunchedDefaultsToInbox(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	bp := bob.startBridge(t, t.TempDir(), "CLAUDEMESH_MESSAGE_MODE=") // as a plain `claude` session starts it
	if !strings.Contains(bp.init.Instructions, "not started with `claudemesh launch`") {
		t.Errorf("instructions do not say to call check_messages:\n%s", bp.init.Instructions)
	}
	waitBridgePeer(t, olivia, "bob")
	sent := sendJSON(t, olivia, "bob", "are you there?")
	bp.waitNote(map[string]string{"kind": "inbox"})
	if out := bp.mustCall("message_status", map[string]any{"id": sent["messageId"].(string)}); !strings.Contains(out, "bob: pending") {
		t.Fatalf("a message only counted must stay pending until read: %s", out)
	}
	if out := bp.mustCall("check_messages", nil); !strings.Contains(out, "are you there?") {
		t.Fatalf("check_messages = %q", out)
	}
}
