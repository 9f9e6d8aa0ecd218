package transcript

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The statuses the bridge reports (protocol.md §5, source "inferred").
const (
	StatusWorking = "working"
	StatusIdle    = "idle"
)

// Infer returns the status implied by the last line that implies one, and
// false when none does. Lines are transcript lines without their newline;
// garbage, empty and unknown lines are skipped, never an error.
func Infer(lines [][]byte) (status string, ok bool) {
	for _, l := range lines {
		if s, lok := lineStatus(l); lok {
			status, ok = s, true
		}
	}
	return status, ok
}

// entry is the part of a transcript line that the inference reads.
type entry struct {
	Type        string  `json:"type"`
	Subtype     string  `json:"subtype"`
	IsMeta      bool    `json:"isMeta"`
	IsSidechain bool    `json:"isSidechain"`
	Message     message `json:"message"`
}

type message struct {
	Content    json.RawMessage `json:"content"`
	StopReason *string         `json:"stop_reason"`
}

type block struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// lineStatus classifies one transcript line.
func lineStatus(line []byte) (string, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return "", false
	}
	var e entry
	if json.Unmarshal(line, &e) != nil {
		return "", false
	}
	switch e.Type {
	case "user":
		return userStatus(e)
	case "assistant":
		return assistantStatus(e)
	case "system":
		// Written after the last assistant line of every turn (Claude Code
		// 2.x): the most direct "the turn is over" there is.
		if e.Subtype == "turn_duration" {
			return StatusIdle, true
		}
	}
	return "", false
}

func userStatus(e entry) (string, bool) {
	if e.IsMeta { // caveats and hook feedback Claude Code injects; no turn
		return "", false
	}
	if e.IsSidechain { // a subagent at work: the main turn waits on it
		return StatusWorking, true
	}
	text, blocks := contentOf(e.Message.Content)
	for _, b := range blocks {
		if b.Type == "text" {
			text += b.Text
		}
	}
	text = strings.TrimSpace(text)
	switch {
	case strings.HasPrefix(text, "[Request interrupted by user"):
		// Esc: Claude stopped, including "... for tool use".
		return StatusIdle, true
	case strings.HasPrefix(text, "<local-command-stdout>"),
		strings.HasPrefix(text, "<local-command-stderr>"):
		// The output of a local slash command (/model, /clear...): no model
		// turn runs for it.
		return StatusIdle, true
	}
	return StatusWorking, true // a prompt or a tool_result: the model is up next
}

func assistantStatus(e entry) (string, bool) {
	if e.IsSidechain {
		return StatusWorking, true
	}
	_, blocks := contentOf(e.Message.Content)
	for _, b := range blocks {
		if b.Type == "tool_use" {
			return StatusWorking, true
		}
	}
	if e.Message.StopReason == nil { // streaming: more blocks are coming
		return StatusWorking, true
	}
	switch *e.Message.StopReason {
	case "tool_use", "pause_turn":
		return StatusWorking, true
	case "end_turn", "stop_sequence", "max_tokens", "refusal":
		return StatusIdle, true
	}
	return "", false
}

// contentOf splits message content, which is either a string or an array of
// blocks; anything else yields neither.
func contentOf(raw json.RawMessage) (string, []block) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, nil
		}
	case '[':
		var bs []block
		if json.Unmarshal(raw, &bs) == nil {
			return "", bs
		}
	}
	return "", nil
}
