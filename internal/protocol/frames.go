package protocol

import (
	"encoding/json"
	"strings"
)

// Client frame types (client -> broker).
const (
	TypeHello        = "hello"
	TypeSend         = "send"
	TypeClientAck    = "client_ack"
	TypeFetchPending = "fetch_pending"
	TypeListPeers    = "list_peers"
	TypeListMembers  = "list_members"
	TypeMessageStat  = "message_status"
	TypeSetStatus    = "set_status"
	TypePing         = "ping"
	TypeSetSummary   = "set_summary"
	TypeJoinGroup    = "join_group"
	TypeLeaveGroup   = "leave_group"
	TypeSetState     = "set_state"
	TypeGetState     = "get_state"
	TypeListState    = "list_state"
	TypeDeleteState  = "delete_state"
	TypeRemember     = "remember"
	TypeRecall       = "recall"
	TypeForget       = "forget"
)

// Broker frame types (broker -> client).
const (
	TypeHelloAck      = "hello_ack"
	TypeError         = "error"
	TypeAck           = "ack"
	TypePush          = "push"
	TypeOK            = "ok"
	TypePeersList     = "peers_list"
	TypeMembersList   = "members_list"
	TypeMessageResult = "message_status_result"
	TypePong          = "pong"
	TypeStateChange   = "state_change"
	TypeStateResult   = "state_result"
	TypeStateList     = "state_list"
	TypeMemoryStored  = "memory_stored"
	TypeMemoryResults = "memory_results"
)

// Capabilities a client may declare in its hello.
const (
	CapClientAck = "client_ack"
	CapSecretbox = "secretbox"
)

// Priorities, encodings and push kinds.
const (
	PriorityNow  = "now"
	PriorityNext = "next"
	PriorityLow  = "low"

	EncBox       = "box"
	EncSecretbox = "secretbox"
	EncPlain     = "plain"

	KindDirect    = "direct"
	KindGroup     = "group"
	KindBroadcast = "broadcast"
)

// ClientFrame is every field any client frame may carry, decoded in one pass.
// Which fields matter depends on Type; the Validate* methods check them.
// Unknown fields are ignored so newer clients keep working.
type ClientFrame struct {
	Type  string `json:"type"`
	ReqID string `json:"_reqId,omitempty"`
	ID    string `json:"id,omitempty"`

	// hello
	MeshID           string   `json:"meshId,omitempty"`
	MemberID         string   `json:"memberId,omitempty"`
	Pubkey           string   `json:"pubkey,omitempty"`
	Timestamp        int64    `json:"timestamp,omitempty"`
	Signature        string   `json:"signature,omitempty"`
	SessionID        string   `json:"sessionId,omitempty"`
	PID              int      `json:"pid,omitempty"`
	CWD              string   `json:"cwd,omitempty"`
	DisplayName      string   `json:"displayName,omitempty"`
	Hostname         string   `json:"hostname,omitempty"`
	PeerType         string   `json:"peerType,omitempty"`
	Channel          string   `json:"channel,omitempty"`
	Model            string   `json:"model,omitempty"`
	Groups           []Group  `json:"groups,omitempty"`
	SessionPubkey    string   `json:"sessionPubkey,omitempty"`
	SessionSignature string   `json:"sessionSignature,omitempty"`
	Protocol         int      `json:"protocol,omitempty"`
	Capabilities     []string `json:"capabilities,omitempty"`
	Ephemeral        bool     `json:"ephemeral,omitempty"`

	// send
	TargetSpec      json.RawMessage `json:"targetSpec,omitempty"`
	Priority        string          `json:"priority,omitempty"`
	Nonce           string          `json:"nonce,omitempty"`
	Ciphertext      string          `json:"ciphertext,omitempty"`
	Enc             string          `json:"enc,omitempty"`
	ClientMessageID string          `json:"clientMessageId,omitempty"`

	// client_ack, message_status
	MessageID string `json:"messageId,omitempty"`

	// set_status
	Status string `json:"status,omitempty"`
	Source string `json:"source,omitempty"`

	// set_summary, join_group, leave_group
	Summary string `json:"summary,omitempty"`
	Name    string `json:"name,omitempty"`
	Role    string `json:"role,omitempty"`

	// set_state, get_state, delete_state
	Key       string          `json:"key,omitempty"`
	Value     json.RawMessage `json:"value,omitempty"`
	IfVersion *int64          `json:"ifVersion,omitempty"`

	// remember, recall, forget
	Content  string   `json:"content,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	Query    string   `json:"query,omitempty"`
	Limit    int      `json:"limit,omitempty"`
	MemoryID string   `json:"memoryId,omitempty"`
}

// Group is a group membership as it appears on the wire.
type Group struct {
	Name string `json:"name"`
	Role string `json:"role,omitempty"`
}

// DecodeClientFrame parses one text frame. A frame that is not a JSON object
// with a string "type" is malformed.
func DecodeClientFrame(data []byte) (*ClientFrame, *Error) {
	var f ClientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, Errorf(CodeMalformed, "frame is not a valid JSON object of the expected shape: "+err.Error())
	}
	if f.Type == "" {
		return &f, Errorf(CodeMalformed, `frame has no string "type"`)
	}
	if f.hasNUL() {
		// PostgreSQL text and jsonb cannot hold U+0000: without this check
		// such a frame reached the store and came back as "unavailable".
		return &f, Errorf(CodeMalformed, "frame strings must not contain U+0000 (\\u0000)")
	}
	return &f, nil
}

// hasNUL reports whether any string field holds U+0000. The raw JSON
// fields are stored as text, where the escape is harmless; their decoded
// strings (targets) are checked where they are parsed.
func (f *ClientFrame) hasNUL() bool {
	fields := []string{f.Type, f.ReqID, f.ID, f.MeshID, f.MemberID, f.Pubkey, f.Signature, f.SessionID, f.CWD,
		f.DisplayName, f.Hostname, f.PeerType, f.Channel, f.Model, f.SessionPubkey, f.SessionSignature,
		f.Priority, f.Nonce, f.Ciphertext, f.Enc, f.ClientMessageID, f.MessageID, f.Status, f.Source,
		f.Summary, f.Name, f.Role, f.Key, f.Content, f.Query, f.MemoryID}
	fields = append(fields, f.Capabilities...)
	fields = append(fields, f.Tags...)
	for _, g := range f.Groups {
		fields = append(fields, g.Name, g.Role)
	}
	for _, s := range fields {
		if strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
	return false
}

// HasCapability reports whether the hello declared capability c.
func (f *ClientFrame) HasCapability(c string) bool {
	for _, have := range f.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}
