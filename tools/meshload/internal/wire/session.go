// Package wire is meshload's own lean protocol client. It does not reuse
// internal/client on purpose: a load generator must see every duplicate
// push (that client hides them by design), keep many sends in flight per
// session, and stay cheap enough to hold 10,000 sessions in one process.
//
// Goroutines: one reader per session (readLoop). It answers each message
// push with client_ack, hands pushes, acks and send errors to the Handler
// on the reader goroutine, and completes request waiters. Writes come from
// any goroutine: websocket.Conn writes are safe for concurrent use.
package wire

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Frame is the union of the broker frame fields meshload reads.
type Frame struct {
	Type       string        `json:"type"`
	ID         string        `json:"id"`
	ReqID      string        `json:"_reqId"`
	Code       protocol.Code `json:"code"`
	Message    string        `json:"message"`
	MessageID  string        `json:"messageId"`
	Recipients int           `json:"recipients"`

	SenderPubkey string `json:"senderPubkey"`
	Priority     string `json:"priority"`
	Nonce        string `json:"nonce"`
	Ciphertext   string `json:"ciphertext"`
	Enc          string `json:"enc"`
	Kind         string `json:"kind"`
	Subtype      string `json:"subtype"`
	Event        string `json:"event"`
}

// Handler receives what a session is told. Methods run on the session's
// reader goroutine, so they must not block for long.
type Handler interface {
	// Push is a message push, called before it is client_acked.
	Push(s *Session, f *Frame, at time.Time)
	// Reply is an ack or error answering a send (f.ID set, no _reqId).
	Reply(s *Session, f *Frame, at time.Time)
	// Unsolicited is an error frame that answers nothing.
	Unsolicited(s *Session, f *Frame)
}

// Identity is a member key as a session uses it.
type Identity struct {
	MeshID   string
	MemberID string
	Name     string
	Key      ed25519.PrivateKey
	Pub      string // hex: the routing address (sessions use no session key)
}

// NewIdentity derives the hex public key.
func NewIdentity(meshID, memberID, name string, key ed25519.PrivateKey) *Identity {
	return &Identity{MeshID: meshID, MemberID: memberID, Name: name, Key: key,
		Pub: hex.EncodeToString(key.Public().(ed25519.PublicKey))}
}

// Session is one authenticated WebSocket.
type Session struct {
	Idx int
	ID  *Identity
	Ack protocol.HelloAck

	ws      *websocket.Conn
	h       Handler
	seq     atomic.Uint64
	mu      sync.Mutex
	waiters map[string]chan *Frame
	events  map[string]int64 // system pushes by event
	done    chan struct{}
	err     error // why the read loop ended; read after done
}

// WSURL turns an http(s) base URL into its /ws endpoint.
func WSURL(base string) (string, error) { return client.WebSocketURL(base) }

// HelloError is a refused hello.
type HelloError struct {
	Code    protocol.Code
	Message string
}

func (e *HelloError) Error() string { return fmt.Sprintf("hello refused: %s: %s", e.Code, e.Message) }

// Dial opens a socket, sends a freshly signed protocol-2 hello declaring
// client_ack and secretbox, and waits for hello_ack.
func Dial(ctx context.Context, wsURL string, idx int, id *Identity, h Handler) (*Session, error) {
	ws, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	ws.SetReadLimit(1 << 22)
	ms := time.Now().UnixMilli()
	hello := protocol.ClientFrame{
		Type: protocol.TypeHello, MeshID: id.MeshID, MemberID: id.MemberID, Pubkey: id.Pub, Timestamp: ms,
		Signature: protocol.SignHex(id.Key, protocol.HelloCanonical(id.MeshID, id.MemberID, id.Pub, ms)),
		SessionID: fmt.Sprintf("meshload-%d-%s", idx, id.Pub[:12]), PID: 1, CWD: "/meshload",
		DisplayName: id.Name, PeerType: "ai", Channel: "meshload", Protocol: 2,
		Capabilities: []string{protocol.CapClientAck, protocol.CapSecretbox},
	}
	data, _ := json.Marshal(hello)
	if err := ws.Write(ctx, websocket.MessageText, data); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("sending hello: %w", err)
	}
	_, data, err = ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("waiting for hello_ack: %w", err)
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("first frame is not JSON: %.200q", data)
	}
	if f.Type == protocol.TypeError {
		ws.CloseNow()
		return nil, &HelloError{Code: f.Code, Message: f.Message}
	}
	if f.Type != protocol.TypeHelloAck {
		ws.CloseNow()
		return nil, fmt.Errorf("first frame is %q, want hello_ack", f.Type)
	}
	s := &Session{Idx: idx, ID: id, ws: ws, h: h, waiters: map[string]chan *Frame{}, events: map[string]int64{}, done: make(chan struct{})}
	_ = json.Unmarshal(data, &s.Ack)
	go s.readLoop()
	return s, nil
}

