package transcript

import (
	"encoding/json"
	"strings"
)

// Real-shaped transcript lines (Claude Code 2.x), trimmed of the fields the
// inference does not read but keeping a realistic envelope.

func envelope(fields map[string]any) string {
	base := map[string]any{
		"parentUuid":  "6f1c2a9e-0000-4000-8000-000000000001",
		"isSidechain": false,
		"userType":    "external",
		"cwd":         "/home/dana/src/app",
		"sessionId":   "0b7e9f5a-1111-4222-8333-444455556666",
		"version":     "2.1.12",
		"gitBranch":   "main",
		"uuid":        "6f1c2a9e-0000-4000-8000-000000000002",
		"timestamp":   "2026-11-27T07:00:00.000Z",
	}
	for k, v := range fields {
		base[k] = v
	}
	b, err := json.Marshal(base)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func userPrompt(text string) string {
	return envelope(map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": text}})
}

func userBlocks(blocks ...map[string]any) string {
	return envelope(map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": blocks}})
}

func toolResult() string {
	return userBlocks(map[string]any{"tool_use_id": "toolu_01", "type": "tool_result", "content": "     1→package main"})
}

// assistant builds an assistant line; stop is nil for a streaming line.
func assistant(stop any, blocks ...map[string]any) string {
	return envelope(map[string]any{"type": "assistant", "requestId": "req_01", "message": map[string]any{
		"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-opus-4-5",
		"content": blocks, "stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 3, "output_tokens": 25},
	}})
}

func text(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

func toolUse() map[string]any {
	return map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Read", "input": map[string]any{"file_path": "/x"}}
}

func endTurn() string { return assistant("end_turn", text("Done.")) }

func system(subtype string) string {
	return envelope(map[string]any{"type": "system", "subtype": subtype, "durationMs": 59902})
}

func lines(ls ...string) [][]byte {
	out := make([][]byte, len(ls))
	for i, l := range ls {
		out[i] = []byte(l)
	}
	return out
}

func jsonl(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
