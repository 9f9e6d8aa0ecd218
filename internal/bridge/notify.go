package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// ChannelMethod is the notification Claude Code shows as a channel event.
const ChannelMethod = "notifications/claude/channel"

// writeTimeout bounds how long an event waits for room in mcp-go's queue
// (full only when Claude Code has stopped reading).
const writeTimeout = 10 * time.Second

var metaKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// channelEvent is one notification: content plus string-only meta whose
// keys are identifiers (Claude Code drops the whole event otherwise).
type channelEvent struct {
	Content string
	Meta    map[string]string
}

func (e channelEvent) params() (map[string]any, error) {
	meta := make(map[string]any, len(e.Meta))
	for k, v := range e.Meta {
		if !metaKeyRE.MatchString(k) {
			return nil, fmt.Errorf("channel meta key %q is not an identifier", k)
		}
		meta[k] = cleanMetaValue(v)
	}
	return map[string]any{"content": neutralizeTags(e.Content), "meta": meta}, nil
}

// Claude sees an event as <channel source="claudemesh" key="value"...>
// content</channel>. Peers write the content and some meta values (names,
// groups), so neither may close the tag or forge another one, nor forge the
// tags Claude Code itself uses for system text and commands.
var channelTagRE = regexp.MustCompile(`(?i)<(/?\s*(?:channel|system[\w-]*|command-[\w-]*|local-command-[\w-]*|user-prompt-submit-hook|function_calls|invoke|parameter|antml:[\w-]*)\b)`)

// neutralizeTags turns such tags' "<" into "&lt;".
func neutralizeTags(s string) string { return channelTagRE.ReplaceAllString(s, "&lt;$1") }

// cleanMetaValue keeps a meta value on one attribute: control characters
// go, and quotes and angle brackets become look-alikes.
func cleanMetaValue(v string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return -1
		case r == '"':
			return '\''
		case r == '<':
			return '‹'
		case r == '>':
			return '›'
		}
		return r
	}, v)
}

// notifier sends channel events to Claude Code once it has initialized.
//
// Delivery is confirmed by the pipe, not by the queue: mcp-go writes each
// JSON-RPC message with one Write call (under its own write lock) to the
// stdout it was given, which is this notifier's writer; a written channel
// event carrying a delivery key wakes the sender waiting on that key, so a
// message is acked to the broker only once Claude Code's pipe has taken it.
//
// Locks: mu guards session and waiters; it is a leaf, never held while
// queueing, writing or calling keep.
type notifier struct {
	srv          *server.MCPServer
	out          io.Writer
	ready        chan struct{} // closed once the client is initialized
	writeTimeout time.Duration

	mu      sync.Mutex
	session context.Context          // carries mcp-go's client session
	waiters map[string]chan struct{} // delivery key -> closed when written
}

func newNotifier(srv *server.MCPServer, out io.Writer) *notifier {
	return &notifier{srv: srv, out: out, ready: make(chan struct{}), writeTimeout: writeTimeout,
		waiters: map[string]chan struct{}{}}
}

// initialized records the session context of the initialized client.
func (n *notifier) initialized(sessionCtx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.session == nil {
		n.session = sessionCtx
		close(n.ready)
	}
}

// deliver queues a peer message and waits until its line has been written
// to Claude Code. Once queued, the line will be written whenever Claude Code
// reads again (tool results wait behind it too), so deliver waits for that
// rather than giving up and showing the message a second way; only ctx (the
// bridge ending) stops it, leaving the message unacked for the broker to
// deliver again. When mcp-go's queue stays full, nothing was queued, and
// keep runs so check_messages can return the message instead.
func (n *notifier) deliver(ctx context.Context, ev channelEvent, keep func()) error {
	key := deliveryKey(ev.Meta)
	written := make(chan struct{})
	n.mu.Lock()
	n.waiters[key] = written
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.waiters, key)
		n.mu.Unlock()
	}()
	if err := n.notify(ctx, ev); err != nil {
		if ctx.Err() == nil {
			keep()
		}
		return err
	}
	select {
	case <-written:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notify queues an event for Claude Code once it has initialized, waiting
// up to writeTimeout for room in mcp-go's queue. System events, state
// changes and the count line use it directly; deliver adds the wait for
// the write.
func (n *notifier) notify(ctx context.Context, ev channelEvent) error {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	params, err := ev.params()
	if err != nil {
		return err
	}
	n.mu.Lock()
	sess := n.session
	n.mu.Unlock()
	deadline := time.NewTimer(n.writeTimeout)
	defer deadline.Stop()
	for {
		err := n.srv.SendNotificationToClient(sess, ChannelMethod, params)
		if err == nil {
			return nil
		}
		if !errors.Is(err, server.ErrNotificationChannelBlocked) {
			return fmt.Errorf("sending the channel event: %w", err)
		}
		select { // mcp-go's queue is full: Claude Code is not reading
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			return errors.New("Claude Code is not reading the bridge's output")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func deliveryKey(meta map[string]string) string {
	if meta["message_id"] == "" || meta["kind"] == kindSystem || meta["kind"] == kindStateChange || meta["kind"] == kindInbox {
		return ""
	}
	return meta["mesh_id"] + "/" + meta["message_id"]
}

// Write is the MCP server's stdout.
func (n *notifier) Write(p []byte) (int, error) {
	written, err := n.out.Write(p)
	if err != nil || !bytes.Contains(p, []byte(ChannelMethod)) {
		return written, err
	}
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Meta map[string]string `json:"meta"`
		} `json:"params"`
	}
	if json.Unmarshal(p, &msg) == nil && msg.Method == ChannelMethod {
		if key := deliveryKey(msg.Params.Meta); key != "" {
			n.mu.Lock()
			if ch, waiting := n.waiters[key]; waiting {
				close(ch)
				delete(n.waiters, key)
			}
			n.mu.Unlock()
		}
	}
	return written, nil
}
