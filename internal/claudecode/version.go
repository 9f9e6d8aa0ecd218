package claudecode

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// VersionTimeout bounds `claude --version`, which may hang on a broken
// install (it is a Node program).
const VersionTimeout = 5 * time.Second

// Version is the first line `claude --version` prints. On timeout the whole
// process group is killed, so a hung claude leaves no children behind.
func Version(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, VersionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version")
	killGroupOnCancel(cmd)
	cmd.WaitDelay = time.Second // a child still holding the pipe must not keep us waiting
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return "", fmt.Errorf("`claude --version` did not answer within %s", VersionTimeout)
	}
	if err != nil {
		return "", fmt.Errorf("`claude --version` failed: %v", err)
	}
	v, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if v == "" {
		return "", fmt.Errorf("`claude --version` printed nothing")
	}
	return v, nil
}
