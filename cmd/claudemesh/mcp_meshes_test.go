package main_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestBridgeWithSeveralMeshes(t *testing.T) {
	b, olivia, bob := twoUsers(t)
	carol := newUser(t, "carol")
	carol.must("mesh", "create", "Research", "--broker", b.URL)
	r := carol.must("invite", "create", "--json")
	var inv struct{ URL string }
	if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil {
		t.Fatal(err)
	}
	bob.must("join", inv.URL, "-y")
	carolLive := carol.liveSession(t, "carol")

	bp := bob.startBridge(t, t.TempDir())
	waitBridgePeer(t, olivia, "bob")
	waitBridgePeer(t, carol, "bob")

	out := bp.mustCall("list_peers", nil)
	if !strings.Contains(out, "Mesh platform:") || !strings.Contains(out, "Mesh research:") {
		t.Fatalf("list_peers = %q", out)
	}
	// A name known on one mesh only needs no prefix; a prefix picks the mesh.
	bp.mustCall("send_message", map[string]any{"to": "carol", "message": "hi from bob"})
	bp.mustCall("send_message", map[string]any{"to": "research:carol", "message": "prefixed"})
	pollUntil(t, "carol gets both", func() bool {
		got := carolLive.received()
		return slices.Contains(got, "hi from bob") && slices.Contains(got, "prefixed")
	})
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"send_message", map[string]any{"to": "@all", "message": "x"}, "<mesh>:@all"},
		{"get_state", map[string]any{"key": "k"}, "several meshes are joined (platform, research): pass mesh"},
	} {
		text, isErr := bp.call(c.tool, c.args)
		if !isErr || !strings.Contains(text, c.want) {
			t.Errorf("%s %v = %q (isError %v), want an error containing %q", c.tool, c.args, text, isErr, c.want)
		}
	}
	bp.mustCall("get_state", map[string]any{"key": "k", "mesh": "research"})

	sent := sendJSON(t, carol, "bob", "from research")
	n := bp.waitNote(map[string]string{"message_id": sent["messageId"].(string)})
	if n.Meta["mesh_slug"] != "research" {
		t.Errorf("meta = %v", n.Meta)
	}
	if out := bp.mustCall("message_status", map[string]any{"id": "research:" + sent["messageId"].(string)}); !strings.Contains(out, "mesh research") {
		t.Errorf("message_status = %q", out)
	}

	// CLAUDEMESH_MESH (set by launch) keeps the bridge on one mesh.
	one := bob.startBridge(t, t.TempDir(), "CLAUDEMESH_MESH=research")
	if out := one.mustCall("list_peers", nil); strings.Contains(out, "platform") {
		t.Errorf("bridge on research only listed %q", out)
	}
}

// A name only a launched session carries reaches that session, not every
// session of its member (protocol.md §3).
func TestSessionNamesReachOnlyThatSession(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	reviewer := bob.startBridge(t, t.TempDir(), "CLAUDEMESH_SESSION_ID=9e1f3c2a-5b7d-4e8f-a0b1-c2d3e4f5a6b7", "CLAUDEMESH_DISPLAY_NAME=bob-reviewer", "CLAUDEMESH_MESSAGE_MODE=push")
	other := bob.startBridge(t, t.TempDir(), "CLAUDEMESH_SESSION_ID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "CLAUDEMESH_DISPLAY_NAME=bob-frontend", "CLAUDEMESH_MESSAGE_MODE=push")
	waitBridgePeer(t, olivia, "bob-reviewer")
	waitBridgePeer(t, olivia, "bob-frontend")

	only := sendJSON(t, olivia, "bob-reviewer", "review please")
	reviewer.waitNote(map[string]string{"message_id": only["messageId"].(string)})
	// Mail to the member reaches both; by then the reviewer-only message
	// would have reached the other session too, had it been sent to bob.
	both := sendJSON(t, olivia, "bob", "standup in 5")
	other.waitNote(map[string]string{"message_id": both["messageId"].(string)})
	reviewer.waitNote(map[string]string{"message_id": both["messageId"].(string)})
	for _, n := range other.channelNotes() {
		if n.Content == "review please" {
			t.Fatal("a message to bob-reviewer reached bob-frontend")
		}
	}
}
