package client

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Config says who connects where. Zero durations get the defaults noted.
type Config struct {
	BrokerURL  string // ws(s):// or http(s):// base; "/ws" is appended unless present
	MeshID     string
	MemberID   string
	MemberKey  ed25519.PrivateKey
	SessionID  string             // random when empty; kept across reconnects so they resume
	SessionKey ed25519.PrivateKey // optional: proven in each hello and used for DMs

	DisplayName string
	Groups      []protocol.Group
	PeerType    string // ai|human|connector
	Channel     string // e.g. "claude-code"
	Model       string
	CWD         string // os.Getwd() when empty
	Ephemeral   bool   // one-shot CLI session: not announced, never a delivery target

	Handler Handler // receives pushes and state changes; nil drops them unacked
	Logger  *slog.Logger

	RPCTimeout   time.Duration // 10 s
	DialTimeout  time.Duration // 10 s, connect plus hello
	PingInterval time.Duration // 30 s
	BackoffMin   time.Duration // 1 s
	BackoffMax   time.Duration // 30 s
	DedupSize    int           // 4096 remembered messageIds
}

// Handler is called for each event, one at a time, in arrival order. A nil
// error for a message push acks it; an error leaves it unacked, so the
// broker pushes it again after the next reconnect.
type Handler func(ctx context.Context, ev Event) error

// Event is one thing the broker told this session: exactly one field is set.
// Push.Subtype == "system" marks a system event (peer_joined...), never acked.
type Event struct {
	Push  *protocol.Push
	State *protocol.StateChange
}
