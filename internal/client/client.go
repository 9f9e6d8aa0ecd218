// Package client is the claudemesh WebSocket client shared by the CLI and
// the Claude Code bridge: signed hello, RPCs, pushes with client_ack and
// dedup, and (with Run) reconnect and session resume.
//
// Goroutine model:
//   - one reader goroutine per connection (conn.readLoop) decodes frames,
//     completes waiting RPCs and queues pushes; it never calls user code;
//   - Run's own goroutine dials, pings the live connection every
//     PingInterval (dropping it when a pong is late) and backs off;
//   - one dispatcher goroutine per Client calls Config.Handler with events
//     in arrival order and acks each message after the handler returns nil.
//     It outlives connections, so order holds across a resume, and the
//     handler may call RPCs without deadlocking the reader.
//
// Locks: Client.mu guards the current connection, the hello_ack and the
// terminal error; conn.mu guards its waiter map and the fetch collector;
// dedup has its own mutex. No lock is held while writing to a socket or
// calling the handler. websocket.Conn writes are safe concurrently.
package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Client is one claudemesh session. Its methods are safe for concurrent use.
type Client struct {
	cfg   Config
	log   *slog.Logger
	seq   atomic.Uint64
	dedup *dedup
	disp  *dispatcher

	life     context.Context // cancelled by Close
	stop     context.CancelFunc
	wg       sync.WaitGroup
	fetchMu  sync.Mutex // one fetch_pending at a time: pushes are attributed to it
	running  atomic.Bool
	dropAcks atomic.Bool                     // test hook: simulate acks lost in flight
	dialGate func(ctx context.Context) error // test hook: hold reconnects
	pongs    atomic.Int64                    // answered pings, for tests

	mu     sync.Mutex
	cur    *conn
	ready  chan struct{} // closed when cur is set; replaced when it goes away
	ack    protocol.HelloAck
	final  error         // set once: no connection will ever come again
	ended  chan struct{} // closed with final
	closed bool
}

// New checks cfg and returns an unconnected client; call Run to connect.
func New(cfg Config) (*Client, error) {
	if cfg.MeshID == "" || cfg.MemberID == "" || len(cfg.MemberKey) != ed25519.PrivateKeySize {
		return nil, errors.New("client: MeshID, MemberID and a 64-byte MemberKey are required")
	}
	if cfg.SessionKey != nil && len(cfg.SessionKey) != ed25519.PrivateKeySize {
		return nil, errors.New("client: SessionKey must be a 64-byte ed25519 private key")
	}
	if _, err := WebSocketURL(cfg.BrokerURL); err != nil {
		return nil, err
	}
	if cfg.SessionID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		cfg.SessionID = hex.EncodeToString(b[:])
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RPCTimeout, 10*time.Second)
	def(&cfg.DialTimeout, 10*time.Second)
	def(&cfg.PingInterval, 30*time.Second)
	def(&cfg.BackoffMin, time.Second)
	def(&cfg.BackoffMax, 30*time.Second)
	if cfg.DedupSize <= 0 {
		cfg.DedupSize = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	life, stop := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, log: cfg.Logger, dedup: newDedup(cfg.DedupSize), life: life, stop: stop,
		ready: make(chan struct{}), ended: make(chan struct{})}
	c.disp = newDispatcher(c)
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.disp.run(life) }()
	return c, nil
}

// Dial connects once and completes the hello. The client does not
// reconnect: when the socket ends, RPCs fail with ErrConnectionLost/ErrClosed.
// A refused hello is a *BrokerError; a network failure matches ErrUnreachable.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	c.running.Store(true) // a one-shot client must not also Run
	cn, err := c.connect(ctx)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		<-cn.done
		c.finish(fmt.Errorf("%w: %w", ErrConnectionLost, cn.err))
	}()
	return c, nil
}

// SessionID is the session id sent in every hello (generated when unset).
func (c *Client) SessionID() string { return c.cfg.SessionID }

// RoutingPubkey is this session's address: the session pubkey if it has
// one, else the member pubkey (protocol.md §3).
func (c *Client) RoutingPubkey() string {
	return hex.EncodeToString(c.routingKey().Public().(ed25519.PublicKey))
}

func (c *Client) routingKey() ed25519.PrivateKey {
	if c.cfg.SessionKey != nil {
		return c.cfg.SessionKey
	}
	return c.cfg.MemberKey
}

// HelloAck is the broker's answer to the latest successful hello.
func (c *Client) HelloAck() protocol.HelloAck {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ack
}

// Close ends the session: the socket is closed normally (1000), Run returns,
// pending RPCs fail, and the dispatcher stops. It waits for its goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cn := c.cur
	c.mu.Unlock()
	c.finish(ErrClosed)
	if cn != nil {
		cn.close() // a normal close first: the reader must still run to complete it
	}
	c.stop()
	c.wg.Wait()
	return nil
}

// attach makes cn the live connection and wakes RPCs waiting for one. It
// refuses after Close, so a reconnect racing Close cannot outlive it.
func (c *Client) attach(cn *conn, ack protocol.HelloAck) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.cur, c.ack = cn, ack
	close(c.ready)
	return true
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) detach(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == cn {
		c.cur, c.ready = nil, make(chan struct{})
	}
}

// finish records that no connection will come again.
func (c *Client) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final == nil {
		c.final = err
		close(c.ended)
	}
}

// current waits for a live connection, or for the client to end.
func (c *Client) current(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		cn, ready, final := c.cur, c.ready, c.final
		c.mu.Unlock()
		if cn != nil {
			return cn, nil
		}
		if final != nil {
			return nil, final
		}
		select {
		case <-ready:
		case <-c.ended:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *Client) nextID(prefix string) string {
	return prefix + "-" + strconv.FormatUint(c.seq.Add(1), 10)
}

// Connected reports whether a hello-acked connection is live right now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

// Err is why the client stopped for good (nil while it may still connect).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.final
}
