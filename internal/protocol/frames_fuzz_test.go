package protocol_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// catalogue is every code of internal/protocol/errors.go (docs/errors.md).
var catalogue = map[protocol.Code]bool{
	protocol.CodeMalformed: true, protocol.CodeTimestampSkew: true, protocol.CodeBadSignature: true,
	protocol.CodeUnauthorized: true, protocol.CodeReplayed: true, protocol.CodeCapacity: true,
	protocol.CodeBadSessionSignature: true, protocol.CodeNoHello: true, protocol.CodeAlreadyAuth: true,
	protocol.CodeUnknownType: true, protocol.CodeTooLarge: true, protocol.CodeBadPriority: true,
	protocol.CodeRateLimited: true, protocol.CodeNoSuchPeer: true, protocol.CodeAmbiguousTarget: true,
	protocol.CodeUnsupportedTarget: true, protocol.CodeUnavailable: true, protocol.CodeNotFound: true,
	protocol.CodeVersionConflict: true,
}

// validatorCodes are the only codes frame validation itself may produce;
// everything else needs the broker's state.
var validatorCodes = map[protocol.Code]bool{
	protocol.CodeMalformed: true, protocol.CodeTooLarge: true, protocol.CodeBadPriority: true,
}

// FuzzDecodeClientFrame feeds arbitrary bytes to the frame decoder and to
// every validator. Properties: decode errors are `malformed`; a decoded
// frame has a type and survives a marshal/decode round trip unchanged;
// each validator either refuses with a validation code or accepts a frame
// that really meets the documented limits.
func FuzzDecodeClientFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, perr := protocol.DecodeClientFrame(data)
		if perr != nil {
			if perr.Code != protocol.CodeMalformed {
				t.Fatalf("decode error has code %q, want malformed", perr.Code)
			}
			if fr != nil && fr.Type != "" && !hasNUL(reflect.ValueOf(*fr)) {
				t.Fatalf("decode refused a frame with type %q: %v", fr.Type, perr)
			}
			checkErrorFrame(t, perr, "", "")
			return
		}
		if fr.Type == "" {
			t.Fatal("decoded frame has no type")
		}
		if hasNUL(reflect.ValueOf(*fr)) {
			t.Fatalf("decoded frame carries U+0000, which the PostgreSQL store cannot hold: %q", data)
		}
		// Round trip: what the decoder kept re-encodes to a frame that
		// decodes to the same thing (a stable, lossless representation).
		enc, err := json.Marshal(fr)
		if err != nil {
			t.Fatalf("re-encoding a decoded frame: %v", err)
		}
		fr2, perr := protocol.DecodeClientFrame(enc)
		if perr != nil {
			t.Fatalf("re-encoded frame does not decode: %v\n%s", perr, enc)
		}
		enc2, _ := json.Marshal(fr2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the frame:\n%s\n%s", enc, enc2)
		}
		checkValidators(t, fr)
		// Validation depends only on decoded fields, so the re-decoded copy
		// gets the same verdicts (value sizes excepted: re-encoding compacts
		// the raw JSON, which may bring it under the 16 KiB limit).
		for name, v := range verdicts(fr) {
			if v2 := verdicts(fr2)[name]; v2 != v && name != "set_state" {
				t.Fatalf("%s: verdict %q before the round trip, %q after", name, v, v2)
			}
		}
		checkErrorFrame(t, protocol.Errorf(protocol.CodeUnknownType, "unknown frame type "+fr.Type), fr.ID, fr.ReqID)
	})
}

// verdicts runs every validator and returns its code ("" when accepted).
func verdicts(fr *protocol.ClientFrame) map[string]protocol.Code {
	code := func(e *protocol.Error) protocol.Code {
		if e == nil {
			return ""
		}
		return e.Code
	}
	_, sendErr := fr.ValidateSend()
	_, recallErr := fr.ValidateRecall()
	return map[string]protocol.Code{
		"hello": code(fr.ValidateHello()), "send": code(sendErr), "set_status": code(fr.ValidateStatus()),
		"set_summary": code(fr.ValidateSummary()), "group": code(fr.ValidateGroup()), "key": code(fr.ValidateKey()),
		"set_state": code(fr.ValidateSetState()), "remember": code(fr.ValidateRemember()),
		"recall": code(recallErr), "forget": code(fr.ValidateForget()),
	}
}

