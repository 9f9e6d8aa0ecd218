package bridge

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// meshProp is the optional `mesh` argument of tools that act on one mesh.
const meshProp = `"mesh":{"type":"string","description":"Mesh slug; needed only when several meshes are joined."}`

// toolSpec is one tool: its schema (properties and required) and handler.
type toolSpec struct {
	name, description, properties string
	required                      []string
	run                           func(ctx context.Context, a args) (string, error)
}

func (b *Bridge) toolSpecs() []toolSpec {
	return []toolSpec{
		{"send_message", "Send an end-to-end encrypted message to a peer (display name or key), a group (@name) or everyone (*). With several meshes, prefix the target with <mesh>:.",
			`"to":{"oneOf":[{"type":"string"},{"type":"array","items":{"type":"string"},"minItems":1}],"description":"Recipient name, key, @group or *; or several."},
			"message":{"type":"string","description":"The text to send."},
			"priority":{"type":"string","enum":["now","next","low"],"description":"now interrupts a busy peer; next (default) waits until it is idle; low waits too."}`,
			[]string{"to", "message"}, b.toolSendMessage},
		{"check_messages", "Return the peer messages waiting for this session that were not already shown to you, and mark them read.",
			``, nil, b.toolCheckMessages},
		{"list_peers", "List the live sessions on the mesh with their status, groups and summary.",
			`"group":{"type":"string","description":"Only peers in this group."}`, nil, b.toolListPeers},
		{"set_summary", "Tell peers in one line what this session is working on.",
			`"summary":{"type":"string","description":"At most 512 characters."},` + meshProp, []string{"summary"}, b.toolSetSummary},
		{"set_status", "Set this session's status: idle, working or dnd (do not disturb: only priority now gets through).",
			`"status":{"type":"string","enum":["idle","working","dnd"]},` + meshProp, []string{"status"}, b.toolSetStatus},
		{"join_group", "Join a group, optionally with a role, so @group messages reach this session.",
			`"name":{"type":"string","description":"Group name: a-z 0-9 _ - /."},"role":{"type":"string"},` + meshProp, []string{"name"}, b.toolJoinGroup},
		{"leave_group", "Leave a group.", `"name":{"type":"string"},` + meshProp, []string{"name"}, b.toolLeaveGroup},
		{"set_state", "Set a shared key-value entry that every session on the mesh can read (not encrypted on the broker).",
			`"key":{"type":"string"},"value":{"description":"Any JSON value."},` + meshProp, []string{"key", "value"}, b.toolSetState},
		{"get_state", "Read one shared key-value entry.", `"key":{"type":"string"},` + meshProp, []string{"key"}, b.toolGetState},
		{"list_state", "List every shared key-value entry.", meshProp, nil, b.toolListState},
		{"remember", "Store a note in the mesh's shared memory for later recall (not encrypted on the broker).",
			`"content":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},` + meshProp, []string{"content"}, b.toolRemember},
		{"recall", "Full-text search the mesh's shared memory.", `"query":{"type":"string"},` + meshProp, []string{"query"}, b.toolRecall},
		{"forget", "Delete one memory by its id.", `"id":{"type":"string"},` + meshProp, []string{"id"}, b.toolForget},
		{"message_status", "Show whether a message you sent was delivered to each recipient.",
			`"id":{"type":"string","description":"The message id send_message returned."}`, []string{"id"}, b.toolMessageStatus},
	}
}

// addTools registers every tool. A handler error becomes an isError result
// carrying the message (the broker's, when it refused).
func (b *Bridge) addTools() {
	for _, spec := range b.toolSpecs() {
		required, _ := json.Marshal(spec.required)
		if spec.required == nil {
			required = []byte("[]")
		}
		schema := fmt.Sprintf(`{"type":"object","properties":{%s},"required":%s}`, spec.properties, required)
		run := spec.run
		b.srv.AddTool(mcp.NewToolWithRawSchema(spec.name, spec.description, json.RawMessage(schema)),
			func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				text, err := run(ctx, argsOf(req))
				if err != nil {
					return mcp.NewToolResultError(err.Error()), nil
				}
				return mcp.NewToolResultText(text), nil
			})
	}
}
