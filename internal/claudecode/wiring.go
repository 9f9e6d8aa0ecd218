package claudecode

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// Wiring is what Claude Code's files say about claudemesh: the one reader
// of those files for doctor and the home screen.
type Wiring struct {
	ClaudeJSON string // path of ~/.claude.json
	Settings   string // path of ~/.claude/settings.json

	MCP    *MCPServer // mcpServers.claudemesh; nil when absent
	MCPErr error      // ~/.claude.json could not be read or has the wrong shape

	Hooks       map[string]string // event -> the claudemesh hook command for its status
	Permission  bool              // permissions.allow holds the rule
	SettingsErr error             // settings.json could not be read or has the wrong shape
}

// Inspect reads both files; a missing file is simply empty.
func Inspect(p Paths) *Wiring {
	w := &Wiring{ClaudeJSON: p.ClaudeJSON, Settings: p.Settings, Hooks: map[string]string{}}
	w.MCP, w.MCPErr = readMCP(w.ClaudeJSON)
	w.SettingsErr = w.readSettings()
	return w
}

// mcpCommand is the binary the MCP entry runs: a hook running that binary
// is claudemesh's whatever the binary is called.
func (w *Wiring) mcpCommand() string {
	if w.MCP == nil {
		return ""
	}
	return w.MCP.Command
}

// Complete reports whether everything install writes is in place.
func (w *Wiring) Complete() bool {
	return w.MCP != nil && w.Permission && len(w.Hooks) == len(HookEvents)
}

func readMCP(path string) (*MCPServer, error) {
	doc, err := readDoc(path)
	if err != nil {
		return nil, err
	}
	servers, absent, err := subObject(doc, "mcpServers", "mcpServers")
	if err != nil || absent {
		return nil, wrapPath(path, err)
	}
	raw, ok := servers.get(ServerName)
	if !ok {
		return nil, nil
	}
	var s MCPServer
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: mcpServers.%s is not a {command, args} entry: %w", path, ServerName, err)
	}
	return &s, nil
}

func (w *Wiring) readSettings() error {
	doc, err := readDoc(w.Settings)
	if err != nil {
		return err
	}
	perms, _, err := subObject(doc, "permissions", "permissions")
	if err != nil {
		return wrapPath(w.Settings, err)
	}
	_, rules, _, err := readAllow(perms)
	if err != nil {
		return wrapPath(w.Settings, err)
	}
	w.Permission = slices.Contains(rules, PermissionRule)
	hooks, _, err := subObject(doc, "hooks", "hooks")
	if err != nil {
		return wrapPath(w.Settings, err)
	}
	for _, ev := range HookEvents {
		groups, _, err := readHookGroups(hooks, ev.Event)
		if err != nil {
			return wrapPath(w.Settings, err)
		}
		for i, g := range groups {
			cmds, _ := groupEntries(g, fmt.Sprintf("hooks.%s[%d]", ev.Event, i)) // checked by readHookGroups
			for _, c := range cmds {
				if _, status, ok := hookStatus(c, w.mcpCommand()); ok && status == ev.Status {
					if _, seen := w.Hooks[ev.Event]; !seen {
						w.Hooks[ev.Event] = c
					}
				}
			}
		}
	}
	return nil
}

func readDoc(path string) (*object, error) {
	f, err := readJSONFile(path)
	if err != nil {
		return nil, err
	}
	return f.parse()
}

func wrapPath(path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", path, err)
}

// HookBinary is the binary a hook command found by Inspect runs.
func (w *Wiring) HookBinary(command string) string {
	bin, _, _ := hookStatus(command, w.mcpCommand())
	return bin
}

// CheckExecutable reports why a command (an absolute path, or a name looked
// up on PATH) cannot be run, or nil.
func CheckExecutable(command string) error {
	if command == "" {
		return fmt.Errorf("empty command")
	}
	if !filepath.IsAbs(command) {
		if _, err := exec.LookPath(command); err != nil {
			return fmt.Errorf("%s is not on PATH", command)
		}
		return nil
	}
	st, err := os.Stat(command)
	if err != nil {
		return fmt.Errorf("%s does not exist", command)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", command)
	}
	return nil
}
