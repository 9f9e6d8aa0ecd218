package protocol

// Code is a stable, documented error code sent in error frames. This is the
// one list in code; docs/errors.md is the one table in the docs. Codes are
// never renamed: existing clients match on them.
type Code string

const (
	// Handshake (protocol.md §2), in the order the broker checks them.
	CodeMalformed           Code = "malformed"
	CodeTimestampSkew       Code = "timestamp_skew"
	CodeBadSignature        Code = "bad_signature"
	CodeUnauthorized        Code = "unauthorized"
	CodeReplayed            Code = "replayed"
	CodeCapacity            Code = "capacity"
	CodeBadSessionSignature Code = "bad_session_signature"
	CodeNoHello             Code = "no_hello"
	CodeAlreadyAuth         Code = "already_authenticated"

	// Frames and sending (§1, §4).
	CodeUnknownType       Code = "unknown_type"
	CodeTooLarge          Code = "too_large"
	CodeBadPriority       Code = "bad_priority"
	CodeRateLimited       Code = "rate_limited"
	CodeNoSuchPeer        Code = "no_such_peer"
	CodeAmbiguousTarget   Code = "ambiguous_target"
	CodeUnsupportedTarget Code = "unsupported_target"
	CodeUnavailable       Code = "unavailable"
	CodeNotFound          Code = "not_found"

	// Shared state (§6).
	CodeVersionConflict Code = "version_conflict"
)

// Error is a protocol error: a code plus a sentence a person can read.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds a protocol error.
func Errorf(code Code, message string) *Error { return &Error{Code: code, Message: message} }
