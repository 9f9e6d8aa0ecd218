package protocol

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits on client-supplied strings. They keep one hostile frame from
// bloating memory or the store; generous for real clients.
const (
	MaxIDLen          = 128
	MaxNameLen        = 128
	MaxPathLen        = 4096
	MaxTargets        = 100
	MaxGroupsPerHello = 64
)

var groupNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_/-]{0,63}$`)

// ValidGroupName reports whether name follows `[a-z0-9][a-z0-9_-/]{0,63}`.
func ValidGroupName(name string) bool { return groupNameRE.MatchString(name) }

// ValidateHello checks the hello's shape (check 1 of protocol.md §2).
// The session key proof is checked later, after authentication.
func (f *ClientFrame) ValidateHello() *Error {
	switch {
	case f.MeshID == "" || len(f.MeshID) > MaxIDLen:
		return Errorf(CodeMalformed, "hello needs a meshId of 1 to 128 characters")
	case f.MemberID == "" || len(f.MemberID) > MaxIDLen:
		return Errorf(CodeMalformed, "hello needs a memberId of 1 to 128 characters")
	case !IsHexKey(f.Pubkey):
		return Errorf(CodeMalformed, "hello pubkey must be 64 lowercase hex characters")
	case f.Timestamp <= 0:
		return Errorf(CodeMalformed, "hello needs a timestamp in milliseconds since the epoch")
	case !IsHexSig(f.Signature):
		return Errorf(CodeMalformed, "hello signature must be 128 lowercase hex characters")
	case f.SessionID == "" || len(f.SessionID) > MaxIDLen:
		return Errorf(CodeMalformed, "hello needs a sessionId of 1 to 128 characters")
	case f.SessionPubkey != "" && !IsHexKey(f.SessionPubkey):
		return Errorf(CodeMalformed, "hello sessionPubkey must be 64 lowercase hex characters")
	case len(f.DisplayName) > MaxNameLen || len(f.Hostname) > MaxNameLen || len(f.Model) > MaxNameLen || len(f.Channel) > MaxNameLen:
		return Errorf(CodeMalformed, "hello displayName, hostname, channel and model are limited to 128 characters")
	case len(f.CWD) > MaxPathLen:
		return Errorf(CodeMalformed, "hello cwd is limited to 4096 characters")
	case f.PeerType != "" && f.PeerType != "ai" && f.PeerType != "human" && f.PeerType != "connector":
		return Errorf(CodeMalformed, `hello peerType must be "ai", "human" or "connector"`)
	case len(f.Groups) > MaxGroupsPerHello:
		return Errorf(CodeMalformed, "hello carries more than 64 groups")
	}
	for _, g := range f.Groups {
		if !ValidGroupName(g.Name) {
			return Errorf(CodeMalformed, "group name "+quote(g.Name)+" must match [a-z0-9][a-z0-9_-/]{0,63}")
		}
		if len(g.Role) > MaxNameLen {
			return Errorf(CodeMalformed, "group role is limited to 128 characters")
		}
	}
	return nil
}

// Send is a validated send frame with its defaults applied.
type Send struct {
	ID              string
	Targets         []string
	TargetIsArray   bool
	Priority        string
	Enc             string // "" when the client sent none: the broker applies the default
	Nonce           string
	Ciphertext      string
	ClientMessageID string
}

// ValidateSend checks a send frame (protocol.md §4). A missing priority
// means "next", the original broker's default.
func (f *ClientFrame) ValidateSend() (Send, *Error) {
	s := Send{ID: f.ID, Priority: f.Priority, Enc: f.Enc, Nonce: f.Nonce, Ciphertext: f.Ciphertext, ClientMessageID: f.ClientMessageID}
	if s.Priority == "" {
		s.Priority = PriorityNext
	}
	switch {
	case f.ID == "" || len(f.ID) > MaxIDLen:
		return s, Errorf(CodeMalformed, "send needs an id of 1 to 128 characters")
	case s.Priority != PriorityNow && s.Priority != PriorityNext && s.Priority != PriorityLow:
		return s, Errorf(CodeBadPriority, `priority must be "now", "next" or "low", not `+quote(f.Priority))
	case s.Enc != "" && s.Enc != EncBox && s.Enc != EncSecretbox && s.Enc != EncPlain:
		return s, Errorf(CodeMalformed, `enc must be "box", "secretbox" or "plain"`)
	case len(f.ClientMessageID) > MaxIDLen:
		return s, Errorf(CodeMalformed, "clientMessageId is limited to 128 characters")
	case f.Ciphertext == "":
		return s, Errorf(CodeMalformed, "send needs a ciphertext")
	}
	targets, isArray, err := parseTargets(f.TargetSpec)
	if err != nil {
		return s, err
	}
	s.Targets, s.TargetIsArray = targets, isArray
	return s, nil
}

func parseTargets(raw json.RawMessage) ([]string, bool, *Error) {
	if len(raw) == 0 {
		return nil, false, Errorf(CodeMalformed, "send needs a targetSpec")
	}
	one, ok := plainString(raw)
	if !ok && raw[0] == '"' {
		ok = json.Unmarshal(raw, &one) == nil
	}
	if ok {
		if strings.TrimSpace(one) == "" {
			return nil, false, Errorf(CodeMalformed, "targetSpec is empty")
		}
		if strings.IndexByte(one, 0) >= 0 {
			return nil, false, Errorf(CodeMalformed, "targetSpec must not contain U+0000")
		}
		return []string{one}, false, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, false, Errorf(CodeMalformed, "targetSpec must be a string or an array of strings")
	}
	if len(many) == 0 || len(many) > MaxTargets {
		return nil, true, Errorf(CodeMalformed, "targetSpec array must hold 1 to 100 targets")
	}
	for _, t := range many {
		if strings.TrimSpace(t) == "" {
			return nil, true, Errorf(CodeMalformed, "targetSpec array holds an empty target")
		}
		if strings.IndexByte(t, 0) >= 0 {
			return nil, true, Errorf(CodeMalformed, "targetSpec must not contain U+0000")
		}
	}
	return many, true, nil
}

// plainString returns the value of a JSON string with no escapes, the
// common case of a single target, without a second pass of the decoder.
// raw comes from a decoded frame, so it is already valid JSON; a string
// with escapes or invalid UTF-8 (which the decoder replaces) is left to
// json.Unmarshal.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') >= 0 || bytes.IndexByte(body, '"') >= 0 || !utf8.Valid(body) {
		return "", false
	}
	return string(body), true
}

// ValidateStatus checks a set_status frame: status idle|working|dnd and
// source manual (default) or inferred.
func (f *ClientFrame) ValidateStatus() *Error {
	switch f.Status {
	case "idle", "working", "dnd":
	default:
		return Errorf(CodeMalformed, `status must be "idle", "working" or "dnd"`)
	}
	if f.Source != "" && f.Source != "manual" && f.Source != "inferred" {
		return Errorf(CodeMalformed, `source must be "manual" or "inferred"`)
	}
	if f.Status == "dnd" && f.Source == "inferred" {
		return Errorf(CodeMalformed, "dnd is set and cleared only manually")
	}
	return nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
