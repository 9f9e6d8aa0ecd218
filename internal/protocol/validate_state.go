package protocol

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Limits of protocol.md §5 and §6, plus bounds on tags and queries that
// keep one frame from costing the store much.
const (
	MaxStateKeyBytes   = 256
	MaxStateValueBytes = 16 * 1024
	MaxMemoryBytes     = 16 * 1024
	MaxSummaryChars    = 512
	MaxTags            = 32
	MaxTagLen          = 64
	MaxQueryLen        = 1024
	DefaultRecallLimit = 10
	MaxRecallLimit     = 100
)

// ValidateSummary checks set_summary: at most 512 characters (runes).
func (f *ClientFrame) ValidateSummary() *Error {
	if utf8.RuneCountInString(f.Summary) > MaxSummaryChars {
		return Errorf(CodeTooLarge, "summary is limited to 512 characters")
	}
	return nil
}

// ValidateGroup checks join_group and leave_group.
func (f *ClientFrame) ValidateGroup() *Error {
	if !ValidGroupName(f.Name) {
		return Errorf(CodeMalformed, "group name "+quote(f.Name)+" must match [a-z0-9][a-z0-9_-/]{0,63}")
	}
	if len(f.Role) > MaxNameLen {
		return Errorf(CodeMalformed, "group role is limited to 128 characters")
	}
	return nil
}

// ValidateKey checks the key of set_state, get_state and delete_state.
func (f *ClientFrame) ValidateKey() *Error {
	switch {
	case f.Key == "":
		return Errorf(CodeMalformed, "a state key is required")
	case len(f.Key) > MaxStateKeyBytes:
		return Errorf(CodeTooLarge, "state keys are limited to 256 bytes")
	}
	return nil
}

// ValidateSetState checks set_state. A null value is refused: delete_state
// removes a key, so null never means two things.
func (f *ClientFrame) ValidateSetState() *Error {
	if perr := f.ValidateKey(); perr != nil {
		return perr
	}
	v := bytes.TrimSpace(f.Value)
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
		return Errorf(CodeMalformed, "set_state needs a non-null value; use delete_state to remove a key")
	case len(f.Value) > MaxStateValueBytes:
		return Errorf(CodeTooLarge, "state values are limited to 16 KiB of JSON")
	case f.IfVersion != nil && *f.IfVersion < 0:
		return Errorf(CodeMalformed, "ifVersion must be 0 (key absent) or a positive version")
	}
	return nil
}

// ValidateRemember checks remember: non-empty content up to 16 KiB and at
// most 32 tags of 1 to 64 bytes.
func (f *ClientFrame) ValidateRemember() *Error {
	switch {
	case strings.TrimSpace(f.Content) == "":
		return Errorf(CodeMalformed, "remember needs non-empty content")
	case len(f.Content) > MaxMemoryBytes:
		return Errorf(CodeTooLarge, "memory content is limited to 16 KiB")
	case len(f.Tags) > MaxTags:
		return Errorf(CodeMalformed, "a memory has at most 32 tags")
	}
	for _, t := range f.Tags {
		if strings.TrimSpace(t) == "" || len(t) > MaxTagLen {
			return Errorf(CodeMalformed, "tags must be 1 to 64 bytes")
		}
	}
	return nil
}

// ValidateRecall checks recall and returns the limit to use: 10 by
// default, at most 100.
func (f *ClientFrame) ValidateRecall() (int, *Error) {
	switch {
	case strings.TrimSpace(f.Query) == "":
		return 0, Errorf(CodeMalformed, "recall needs a non-empty query")
	case len(f.Query) > MaxQueryLen:
		return 0, Errorf(CodeTooLarge, "recall queries are limited to 1024 bytes")
	case f.Limit < 0:
		return 0, Errorf(CodeMalformed, "limit must be positive")
	case f.Limit == 0:
		return DefaultRecallLimit, nil
	}
	return min(f.Limit, MaxRecallLimit), nil
}

// ValidateForget checks forget.
func (f *ClientFrame) ValidateForget() *Error {
	if f.MemoryID == "" || len(f.MemoryID) > MaxIDLen {
		return Errorf(CodeMalformed, "forget needs a memoryId of 1 to 128 characters")
	}
	return nil
}
