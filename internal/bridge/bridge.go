// Package bridge is `claudemesh mcp`: an MCP server on stdio that joins a
// Claude Code session to its meshes. Peer messages are pushed into the
// session as `notifications/claude/channel` events (or counted, or kept,
// by message mode), and a small set of tools sends, lists and shares state.
//
// Goroutine model:
//   - mcp-go's stdio server reads requests and runs tool handlers on its
//     own goroutines; tool handlers call the mesh clients' RPCs;
//   - each mesh link runs one client.Client (Run: reconnect and resume),
//     whose dispatcher calls link.handle for events one at a time;
//   - mcp-go's notification goroutine writes channel events to stdout
//     through notifier.Write, which confirms deliveries.
//
// Locks: notifier.mu and inbox.mu are leaves, never held together, across
// an RPC, a notification send or a write.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/claudemesh/claudemesh/internal/claudecode"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// ServerName is the MCP server name (tools appear as mcp__claudemesh__*).
const ServerName = "claudemesh"

// Options configure one bridge run.
type Options struct {
	Meshes      []cliconfig.Mesh // the meshes to connect (all joined, or the chosen one)
	ConfigDir   string           // where session records live
	SessionID   string           // CLAUDEMESH_SESSION_ID; "" persists one per (mesh, cwd)
	DisplayName string
	Role        string
	Groups      []protocol.Group
	Mode        string // claudecode.ModePush, ModeInbox or ModeOff
	NotLaunched bool   // Claude Code was not started by `claudemesh launch`
	CWD         string
	Version     string
	Logger      *slog.Logger

	// Status inference from the Claude Code transcript (nil: off).
	Infer *InferOptions

	BackoffMin, BackoffMax time.Duration // reconnect backoff; zero: 1 s .. 30 s
}

// Bridge is one running `claudemesh mcp`.
type Bridge struct {
	opts  Options
	log   *slog.Logger
	srv   *server.MCPServer
	note  *notifier
	links []*link
	inbox inbox
}

// New loads (or creates) each mesh's persisted session and builds the MCP
// server. Nothing connects until Serve.
func New(opts Options) (*Bridge, error) {
	if len(opts.Meshes) == 0 {
		return nil, errors.New("no mesh joined: run `claudemesh join <invite>` or `claudemesh mesh create <name>` first")
	}
	mode, err := claudecode.ParseMessageMode(opts.Mode)
	if err != nil {
		return nil, err
	}
	opts.Mode = mode
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{opts: opts, log: opts.Logger}
	for i := range opts.Meshes {
		l, err := newLink(b, opts.Meshes[i])
		if err != nil {
			b.release()
			return nil, err
		}
		b.links = append(b.links, l)
	}
	// Channel events may flow once the client is ready: after the
	// initialized notification of the initialize handshake (what Claude
	// Code speaks), or after server/discover for stateless-era clients.
	hooks := &server.Hooks{}
	hooks.AddAfterDiscover(func(ctx context.Context, _ any, _ *mcp.DiscoverRequest, _ *mcp.DiscoverResult) {
		b.note.initialized(ctx)
	})
	b.srv = server.NewMCPServer(ServerName, opts.Version,
		server.WithHooks(hooks),
		server.WithExperimental(map[string]any{"claude/channel": map[string]any{}}),
		server.WithInstructions(b.instructions()),
		server.WithToolCapabilities(false),
		server.WithRecovery(),
	)
	b.note = newNotifier(b.srv, io.Discard)
	b.srv.AddNotificationHandler(string(mcp.MethodNotificationInitialized), func(ctx context.Context, _ mcp.JSONRPCNotification) {
		b.note.initialized(ctx)
	})
	b.addTools()
	return b, nil
}

// Serve answers MCP on in/out until in ends (Claude Code exited) or ctx is
// done, while every mesh link connects in the background.
func (b *Bridge) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	defer b.release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.note.out = out
	stdio := server.NewStdioServer(b.srv)
	stdio.SetErrorLogger(log.New(slogWriter{b.log}, "", 0))
	var wg sync.WaitGroup
	for _, l := range b.links {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(ctx) }()
	}
	if b.opts.Infer != nil {
		wg.Add(1)
		go func() { defer wg.Done(); b.inferStatus(ctx) }()
	}
	err := stdio.Listen(ctx, in, b.note)
	cancel()
	for _, l := range b.links {
		l.c.Close()
	}
	wg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// release closes every mesh client and frees the session records.
func (b *Bridge) release() {
	for _, l := range b.links {
		l.c.Close()
		l.id.release()
	}
}

// slogWriter turns mcp-go's log lines into warnings.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn(fmt.Sprintf("mcp: %s", trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) string {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return string(p)
}
