// Package testkit is a minimal protocol client for tests: it signs hellos,
// sends frames and waits for broker frames with a deadline. It is not the
// CLI's client; it stays small so tests read like the protocol.
package testkit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Identity is an ed25519 key pair.
type Identity struct {
	Pub  ed25519.PublicKey
	Priv ed25519.PrivateKey
}

// NewIdentity makes a random key pair.
func NewIdentity(t testing.TB) Identity {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{pub, priv}
}

// Hex is the public key as 64 lowercase hex.
func (id Identity) Hex() string { return hex.EncodeToString(id.Pub) }

// Hello describes who connects. Zero fields get sensible defaults.
type Hello struct {
	MeshID, MemberID string
	Member           Identity
	Session          *Identity // proves a session key when set
	SessionID        string
	CWD              string // "/work/test" unless set
	DisplayName      string
	Groups           []protocol.Group
	ClientAck        bool
	Protocol         int // 2 unless set to -1 (an old client)
	Ephemeral        bool
	Timestamp        time.Time
}

// Frame builds the signed hello frame.
func (h Hello) Frame() map[string]any {
	ts := h.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	ms := ts.UnixMilli()
	f := map[string]any{
		"type": "hello", "meshId": h.MeshID, "memberId": h.MemberID, "pubkey": h.Member.Hex(),
		"timestamp": ms, "signature": protocol.SignHex(h.Member.Priv, protocol.HelloCanonical(h.MeshID, h.MemberID, h.Member.Hex(), ms)),
		"sessionId": h.SessionID, "pid": 4242, "cwd": "/work/test",
	}
	if h.CWD != "" {
		f["cwd"] = h.CWD
	}
	if h.SessionID == "" {
		f["sessionId"] = "sess-" + hex.EncodeToString(h.Member.Pub[:4]) + fmt.Sprint(time.Now().UnixNano())
	}
	if h.DisplayName != "" {
		f["displayName"] = h.DisplayName
	}
	if h.Groups != nil {
		f["groups"] = h.Groups
	}
	if h.Session != nil {
		f["sessionPubkey"] = h.Session.Hex()
		f["sessionSignature"] = protocol.SignHex(h.Session.Priv, protocol.SessionCanonical(h.MeshID, h.MemberID, h.Member.Hex(), h.Session.Hex(), ms))
	}
	if h.Protocol != -1 {
		f["protocol"] = 2
		if h.Protocol > 0 {
			f["protocol"] = h.Protocol
		}
	}
	caps := []string{"secretbox"}
	if h.ClientAck {
		caps = append(caps, "client_ack")
	}
	f["capabilities"] = caps
	if h.Ephemeral {
		f["ephemeral"] = true
	}
	return f
}

// Client is one WebSocket connection to a broker.
type Client struct {
	t    testing.TB
	WS   *websocket.Conn
	mu   sync.Mutex
	got  []map[string]any
	cond chan struct{} // closed and replaced on every new frame
	// Closed is set once the read loop ends; CloseErr is why.
	closed   bool
	CloseErr error
}

// Dial opens a socket to wsURL without sending anything.
func Dial(t testing.TB, wsURL string) *Client { return DialWith(t, wsURL, nil) }

// DialWith is Dial with dial options, e.g. FromAddr's client.
func DialWith(t testing.TB, wsURL string, opts *websocket.DialOptions) *Client {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	ws.SetReadLimit(1 << 22)
	c := &Client{t: t, WS: ws, cond: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(func() { ws.CloseNow() })
	return c
}

// Connect dials and sends the hello, then waits for hello_ack or an error.
func Connect(t testing.TB, wsURL string, h Hello) (*Client, map[string]any) {
	return ConnectWith(t, wsURL, h, nil)
}

// ConnectWith is Connect with dial options.
func ConnectWith(t testing.TB, wsURL string, h Hello, opts *websocket.DialOptions) (*Client, map[string]any) {
	c := DialWith(t, wsURL, opts)
	c.Send(h.Frame())
	f := c.WaitFor(func(f map[string]any) bool { return f["type"] == "hello_ack" || f["type"] == "error" })
	return c, f
}

func (c *Client) readLoop() {
	for {
		_, data, err := c.WS.Read(context.Background())
		c.mu.Lock()
		if err != nil {
			c.closed, c.CloseErr = true, err
			close(c.cond)
			c.mu.Unlock()
			return
		}
		var f map[string]any
		if json.Unmarshal(data, &f) == nil {
			c.got = append(c.got, f)
		}
		close(c.cond)
		c.cond = make(chan struct{})
		c.mu.Unlock()
	}
}

// Send writes one JSON frame.
func (c *Client) Send(v any) {
	c.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.SendRaw(data)
}

// SendRaw writes raw bytes as one text frame.
func (c *Client) SendRaw(data []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WS.Write(ctx, websocket.MessageText, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// WaitFor returns the first received frame (in arrival order) matching
// match, waiting up to 5 s. Matched frames are consumed.
func (c *Client) WaitFor(match func(map[string]any) bool) map[string]any {
	c.t.Helper()
	f, ok := c.WaitForWithin(5*time.Second, match)
	if !ok {
		c.t.Fatalf("no matching frame within 5s; received: %v (closed=%v err=%v)", c.Frames(), c.closed, c.CloseErr)
	}
	return f
}

// WaitForWithin is WaitFor with a deadline that does not fail the test.
func (c *Client) WaitForWithin(d time.Duration, match func(map[string]any) bool) (map[string]any, bool) {
	deadline := time.After(d)
	for {
		c.mu.Lock()
		for i, f := range c.got {
			if match(f) {
				c.got = append(c.got[:i:i], c.got[i+1:]...)
				c.mu.Unlock()
				return f, true
			}
		}
		wake, closed := c.cond, c.closed
		c.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-wake:
		case <-deadline:
			return nil, false
		}
	}
}

// WaitClosed waits until the broker closes the socket and returns the close error.
func (c *Client) WaitClosed(d time.Duration) (error, bool) {
	deadline := time.After(d)
	for {
		c.mu.Lock()
		wake, closed, err := c.cond, c.closed, c.CloseErr
		c.mu.Unlock()
		if closed {
			return err, true
		}
		select {
		case <-wake:
		case <-deadline:
			return nil, false
		}
	}
}

// Frames returns the unconsumed frames received so far.
func (c *Client) Frames() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.got...)
}

// Type matches frames by type.
func Type(typ string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == typ }
}

// Push matches a non-system push.
func Push(f map[string]any) bool { return f["type"] == "push" && f["subtype"] == nil }

// Event matches a system push for the named event.
func Event(name string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == "push" && f["event"] == name }
}

// Reply matches the response to a request id (_reqId) or send id.
func Reply(id string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["_reqId"] == id || (f["id"] == id && f["type"] != "push") }
}

// CloseCode extracts the WebSocket close status and reason from a read
// error, or -1 when the socket ended without a close frame.
func CloseCode(err error) (int, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason
	}
	return -1, ""
}

// DialSilent opens a socket, sends hello and then never reads: it cannot
// answer pings, like a hung client.
func DialSilent(t testing.TB, wsURL string, hello map[string]any) *websocket.Conn {
	return DialSilentWith(t, wsURL, hello, nil)
}

// DialSilentWith is DialSilent with dial options (e.g. SmallReceiveBuffer).
func DialSilentWith(t testing.TB, wsURL string, hello map[string]any, opts *websocket.DialOptions) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	data, _ := json.Marshal(hello)
	if err := ws.Write(ctx, websocket.MessageText, data); err != nil {
		t.Fatal(err)
	}
	return ws
}
