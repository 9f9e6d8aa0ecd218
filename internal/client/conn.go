package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// conn is one authenticated socket.
type conn struct {
	c    *Client
	ws   *websocket.Conn
	done chan struct{} // closed when the read loop ends

	mu      sync.Mutex
	waiters map[string]chan frame // by _reqId, or by id for sends
	fetch   *[]protocol.Push      // collecting pushes for an outstanding fetch_pending
	err     error                 // why the socket ended
}

// frame is a decoded broker frame: the routing fields plus the raw JSON.
type frame struct {
	Type    string        `json:"type"`
	ID      string        `json:"id"`
	ReqID   string        `json:"_reqId"`
	Code    protocol.Code `json:"code"`
	Message string        `json:"message"`
	raw     []byte
}

// WebSocketURL derives the /ws endpoint from a ws(s) or http(s) base URL.
// The CLI (v1 tokens) and the load generator use it too.
func WebSocketURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("client: broker URL %q is not an absolute URL", base)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("client: broker URL %q must be ws://, wss://, http:// or https://", base)
	}
	if !strings.HasSuffix(u.Path, "/ws") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	}
	return u.String(), nil
}

// connect dials and completes a freshly signed hello. A timestamp_skew or
// replayed refusal is retried once at once: a new signature may pass.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	for try := 0; ; try++ {
		cn, err := c.connectOnce(ctx)
		var be *BrokerError
		if try == 0 && errors.As(err, &be) && (be.Code == protocol.CodeTimestampSkew || be.Code == protocol.CodeReplayed) {
			c.log.Warn("hello refused, re-signing", "code", be.Code)
			continue
		}
		return cn, err
	}
}

func (c *Client) connectOnce(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	u, _ := WebSocketURL(c.cfg.BrokerURL) // checked in New
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, u, err)
	}
	ws.SetReadLimit(1 << 22)
	hello, _ := json.Marshal(c.helloFrame())
	if err := ws.Write(ctx, websocket.MessageText, hello); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("%w: sending hello: %w", ErrUnreachable, err)
	}
	_, data, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("%w: waiting for hello_ack: %w", ErrUnreachable, err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil || (f.Type != protocol.TypeHelloAck && f.Type != protocol.TypeError) {
		ws.CloseNow()
		return nil, fmt.Errorf("%w: unexpected first frame %.200q", ErrUnreachable, data)
	}
	if f.Type == protocol.TypeError {
		ws.CloseNow()
		return nil, &BrokerError{Op: "hello", Code: f.Code, Message: f.Message}
	}
	var ack protocol.HelloAck
	_ = json.Unmarshal(data, &ack)
	cn := &conn{c: c, ws: ws, done: make(chan struct{}), waiters: map[string]chan frame{}}
	if !c.attach(cn, ack) {
		ws.Close(websocket.StatusNormalClosure, "client closed")
		return nil, ErrClosed
	}
	c.log.Info("connected", "presence", ack.PresenceID, "resumed", ack.Resumed, "session", c.cfg.SessionID)
	c.wg.Add(1)
	go func() { defer c.wg.Done(); cn.readLoop() }()
	return cn, nil
}

// helloFrame is signed afresh each time: the broker rejects stale timestamps.
func (c *Client) helloFrame() map[string]any {
	cfg := c.cfg
	ms := nowMs()
	pub := hexPub(cfg.MemberKey)
	f := map[string]any{
		"type": protocol.TypeHello, "meshId": cfg.MeshID, "memberId": cfg.MemberID, "pubkey": pub,
		"timestamp": ms, "signature": protocol.SignHex(cfg.MemberKey, protocol.HelloCanonical(cfg.MeshID, cfg.MemberID, pub, ms)),
		"sessionId": cfg.SessionID, "pid": os.Getpid(), "cwd": cfg.CWD,
		"protocol": 2, "capabilities": []string{protocol.CapClientAck, protocol.CapSecretbox},
	}
	if f["cwd"] == "" {
		f["cwd"], _ = os.Getwd()
	}
	if h, err := os.Hostname(); err == nil {
		f["hostname"] = h
	}
	for k, v := range map[string]string{"displayName": cfg.DisplayName, "peerType": cfg.PeerType, "channel": cfg.Channel, "model": cfg.Model} {
		if v != "" {
			f[k] = v
		}
	}
	if cfg.Groups != nil {
		f["groups"] = cfg.Groups
	}
	if cfg.SessionKey != nil {
		sp := hexPub(cfg.SessionKey)
		f["sessionPubkey"] = sp
		f["sessionSignature"] = protocol.SignHex(cfg.SessionKey, protocol.SessionCanonical(cfg.MeshID, cfg.MemberID, pub, sp, ms))
	}
	if cfg.Ephemeral {
		f["ephemeral"] = true
	}
	return f
}

func (cn *conn) readLoop() {
	defer close(cn.done)
	for {
		_, data, err := cn.ws.Read(cn.c.life)
		if err != nil {
			cn.end(err)
			return
		}
		var f frame
		if json.Unmarshal(data, &f) != nil {
			continue // not ours to crash on; the broker only sends objects
		}
		f.raw = data
		cn.route(f)
	}
}

// route hands a frame to its waiter, the push path or the dispatcher.
func (cn *conn) route(f frame) {
	switch f.Type {
	case protocol.TypePush:
		cn.c.onPush(cn, f.raw)
		return
	case protocol.TypeStateChange:
		var sc protocol.StateChange
		if json.Unmarshal(f.raw, &sc) == nil {
			cn.c.disp.enqueue(Event{State: &sc})
		}
		return
	}
	key := f.ReqID
	if key == "" && (f.Type == protocol.TypeAck || f.Type == protocol.TypeError) {
		key = f.ID
	}
	cn.mu.Lock()
	ch := cn.waiters[key]
	delete(cn.waiters, key)
	cn.mu.Unlock()
	if ch != nil {
		ch <- f // buffered 1, one send per waiter
		return
	}
	if f.Type == protocol.TypeError {
		cn.c.log.Warn("broker error", "code", f.Code, "message", f.Message)
	}
}

// end records why the socket ended and releases every waiter.
func (cn *conn) end(err error) {
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Code == 4000 {
		err = ErrSuperseded
	}
	cn.mu.Lock()
	cn.err = err
	cn.waiters = map[string]chan frame{}
	cn.mu.Unlock()
	cn.ws.CloseNow()
	cn.c.detach(cn)
	cn.c.log.Info("disconnected", "err", err)
}

func (cn *conn) close() { cn.ws.Close(websocket.StatusNormalClosure, "bye") }

func (cn *conn) write(ctx context.Context, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return cn.ws.Write(ctx, websocket.MessageText, data)
}

// call writes f and waits for the frame correlated by key.
func (cn *conn) call(ctx context.Context, key string, f map[string]any) (frame, error) {
	ch := make(chan frame, 1)
	cn.mu.Lock()
	cn.waiters[key] = ch
	cn.mu.Unlock()
	defer func() { cn.mu.Lock(); delete(cn.waiters, key); cn.mu.Unlock() }()
	if err := cn.write(ctx, f); err != nil {
		if ctx.Err() != nil {
			return frame{}, ctx.Err()
		}
		return frame{}, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-cn.done:
		return frame{}, fmt.Errorf("%w: %w", ErrConnectionLost, cn.err)
	case <-ctx.Done():
		return frame{}, ctx.Err()
	}
}
