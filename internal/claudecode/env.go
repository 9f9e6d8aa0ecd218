package claudecode

import "fmt"

// Environment that `launch` sets for Claude Code, which passes it on to
// `claudemesh mcp` (the bridge) and to the hooks.
const (
	EnvSessionID   = "CLAUDEMESH_SESSION_ID"   // the Claude Code session UUID, also the mesh sessionId
	EnvDisplayName = "CLAUDEMESH_DISPLAY_NAME" // name shown to peers
	EnvRole        = "CLAUDEMESH_ROLE"         // free text, e.g. "reviewer", told to Claude and shown in the summary
	EnvGroups      = "CLAUDEMESH_GROUPS"       // "name:role,name2" (protocol.ParseGroupsSpec)
	EnvMessageMode = "CLAUDEMESH_MESSAGE_MODE" // push|inbox|off
	EnvMesh        = "CLAUDEMESH_MESH"         // one mesh (id, slug or name); unset: every joined mesh
)

// Message modes: how the bridge hands peer messages to Claude.
const (
	ModePush  = "push"  // every message pushed as a channel notification
	ModeInbox = "inbox" // one count line pushed; check_messages returns the text
	ModeOff   = "off"   // nothing pushed; the tools still work
)

// ParseMessageMode checks a mode; "" is the default, push.
func ParseMessageMode(s string) (string, error) {
	switch s {
	case "":
		return ModePush, nil
	case ModePush, ModeInbox, ModeOff:
		return s, nil
	}
	return "", fmt.Errorf("message mode must be push, inbox or off, got %q", s)
}
