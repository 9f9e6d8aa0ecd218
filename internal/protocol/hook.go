package protocol

// HookRequest is the body of POST /hook/set-status (cli.md "install /
// hooks / launch"): a Claude Code hook reporting its session's status,
// signed by the member key over HookCanonical.
type HookRequest struct {
	SessionID string `json:"session_id"`
	CWD       string `json:"cwd"`
	Status    string `json:"status"`
	MeshID    string `json:"mesh_id"`
	MemberID  string `json:"member_id"`
	Pubkey    string `json:"pubkey"`
	Timestamp int64  `json:"timestamp"`
	Signature string `json:"signature"`
}

// HookError is the JSON body of every refused hook request.
type HookError struct {
	Error     Code   `json:"error"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp"`
}

// ValidateShape checks everything but the signature. Hooks report only
// working or idle: dnd is set and cleared only manually.
func (r *HookRequest) ValidateShape() *Error {
	switch {
	case r.Status != "working" && r.Status != "idle":
		return Errorf(CodeMalformed, `hook status must be "working" or "idle"`)
	case r.MeshID == "" || len(r.MeshID) > MaxIDLen || r.MemberID == "" || len(r.MemberID) > MaxIDLen:
		return Errorf(CodeMalformed, "hook needs mesh_id and member_id of 1 to 128 characters")
	case len(r.SessionID) > MaxIDLen || len(r.CWD) > MaxPathLen:
		return Errorf(CodeMalformed, "hook session_id is limited to 128 and cwd to 4096 characters")
	case r.SessionID == "" && r.CWD == "":
		return Errorf(CodeMalformed, "hook needs a session_id or a cwd to find its session")
	case r.Timestamp <= 0:
		return Errorf(CodeMalformed, "hook needs a timestamp in milliseconds since the epoch")
	}
	return nil
}

// Signed reports whether the request carries a well-formed key and signature.
func (r *HookRequest) Signed() bool { return IsHexKey(r.Pubkey) && IsHexSig(r.Signature) }
