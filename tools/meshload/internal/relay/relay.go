// Package relay is the bare WebSocket relay baseline: the same framing and
// JSON shapes as the broker (hello -> hello_ack, send -> ack + push), but no
// authentication, no storage, no gating. It measures what this machine can
// relay at all, so broker figures can be read as a ratio of that limit.
//
// Goroutines: one reader per connection, which routes each send at once,
// and one writer per connection draining its bounded queue, as the broker
// does. Server.mu guards the routing table; it is never held while writing.
package relay

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

const writeQueue = 1024

// Server is a running relay.
type Server struct {
	URL  string // http://127.0.0.1:port
	http *http.Server

	mu    sync.RWMutex
	conns map[string]*conn // by routing pubkey

	dropEvery int64        // StartLossy: drop every dropEvery-th push
	pushes    atomic.Int64 // pushes routed, for dropEvery
}

type conn struct {
	ws     *websocket.Conn
	pubkey string
	name   string
	out    chan []byte
	done   chan struct{}
	once   sync.Once
}

// Start listens on addr (host:port, port 0 for any) and serves /ws.
func Start(addr string) (*Server, error) { return StartLossy(addr, 0) }

// StartLossy is Start with a relay that silently drops every
// dropEvery-th push while still acking its send: meshload's own tests use
// it to prove the verifier catches an acked message that never arrives.
func StartLossy(addr string, dropEvery int) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String(), conns: map[string]*conn{}, dropEvery: int64(dropEvery)}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

// Close stops the listener and ends every connection.
func (s *Server) Close() error {
	err := s.http.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	return err
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	ctx := r.Context()
	_, data, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return
	}
	var hello protocol.ClientFrame
	if json.Unmarshal(data, &hello) != nil || hello.Type != protocol.TypeHello || hello.Pubkey == "" {
		ws.Close(websocket.StatusPolicyViolation, "hello first")
		return
	}
	c := &conn{ws: ws, pubkey: hello.Pubkey, name: hello.DisplayName, out: make(chan []byte, writeQueue), done: make(chan struct{})}
	s.mu.Lock()
	if old := s.conns[c.pubkey]; old != nil {
		old.close()
	}
	s.conns[c.pubkey] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.conns[c.pubkey] == c {
			delete(s.conns, c.pubkey)
		}
		s.mu.Unlock()
		c.close()
	}()
	go c.writeLoop()
	c.enqueue(protocol.Encode(protocol.HelloAck{Type: protocol.TypeHelloAck, PresenceID: ids.New("pre"),
		MeshID: hello.MeshID, MemberID: hello.MemberID, MemberDisplayName: hello.DisplayName, Role: "member", Protocol: 2}))
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		f, perr := protocol.DecodeClientFrame(data)
		if perr != nil {
			c.enqueue(protocol.EncodeError(perr, "", ""))
			continue
		}
		s.handle(c, f)
	}
}

func (s *Server) handle(c *conn, f *protocol.ClientFrame) {
	switch f.Type {
	case protocol.TypeSend:
		s.relay(c, f)
	case protocol.TypeClientAck: // nothing stored, nothing to confirm
	case protocol.TypePing:
		c.enqueue(protocol.Encode(protocol.OK{Type: protocol.TypePong, ReqID: f.ReqID}))
	default:
		if f.ReqID != "" {
			c.enqueue(protocol.Encode(protocol.OK{Type: protocol.TypeOK, ReqID: f.ReqID}))
		}
	}
}

// relay pushes the envelope to its targets and acks the sender at once.
func (s *Server) relay(c *conn, f *protocol.ClientFrame) {
	var target string
	if json.Unmarshal(f.TargetSpec, &target) != nil {
		c.enqueue(protocol.EncodeError(protocol.Errorf(protocol.CodeUnsupportedTarget, "the relay takes one string target"), f.ID, f.ReqID))
		return
	}
	var to []*conn
	kind := protocol.KindDirect
	s.mu.RLock()
	if target == "*" || target == "@all" {
		kind = protocol.KindBroadcast
		for _, o := range s.conns {
			if o != c {
				to = append(to, o)
			}
		}
	} else if o := s.conns[target]; o != nil {
		to = append(to, o)
	}
	s.mu.RUnlock()
	if len(to) == 0 {
		c.enqueue(protocol.EncodeError(protocol.Errorf(protocol.CodeNoSuchPeer, "no such peer on the relay"), f.ID, f.ReqID))
		return
	}
	id := ids.New("msg")
	push := protocol.Encode(protocol.Push{Type: protocol.TypePush, MessageID: id, MeshID: f.MeshID,
		SenderPubkey: c.pubkey, SenderMemberPubkey: c.pubkey, SenderName: c.name, Priority: f.Priority,
		Nonce: f.Nonce, Ciphertext: f.Ciphertext, Enc: f.Enc, Kind: kind,
		CreatedAt: time.Now().UTC().Format("2006-01-02T15:04:05.000Z")})
	for _, o := range to {
		if s.dropEvery > 0 && s.pushes.Add(1)%s.dropEvery == 0 {
			continue
		}
		o.enqueue(push)
	}
	c.enqueue(protocol.Encode(protocol.Ack{Type: protocol.TypeAck, ID: f.ID, MessageID: id, Queued: true,
		Recipients: len(to), ReqID: f.ReqID}))
}

// enqueue never blocks: a full queue closes the slow connection, as the
// broker does.
func (c *conn) enqueue(b []byte) {
	select {
	case c.out <- b:
	case <-c.done:
	default:
		c.close()
	}
}

func (c *conn) close() {
	c.once.Do(func() { close(c.done); c.ws.CloseNow() })
}

func (c *conn) writeLoop() {
	for {
		select {
		case b := <-c.out:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := c.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.close()
				return
			}
		case <-c.done:
			return
		}
	}
}
