package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/claudemesh/claudemesh/internal/claudecode"
)

// claudeArgs is the argv after `claude` (cli.md): the development channel
// of the claudemesh MCP server, the session id, then the user's arguments.
func claudeArgs(sessionID string, extra []string) []string {
	return append([]string{"--dangerously-load-development-channels", "server:claudemesh", "--session-id", sessionID}, extra...)
}

// launchEnv is base (the inherited environment) with the CLAUDEMESH_*
// settings replaced: every one is set, even empty, so values inherited from
// an enclosing launched session never leak into this one.
func launchEnv(base []string, s launchSettings) []string {
	set := [][2]string{
		{claudecode.EnvSessionID, s.sessionID},
		{claudecode.EnvDisplayName, s.name},
		{claudecode.EnvRole, s.role},
		{claudecode.EnvGroups, s.groups},
		{claudecode.EnvMessageMode, s.mode},
		{claudecode.EnvMesh, s.meshID},
	}
	env := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for _, s := range set {
			replaced = replaced || key == s[0]
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	for _, s := range set {
		env = append(env, s[0]+"="+s[1])
	}
	return env
}

// runChild runs Claude Code in the foreground and returns its exit code
// (128+n for a death by signal n, as shells report it).
//
// Signals: a terminal's Ctrl-C reaches the whole foreground process group,
// so Claude Code already has it; launch only keeps living (Main's signal
// context already stops Go's default exit) and waits. SIGINT is not
// forwarded: Claude Code treats a second Ctrl-C as "quit". SIGTERM and
// SIGHUP, which are usually sent to launch alone, are forwarded.
// Handled (not ignored) signals are reset to their defaults in the child.
func runChild(path string, args, env []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	// With the process's own files there is nothing to copy; any other
	// reader (tests) must not keep Wait blocked once Claude Code is gone.
	cmd.WaitDelay = 2 * time.Second
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", path, err)
	}
	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for {
			select {
			case s := <-sigs:
				if s != os.Interrupt {
					_ = cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-forwarded
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		return 0, fmt.Errorf("running %s: %w", path, err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return cmd.ProcessState.ExitCode(), nil
}
