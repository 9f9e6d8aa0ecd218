package protocol

import "encoding/json"

// ErrorFrame is the one error shape (protocol.md §1).
type ErrorFrame struct {
	Type    string `json:"type"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
	ID      string `json:"id,omitempty"`
	ReqID   string `json:"_reqId,omitempty"`
}

// HelloAck answers a good hello; it is always the first broker frame.
type HelloAck struct {
	Type              string `json:"type"`
	PresenceID        string `json:"presenceId"`
	MeshID            string `json:"meshId"`
	MemberID          string `json:"memberId"`
	MemberDisplayName string `json:"memberDisplayName"`
	Role              string `json:"role"`
	Protocol          int    `json:"protocol"`
	PeersOnline       int    `json:"peersOnline"`
	Resumed           bool   `json:"resumed"`
}

// Ack confirms a send after its commit.
type Ack struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	MessageID  string `json:"messageId"`
	Queued     bool   `json:"queued"`
	Recipients int    `json:"recipients"`
	ReqID      string `json:"_reqId,omitempty"`
}

// Push carries one message (or a system event) to a recipient session.
type Push struct {
	Type               string          `json:"type"`
	MessageID          string          `json:"messageId"`
	MeshID             string          `json:"meshId"`
	SenderPubkey       string          `json:"senderPubkey"`
	SenderMemberPubkey string          `json:"senderMemberPubkey"`
	SenderName         string          `json:"senderName"`
	Priority           string          `json:"priority"`
	Nonce              string          `json:"nonce"`
	Ciphertext         string          `json:"ciphertext"`
	Enc                string          `json:"enc"`
	Kind               string          `json:"kind"`
	Group              string          `json:"group,omitempty"`
	CreatedAt          string          `json:"createdAt"`
	Subtype            string          `json:"subtype,omitempty"`
	Event              string          `json:"event,omitempty"`
	EventData          json.RawMessage `json:"eventData,omitempty"`
}

// OK answers a request that has no typed response.
type OK struct {
	Type  string `json:"type"`
	ReqID string `json:"_reqId,omitempty"`
	Count *int   `json:"count,omitempty"`
	// Version answers set_state with the key's new version.
	Version *int64 `json:"version,omitempty"`
}

// Peer is one live session in peers_list.
type Peer struct {
	Pubkey       string   `json:"pubkey"`
	MemberPubkey string   `json:"memberPubkey"`
	MemberID     string   `json:"memberId"`
	DisplayName  string   `json:"displayName"`
	Status       string   `json:"status"`
	StatusSource string   `json:"statusSource"`
	Summary      string   `json:"summary"`
	Groups       []Group  `json:"groups"`
	SessionID    string   `json:"sessionId"`
	ConnectedAt  string   `json:"connectedAt"`
	CWD          string   `json:"cwd"`
	Hostname     string   `json:"hostname"`
	PeerType     string   `json:"peerType"`
	Channel      string   `json:"channel"`
	Model        string   `json:"model"`
	Capabilities []string `json:"capabilities"`
}

// PeersList answers list_peers.
type PeersList struct {
	Type  string `json:"type"`
	Peers []Peer `json:"peers"`
	ReqID string `json:"_reqId,omitempty"`
}

// MemberInfo is one member in members_list.
type MemberInfo struct {
	MemberID    string  `json:"memberId"`
	Pubkey      string  `json:"pubkey"`
	DisplayName string  `json:"displayName"`
	Role        string  `json:"role"`
	Groups      []Group `json:"groups"`
	Online      bool    `json:"online"`
}

// MembersList answers list_members.
type MembersList struct {
	Type    string       `json:"type"`
	Members []MemberInfo `json:"members"`
	ReqID   string       `json:"_reqId,omitempty"`
}

// RecipientStatus is one delivery row in message_status_result.
type RecipientStatus struct {
	Name        string `json:"name"`
	Pubkey      string `json:"pubkey"`
	Status      string `json:"status"`
	DeliveredAt string `json:"deliveredAt,omitempty"`
}

// MessageStatusResult answers message_status from the real delivery rows.
type MessageStatusResult struct {
	Type       string            `json:"type"`
	MessageID  string            `json:"messageId"`
	TargetSpec json.RawMessage   `json:"targetSpec"`
	Delivered  bool              `json:"delivered"`
	Recipients []RecipientStatus `json:"recipients"`
	ReqID      string            `json:"_reqId,omitempty"`
}

// StateEntry is one shared key-value pair as state_result and state_list carry it.
type StateEntry struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	UpdatedBy string          `json:"updatedBy"`
	UpdatedAt string          `json:"updatedAt"`
	Version   int64           `json:"version"`
}

// StateResult answers get_state; a missing key has value null and version 0.
type StateResult struct {
	Type string `json:"type"`
	StateEntry
	ReqID string `json:"_reqId,omitempty"`
}

// StateList answers list_state, sorted by key.
type StateList struct {
	Type    string       `json:"type"`
	Entries []StateEntry `json:"entries"`
	ReqID   string       `json:"_reqId,omitempty"`
}

// StateChange tells the other sessions of a mesh that a key changed.
type StateChange struct {
	Type      string          `json:"type"`
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	UpdatedBy string          `json:"updatedBy"`
	Version   int64           `json:"version"`
	UpdatedAt string          `json:"updatedAt"`
	Deleted   bool            `json:"deleted,omitempty"`
}

// MemoryStored answers remember.
type MemoryStored struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	ReqID string `json:"_reqId,omitempty"`
}

// MemoryResult is one match of recall.
type MemoryResult struct {
	ID           string   `json:"id"`
	Content      string   `json:"content"`
	Tags         []string `json:"tags"`
	RememberedBy string   `json:"rememberedBy"`
	RememberedAt string   `json:"rememberedAt"`
	Rank         float64  `json:"rank"`
}

// MemoryResults answers recall, most relevant first.
type MemoryResults struct {
	Type     string         `json:"type"`
	Memories []MemoryResult `json:"memories"`
	ReqID    string         `json:"_reqId,omitempty"`
}

// SystemEventData is the eventData of peer_joined/left/returned and member_revoked.
type SystemEventData struct {
	Name   string  `json:"name"`
	Pubkey string  `json:"pubkey"`
	Groups []Group `json:"groups"`
}

// System event names.
const (
	EventPeerJoined    = "peer_joined"
	EventPeerLeft      = "peer_left"
	EventPeerReturned  = "peer_returned"
	EventMemberRevoked = "member_revoked"
)

// Encode marshals a broker frame. Frames are plain structs, so this cannot
// fail short of a programming error, which panics loudly in tests.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("protocol: encoding a broker frame: " + err.Error())
	}
	return b
}

// EncodeError builds an error frame.
func EncodeError(e *Error, id, reqID string) []byte {
	return Encode(ErrorFrame{Type: TypeError, Code: e.Code, Message: e.Message, ID: id, ReqID: reqID})
}
