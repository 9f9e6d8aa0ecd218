package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/server"
)

// bridgeProc is `claudemesh mcp` run by a real MCP client, as Claude Code
// runs it: a subprocess speaking MCP on its stdio.
type bridgeProc struct {
	t      *testing.T
	c      *mcpclient.Client
	init   *mcp.InitializeResult
	stderr *lockedBuffer
	// protocolVersion is what the client asks for: by default the latest
	// revision with the initialize handshake, which Claude Code speaks.
	protocolVersion string

	mu    sync.Mutex
	notes []channelNote
}

// channelNote is one notifications/claude/channel as the client decoded it.
type channelNote struct {
	Content string         `json:"content"`
	Meta    map[string]any `json:"meta"`
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startBridge runs `claudemesh mcp` as u in dir (the session's cwd) with
// extra KEY=VALUE env, and completes initialize.
func (u *user) startBridge(t *testing.T, dir string, env ...string) *bridgeProc {
	t.Helper()
	bp := &bridgeProc{t: t, stderr: &lockedBuffer{}, protocolVersion: mcp.LATEST_LEGACY_PROTOCOL_VERSION}
	for i, e := range env { // MCP_PROTOCOL=<version> picks the client's protocol revision
		if v, ok := strings.CutPrefix(e, "MCP_PROTOCOL="); ok {
			bp.protocolVersion = v
			env = append(env[:i:i], env[i+1:]...)
			break
		}
	}
	fullEnv := append([]string{"CLAUDEMESH_CONFIG_DIR=" + u.dir, "HOME=" + u.home, "USER=" + u.name,
		"PATH=" + os.Getenv("PATH"), "NO_COLOR=1", "CLAUDEMESH_LOG=info"}, u.env...)
	if !slices.ContainsFunc(env, func(e string) bool {
		return strings.HasPrefix(e, "CLAUDEMESH_MESSAGE_MODE=") || strings.HasPrefix(e, "CLAUDEMESH_SESSION_ID=")
	}) {
		// launch always sets the mode; without launch the bridge defaults to
		// inbox (TestBridgeNotLaunchedDefaultsToInbox). Most tests want push.
		fullEnv = append(fullEnv, "CLAUDEMESH_MESSAGE_MODE=push")
	}
	fullEnv = append(fullEnv, env...)
	cmdFunc := func(ctx context.Context, command string, _ []string, args []string) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, command, args...)
		cmd.Env, cmd.Dir = fullEnv, dir
		return cmd, nil
	}
	tr := transport.NewStdioWithOptions(cliBin, nil, []string{"mcp"},
		transport.WithCommandFunc(cmdFunc), transport.WithCommandStderrWriter(bp.stderr),
		transport.WithCommandLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	bp.c = mcpclient.NewClient(tr)
	if err := bp.c.Start(context.Background()); err != nil {
		t.Fatalf("starting claudemesh mcp: %v", err)
	}
	bp.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != "notifications/claude/channel" {
			return
		}
		raw, _ := json.Marshal(n.Params)
		var note channelNote
		if err := json.Unmarshal(raw, &note); err != nil {
			t.Errorf("channel notification is not {content, meta}: %v: %s", err, raw)
			return
		}
		bp.mu.Lock()
		bp.notes = append(bp.notes, note)
		bp.mu.Unlock()
	})
	t.Cleanup(func() {
		bp.c.Close()
		if t.Failed() {
			t.Logf("claudemesh mcp stderr:\n%s", bp.stderr.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := bp.c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{
		ProtocolVersion: bp.protocolVersion,
		ClientInfo:      mcp.Implementation{Name: "claude-code-test", Version: "1"},
	}})
	if err != nil {
		t.Fatalf("initialize: %v\nstderr:\n%s", err, bp.stderr.String())
	}
	bp.init = res
	return bp
}

// call runs a tool and returns its text and whether it was an error result.
func (bp *bridgeProc) call(tool string, args map[string]any) (string, bool) {
	bp.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := bp.c.CallTool(ctx, mcp.CallToolRequest{Params: mcp.CallToolParams{Name: tool, Arguments: args}})
	if err != nil {
		bp.t.Fatalf("calling %s: %v\nstderr:\n%s", tool, err, bp.stderr.String())
	}
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	return strings.Join(texts, "\n"), res.IsError
}

// mustCall runs a tool that has to succeed.
func (bp *bridgeProc) mustCall(tool string, args map[string]any) string {
	bp.t.Helper()
	text, isErr := bp.call(tool, args)
	if isErr {
		bp.t.Fatalf("%s failed: %s\nstderr:\n%s", tool, text, bp.stderr.String())
	}
	return text
}

func (bp *bridgeProc) channelNotes() []channelNote {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	return append([]channelNote(nil), bp.notes...)
}

// waitNote waits for a channel event whose meta matches every given pair.
func (bp *bridgeProc) waitNote(want map[string]string) channelNote {
	bp.t.Helper()
	var found channelNote
	pollUntilFor(bp.t, 20*time.Second, "channel event "+strings.TrimSpace(fmtMeta(want)), func() bool {
		for _, n := range bp.channelNotes() {
			ok := true
			for k, v := range want {
				if s, _ := n.Meta[k].(string); s != v {
					ok = false
				}
			}
			if ok {
				found = n
				return true
			}
		}
		return false
	})
	return found
}

func fmtMeta(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// pollUntilFor is pollUntil with a chosen deadline.
func pollUntilFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restartableBroker keeps its data directory and port across restarts.
type restartableBroker struct {
	t   *testing.T
	cfg config.Broker
	srv *server.Server
	URL string
}

func startRestartableBroker(t *testing.T) *restartableBroker {
	t.Helper()
	rb := &restartableBroker{t: t, cfg: brokerConfig(t)}
	rb.start()
	t.Cleanup(rb.stop)
	return rb
}

func (rb *restartableBroker) start() {
	rb.t.Helper()
	rb.srv = runBroker(rb.t, rb.cfg)
	rb.URL = "http://" + rb.srv.Addr
	if rb.cfg.Port == 0 { // keep the port, so clients find it again
		_, port, _ := net.SplitHostPort(rb.srv.Addr)
		rb.cfg.Port, _ = strconv.Atoi(port)
	}
}

func (rb *restartableBroker) stop() {
	if rb.srv != nil {
		shutdownBroker(rb.srv)
		rb.srv = nil
	}
}
