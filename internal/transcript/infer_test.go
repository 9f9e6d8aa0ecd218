package transcript

import (
	"testing"
)

func TestInfer(t *testing.T) {
	working, idle := StatusWorking, StatusIdle
	summary := `{"type":"summary","summary":"Fix the login bug","leafUuid":"abc"}`
	snapshot := `{"type":"file-history-snapshot","messageId":"m1","snapshot":{"trackedFileBackups":{}},"isSnapshotUpdate":false}`
	tests := []struct {
		name   string
		lines  [][]byte
		want   string
		wantOK bool
	}{
		{"empty", nil, "", false},
		{"prompt", lines(userPrompt("fix the tests")), working, true},
		{"prompt as text blocks", lines(userBlocks(text("fix the tests"))), working, true},
		{"tool result", lines(endTurn(), toolResult()), working, true},
		{"assistant tool_use stop", lines(assistant("tool_use", toolUse())), working, true},
		{"assistant tool_use block while streaming", lines(assistant(nil, toolUse())), working, true},
		{"assistant streaming text", lines(assistant(nil, text("Let me look"))), working, true},
		{"assistant thinking streaming", lines(assistant(nil, map[string]any{"type": "thinking", "thinking": "", "signature": "x"})), working, true},
		{"assistant pause_turn", lines(assistant("pause_turn", text("..."))), working, true},
		{"end_turn", lines(userPrompt("hi"), endTurn()), idle, true},
		{"stop_sequence", lines(userPrompt("hi"), assistant("stop_sequence", text("API Error"))), idle, true},
		{"max_tokens", lines(userPrompt("hi"), assistant("max_tokens", text("long"))), idle, true},
		{"refusal", lines(userPrompt("hi"), assistant("refusal")), idle, true},
		{"unknown stop reason is ignored", lines(userPrompt("hi"), assistant("future_reason", text("x"))), working, true},
		{"turn_duration ends the turn", lines(userPrompt("hi"), assistant(nil, text("Done.")), system("turn_duration")), idle, true},
		{"other system lines ignored", lines(userPrompt("hi"), system("stop_hook_summary"), system("away_summary")), working, true},
		{"summary and snapshot ignored", lines(endTurn(), summary, snapshot), idle, true},
		{"only ignored types", lines(summary, snapshot, system("compact_boundary")), "", false},
		{"interrupted", lines(assistant(nil, toolUse()), userBlocks(text("[Request interrupted by user]"))), idle, true},
		{"interrupted for tool use", lines(assistant(nil, toolUse()),
			userBlocks(map[string]any{"type": "tool_result", "tool_use_id": "toolu_01", "content": "The user doesn't want to proceed with this tool use.", "is_error": true}),
			userBlocks(text("[Request interrupted by user for tool use]"))), idle, true},
		{"local command output", lines(endTurn(), userPrompt("<command-name>/model</command-name>"), userPrompt("<local-command-stdout>Set model to opus</local-command-stdout>")), idle, true},
		{"meta user line ignored", lines(endTurn(), envelope(map[string]any{"type": "user", "isMeta": true, "message": map[string]any{"role": "user", "content": "Caveat: ..."}})), idle, true},
		{"sidechain end_turn is still working", lines(assistant(nil, toolUse()), envelope(map[string]any{"type": "assistant", "isSidechain": true, "message": map[string]any{"role": "assistant", "content": []any{}, "stop_reason": "end_turn"}})), working, true},
		{"garbage lines skipped", lines(endTurn(), "not json", "{", `{"type":`, "[1,2]", `"str"`, "", "   ", `{"type":"assistant","message":"oops"}`, `{"type":"user","isMeta":"yes"}`), idle, true},
		{"partial line ignored", lines(endTurn(), userPrompt("hi")[:40]), idle, true},
		{"crlf line", lines(endTurn() + "\r"), idle, true},
		{"odd content shapes", lines(envelope(map[string]any{"type": "assistant", "message": map[string]any{"content": 42, "stop_reason": "end_turn"}})), idle, true},
		{"content array of non-objects", lines(envelope(map[string]any{"type": "assistant", "message": map[string]any{"content": []any{1, "x"}, "stop_reason": nil}})), working, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Infer(tc.lines)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("Infer = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