func checkValidators(t *testing.T, fr *protocol.ClientFrame) {
	t.Helper()
	for name, c := range verdicts(fr) {
		if c != "" && !validatorCodes[c] {
			t.Fatalf("%s validation returned code %q, not a validation code", name, c)
		}
	}
	if fr.ValidateHello() == nil {
		switch {
		case fr.MeshID == "" || len(fr.MeshID) > protocol.MaxIDLen, fr.MemberID == "" || len(fr.MemberID) > protocol.MaxIDLen,
			fr.SessionID == "" || len(fr.SessionID) > protocol.MaxIDLen:
			t.Fatalf("hello accepted with bad ids %q %q %q", fr.MeshID, fr.MemberID, fr.SessionID)
		case !lowerHexOfLen(fr.Pubkey, 64) || !lowerHexOfLen(fr.Signature, 128):
			t.Fatalf("hello accepted with pubkey %q signature %q", fr.Pubkey, fr.Signature)
		case fr.SessionPubkey != "" && !lowerHexOfLen(fr.SessionPubkey, 64):
			t.Fatalf("hello accepted with sessionPubkey %q", fr.SessionPubkey)
		case fr.Timestamp <= 0:
			t.Fatalf("hello accepted with timestamp %d", fr.Timestamp)
		case len(fr.Groups) > protocol.MaxGroupsPerHello:
			t.Fatalf("hello accepted with %d groups", len(fr.Groups))
		}
		for _, g := range fr.Groups {
			if !groupName(g.Name) {
				t.Fatalf("hello accepted with group %q", g.Name)
			}
		}
	}
	if s, err := fr.ValidateSend(); err == nil {
		if len(s.Targets) == 0 || len(s.Targets) > protocol.MaxTargets {
			t.Fatalf("send accepted with %d targets", len(s.Targets))
		}
		for _, tg := range s.Targets {
			if strings.TrimSpace(tg) == "" || strings.IndexByte(tg, 0) >= 0 {
				t.Fatalf("send accepted with a blank target in %s", fr.TargetSpec)
			}
		}
		if s.Priority != "now" && s.Priority != "next" && s.Priority != "low" {
			t.Fatalf("send accepted with priority %q", s.Priority)
		}
		if isArray := bytes.HasPrefix(bytes.TrimSpace(fr.TargetSpec), []byte("[")); isArray != s.TargetIsArray {
			t.Fatalf("targetSpec %s: TargetIsArray=%v", fr.TargetSpec, s.TargetIsArray)
		}
		if s.Ciphertext == "" || s.ID == "" {
			t.Fatal("send accepted without id or ciphertext")
		}
	}
	if n, err := fr.ValidateRecall(); err == nil && (n < 1 || n > protocol.MaxRecallLimit) {
		t.Fatalf("recall accepted with limit %d", n)
	}
	if fr.ValidateSetState() == nil {
		v := bytes.TrimSpace(fr.Value)
		if len(v) == 0 || string(v) == "null" || len(fr.Value) > protocol.MaxStateValueBytes || !json.Valid(v) {
			t.Fatalf("set_state accepted value %q", v)
		}
		if fr.Key == "" || len(fr.Key) > protocol.MaxStateKeyBytes {
			t.Fatalf("set_state accepted key of %d bytes", len(fr.Key))
		}
	}
	if fr.ValidateSummary() == nil && utf8.RuneCountInString(fr.Summary) > protocol.MaxSummaryChars {
		t.Fatalf("summary of %d runes accepted", utf8.RuneCountInString(fr.Summary))
	}
	if fr.ValidateGroup() == nil && !groupName(fr.Name) {
		t.Fatalf("group %q accepted", fr.Name)
	}
	if fr.ValidateStatus() == nil && fr.Status == "dnd" && fr.Source == "inferred" {
		t.Fatal("inferred dnd accepted")
	}
	if fr.ValidateRemember() == nil {
		if strings.TrimSpace(fr.Content) == "" || len(fr.Content) > protocol.MaxMemoryBytes || len(fr.Tags) > protocol.MaxTags {
			t.Fatalf("remember accepted content of %d bytes with %d tags", len(fr.Content), len(fr.Tags))
		}
	}
}

// hasNUL walks every string in v (json.RawMessage fields are bytes, skipped).
func hasNUL(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return strings.IndexByte(v.String(), 0) >= 0
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if hasNUL(v.Field(i)) {
				return true
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := 0; i < v.Len(); i++ {
			if hasNUL(v.Index(i)) {
				return true
			}
		}
	}
	return false
}

// groupName is [a-z0-9][a-z0-9_-/]{0,63} written out by hand, so the regexp
// in validate.go is checked against an independent reading of the spec.
func groupName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '_' || c == '-' || c == '/')
		if !ok {
			return false
		}
	}
	return true
}

func lowerHexOfLen(s string, n int) bool {
	return len(s) == n && strings.Trim(s, "0123456789abcdef") == ""
}

// checkErrorFrame asserts an error frame is one JSON object carrying the
// code and the ids, whatever bytes they hold.
func checkErrorFrame(t *testing.T, perr *protocol.Error, id, reqID string) {
	t.Helper()
	if !catalogue[perr.Code] {
		t.Fatalf("code %q is not in the catalogue", perr.Code)
	}
	var back protocol.ErrorFrame
	if err := json.Unmarshal(protocol.EncodeError(perr, id, reqID), &back); err != nil {
		t.Fatalf("error frame is not JSON: %v", err)
	}
	if back.Type != protocol.TypeError || back.Code != perr.Code || (utf8.ValidString(perr.Message) && back.Message != perr.Message) {
		t.Fatalf("error frame round trip: got %+v for %+v", back, perr)
	}
	// Decoded ids are valid UTF-8 already; those must come back byte for byte.
	if utf8.ValidString(id) && utf8.ValidString(reqID) && (back.ID != id || back.ReqID != reqID) {
		t.Fatalf("error frame round trip: got %+v for id %q reqId %q", back, id, reqID)
	}
}
