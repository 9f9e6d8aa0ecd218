// Package claudecode knows Claude Code's side of the bridge: where the
// `claude` binary, its settings files and its transcripts live, and how the
// claudemesh entries in those files look.
package claudecode

import (
	"errors"
	"fmt"
	"os/exec"
)

// Binary is the Claude Code executable that `launch` runs.
const Binary = "claude"

// InstallHint tells a user without Claude Code how to get it.
const InstallHint = "Claude Code (the `claude` command) is not on PATH; install it with `npm install -g @anthropic-ai/claude-code` (https://docs.anthropic.com/en/docs/claude-code), then open a new shell"

// ErrClaudeMissing is returned by FindClaude when PATH has no `claude`.
var ErrClaudeMissing = errors.New(InstallHint)

// FindClaude is the absolute path of `claude` on PATH, or ErrClaudeMissing.
func FindClaude() (string, error) {
	p, err := exec.LookPath(Binary)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", ErrClaudeMissing
		}
		return "", fmt.Errorf("looking for %s on PATH: %w", Binary, err)
	}
	return p, nil
}
