package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/claudecode"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
)

// Limits of `claudemesh hook` (cli.md). Claude Code waits for its hooks, so
// the command reads stdin for at most hookReadWait, gives each broker
// hookPostTimeout, and stops everything hookBudget after it started, which
// leaves room for process start-up inside the promised ~1.5 s.
const (
	hookMaxInput    = 256 << 10
	hookReadWait    = 500 * time.Millisecond
	hookPostTimeout = time.Second
	hookBudget      = 1200 * time.Millisecond
)

// hookDebugEnv, set to anything but "" or "0", makes `claudemesh hook` say
// on stderr what it did. Otherwise it is silent: Claude Code shows a hook's
// stderr to the user, and a broker that is down is not their problem at
// every prompt.
const hookDebugEnv = "CLAUDEMESH_HOOK_DEBUG"

func (a *App) hookCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "hook <working|idle>",
		Short: "Report this Claude Code session as working or idle (run by Claude Code hooks)",
		Long: "Reads the Claude Code hook JSON on stdin and reports the status to every joined mesh\n" +
			"(or only $" + claudecode.EnvMesh + "). It prints nothing, never waits more than about 1.5 s and\n" +
			"always exits 0, so a hook can never get in Claude Code's way. Set " + hookDebugEnv + "=1 to see what it did.",
		// Flags are not parsed, so an unknown flag from a newer install can
		// never make the hook fail.
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			a.runHook(cmd.Context(), args)
			return nil // always exit 0: see Long
		},
	}
}

// hookInput is what the hook uses from Claude Code's hook JSON.
type hookInput struct {
	SessionID string
	CWD       string
	Event     string
}

// runHook does the work of `claudemesh hook`; every failure is only
// reported through debugf.
func (a *App) runHook(ctx context.Context, args []string) {
	ctx, cancel := context.WithTimeout(ctx, hookBudget)
	defer cancel()
	var mu sync.Mutex // the per-mesh goroutines share stderr
	debugf := func(format string, v ...any) {
		if d := a.Getenv(hookDebugEnv); d != "" && d != "0" {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(a.Stderr, "claudemesh hook: "+format+"\n", v...)
		}
	}
	// Read stdin first, even for a bad status word: Claude Code writes the
	// payload and should not find the pipe closed under it.
	in := parseHookInput(readHookInput(ctx, a.Stdin, hookMaxInput, hookReadWait))
	status := hookStatusArg(args)
	if status != "working" && status != "idle" {
		debugf("status must be working or idle, got %q; nothing sent", strings.Join(args, " "))
		return
	}
	sessionID := in.SessionID
	if env := strings.TrimSpace(a.Getenv(claudecode.EnvSessionID)); env != "" {
		sessionID = env // the id the bridge of a launched session uses, even after Claude Code's own id changed (/clear)
	}
	cwd := hookCWD(a.Getenv(claudeProjectDirEnv), in.CWD)
	meshes, err := a.hookMeshes()
	if err != nil {
		debugf("%v", err)
		return
	}
	debugf("%s from %s: session %q, cwd %q, %d mesh(es)", status, orDash(in.Event), sessionID, cwd, len(meshes))
	postCtx, cancelPost := context.WithTimeout(ctx, hookPostTimeout)
	defer cancelPost()
	var wg sync.WaitGroup
	for _, m := range meshes {
		wg.Go(func() {
			matched, err := a.postHook(postCtx, m, sessionID, cwd, status)
			if err != nil {
				debugf("mesh %s: %v", m.Slug, err)
				return
			}
			debugf("mesh %s: %s (matched %s)", m.Slug, status, matched)
		})
	}
	wg.Wait()
}

// claudeProjectDirEnv is set by Claude Code for hooks: the project root,
// where it (and a launched session's bridge) started, while the payload's
// cwd follows the session's `cd`s.
const claudeProjectDirEnv = "CLAUDE_PROJECT_DIR"

// hookCWD is the directory the broker's cwd fallback matches a bridge by:
// $CLAUDE_PROJECT_DIR, else the payload's cwd, else this process's.
func hookCWD(projectDir, payloadCWD string) string {
	for _, d := range []string{projectDir, payloadCWD} {
		if d != "" {
			return d
		}
	}
	cwd, _ := os.Getwd()
	return cwd
}

// hookStatusArg is the first argument that is not a flag.
func hookStatusArg(args []string) string {
	for _, s := range args {
		if !strings.HasPrefix(s, "-") {
			return s
		}
	}
	return ""
}

// hookMeshes is every joined mesh, or only $CLAUDEMESH_MESH when set: a
// launched session's bridge is connected to that mesh only, so a mesh left
// since gets nothing rather than a status sent to every other mesh.
func (a *App) hookMeshes() ([]*cliconfig.Mesh, error) {
	f, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	if ref := a.Getenv(claudecode.EnvMesh); ref != "" {
		m, err := f.Find(ref)
		if err != nil {
			return nil, fmt.Errorf("%s=%s is not a joined mesh (%v); nothing sent", claudecode.EnvMesh, ref, err)
		}
		return []*cliconfig.Mesh{m}, nil
	}
	if len(f.Meshes) == 0 {
		return nil, errors.New("no mesh joined; nothing to report")
	}
	meshes := make([]*cliconfig.Mesh, len(f.Meshes))
	for i := range f.Meshes {
		meshes[i] = &f.Meshes[i]
	}
	return meshes, nil
}

// postHook signs and sends one mesh's hook request.
func (a *App) postHook(ctx context.Context, m *cliconfig.Mesh, sessionID, cwd, status string) (string, error) {
	k, err := meshKeys(m)
	if err != nil {
		return "", err
	}
	api, err := brokerapi.New(m.BrokerURL)
	if err != nil {
		return "", err
	}
	res, err := api.HookSetStatus(ctx, brokerapi.SignedHook(m.MeshID, m.MemberID, k.Member, sessionID, cwd, status, a.Now()))
	return res.Matched, err
}

// readHookInput reads Claude Code's hook JSON from r. It stops at the end of
// r, as soon as one whole JSON value has arrived (r may never be closed), at
// limit bytes, or after wait, and returns what it has. The reading goroutine
// may stay blocked on r after that; the process exits soon anyway.
func readHookInput(ctx context.Context, r io.Reader, limit int, wait time.Duration) []byte {
	if r == nil {
		return nil
	}
	chunks := make(chan []byte)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(chunks)
		lr := io.LimitReader(r, int64(limit))
		for {
			buf := make([]byte, 32<<10)
			n, err := lr.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var data []byte
	for {
		select {
		case c, ok := <-chunks:
			if !ok {
				return data
			}
			data = append(data, c...)
			if json.Valid(data) {
				return data
			}
		case <-timer.C:
			return data
		case <-ctx.Done():
			return data
		}
	}
}

// parseHookInput picks session_id, cwd and hook_event_name out of the hook
// JSON. It reads the object key by key, so a payload cut at the size limit
// (a huge prompt, which Claude Code sends after these fields) still yields
// the fields before the cut. Anything unreadable yields empty fields.
func parseHookInput(data []byte) hookInput {
	var in hookInput
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return in
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return in
		}
		var dst *string
		switch t {
		case "session_id":
			dst = &in.SessionID
		case "cwd":
			dst = &in.CWD
		case "hook_event_name":
			dst = &in.Event
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return in
		}
		if dst != nil {
			var s string
			if json.Unmarshal(v, &s) == nil {
				*dst = s
			}
		}
	}
	return in
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