func (s *Session) readLoop() {
	defer close(s.done)
	ctx := context.Background()
	for {
		_, data, err := s.ws.Read(ctx)
		if err != nil {
			s.err = err
			s.failWaiters()
			return
		}
		at := time.Now()
		f := new(Frame)
		if json.Unmarshal(data, f) != nil {
			continue
		}
		s.route(f, at)
	}
}

func (s *Session) route(f *Frame, at time.Time) {
	switch {
	case f.Type == protocol.TypePush && f.Subtype == "system":
		s.mu.Lock() // peer events carry no delivery row: nothing to ack
		s.events[f.Event]++
		s.mu.Unlock()
	case f.Type == protocol.TypePush:
		s.h.Push(s, f, at)
		s.clientAck(f.MessageID)
	case f.ReqID != "":
		s.mu.Lock()
		ch := s.waiters[f.ReqID]
		delete(s.waiters, f.ReqID)
		s.mu.Unlock()
		if ch != nil {
			ch <- f
		}
	case f.ID != "" && (f.Type == protocol.TypeAck || f.Type == protocol.TypeError):
		s.h.Reply(s, f, at)
	case f.Type == protocol.TypeError:
		s.h.Unsolicited(s, f)
	}
}

// clientAck confirms one push. The timeout keeps a stuck socket from
// hanging the reader forever; a lost ack only means a redelivery, which
// the verifier then counts as a duplicate.
func (s *Session) clientAck(messageID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.write(ctx, protocol.ClientFrame{Type: protocol.TypeClientAck, MessageID: messageID})
}

func (s *Session) failWaiters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, ch := range s.waiters {
		close(ch)
		delete(s.waiters, k)
	}
}

func (s *Session) write(ctx context.Context, f protocol.ClientFrame) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.ws.Write(ctx, websocket.MessageText, data)
}

// NextID returns a fresh correlation id for a send.
func (s *Session) NextID() string { return strconv.FormatUint(s.seq.Add(1), 10) }

// Send writes one send frame; the answer comes to Handler.Reply with id.
func (s *Session) Send(ctx context.Context, id, target, priority string, enc, nonce, ciphertext string) error {
	spec, _ := json.Marshal(target)
	return s.write(ctx, protocol.ClientFrame{Type: protocol.TypeSend, ID: id, TargetSpec: spec,
		Priority: priority, Enc: enc, Nonce: nonce, Ciphertext: ciphertext})
}

// Request writes f with a fresh _reqId and waits for the frame echoing it.
// An error frame comes back as a *RequestError.
func (s *Session) Request(ctx context.Context, f protocol.ClientFrame) (*Frame, error) {
	f.ReqID = "r" + s.NextID()
	ch := make(chan *Frame, 1)
	s.mu.Lock()
	s.waiters[f.ReqID] = ch
	s.mu.Unlock()
	defer func() { s.mu.Lock(); delete(s.waiters, f.ReqID); s.mu.Unlock() }()
	if err := s.write(ctx, f); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Type, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: connection lost: %w", f.Type, s.err)
		}
		if r.Type == protocol.TypeError {
			return r, &RequestError{Op: f.Type, Code: r.Code, Message: r.Message}
		}
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", f.Type, ctx.Err())
	}
}

// RequestError is an error frame answering a request.
type RequestError struct {
	Op      string
	Code    protocol.Code
	Message string
}

func (e *RequestError) Error() string { return fmt.Sprintf("%s: %s: %s", e.Op, e.Code, e.Message) }

// SetStatus sets idle|working|dnd and waits for the broker's ok.
func (s *Session) SetStatus(ctx context.Context, status string) error {
	_, err := s.Request(ctx, protocol.ClientFrame{Type: protocol.TypeSetStatus, Status: status})
	return err
}

// Ping round-trips a ping. Frames to one session are written in order, so
// everything queued for it before the pong has been read when this returns.
func (s *Session) Ping(ctx context.Context) error {
	_, err := s.Request(ctx, protocol.ClientFrame{Type: protocol.TypePing})
	return err
}

// SystemEvents counts the system pushes received by event (peer_joined...);
// they are not part of verification.
func (s *Session) SystemEvents() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.events))
	for k, v := range s.events {
		out[k] = v
	}
	return out
}

// Done is closed when the socket has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the socket ended (valid after Done).
func (s *Session) Err() error { return s.err }

// Close ends the session normally and waits for its reader.
func (s *Session) Close() {
	_ = s.ws.Close(websocket.StatusNormalClosure, "meshload done")
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.ws.CloseNow()
		<-s.done
	}
}
