package claudecode

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// What `claudemesh install` owns in Claude Code's files.
const (
	ServerName     = "claudemesh"      // the key under mcpServers in ~/.claude.json
	PermissionRule = "mcp__claudemesh" // in permissions.allow: every claudemesh tool without a prompt
	mcpSubcommand  = "mcp"
)

// HookEvent is one Claude Code hook event and the status it reports.
type HookEvent struct {
	Event  string // Claude Code's event name
	Status string // claudemesh hook <status>
}

// HookEvents are the hooks install adds, in the order it adds them.
var HookEvents = []HookEvent{
	{"UserPromptSubmit", "working"},
	{"Stop", "idle"},
	{"SessionEnd", "idle"},
}

// EnvClaudeConfigDir relocates Claude Code's configuration: when set, both
// settings.json and .claude.json live in it instead of ~/.claude and ~.
const EnvClaudeConfigDir = "CLAUDE_CONFIG_DIR"

// Paths are Claude Code's two user-level files that install edits.
type Paths struct {
	ClaudeJSON string // mcpServers (and Claude Code's own state)
	Settings   string // permissions, hooks
}

// PathsFor finds the files the way Claude Code does: in claudeConfigDir
// ($CLAUDE_CONFIG_DIR) when set, else ~/.claude.json and
// ~/.claude/settings.json.
func PathsFor(home, claudeConfigDir string) Paths {
	if claudeConfigDir != "" {
		return Paths{ClaudeJSON: filepath.Join(claudeConfigDir, ".claude.json"), Settings: filepath.Join(claudeConfigDir, "settings.json")}
	}
	return Paths{ClaudeJSON: filepath.Join(home, ".claude.json"), Settings: filepath.Join(home, ".claude", "settings.json")}
}

// MCPServer is an mcpServers entry of the stdio kind.
type MCPServer struct {
	Command string   `json:"command"`
	Args    []string `json:"args"`
}

// mcpEntry is the entry install writes for the claudemesh binary exe.
func mcpEntry(exe string) json.RawMessage {
	return mustMarshal(MCPServer{Command: exe, Args: []string{mcpSubcommand}})
}

// HookCommand is the shell command of a claudemesh hook. The binary's
// absolute path is used because hooks may run with another PATH.
func HookCommand(exe, status string) string {
	return shellQuote(exe) + " hook " + status
}

// hookStatus reports whether a hook command runs `claudemesh hook <status>`
// (any path to a binary whose name starts with claudemesh, or to alsoBin)
// and which status.
func hookStatus(command string, alsoBin ...string) (bin, status string, ok bool) {
	words, ok := shellWords(command)
	if !ok || len(words) != 3 || words[1] != "hook" {
		return "", "", false
	}
	if !strings.HasPrefix(filepath.Base(words[0]), "claudemesh") && !slices.Contains(alsoBin, words[0]) {
		return "", "", false
	}
	return words[0], words[2], true
}

// shellQuote leaves a word of safe characters alone and single-quotes
// anything else.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./+,:@%=", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellWords splits a simple command line the way sh would: blanks separate
// words, single quotes, double quotes and backslashes quote. Anything more
// (variables, operators, unbalanced quotes) is not a plain claudemesh hook:
// ok is false.
func shellWords(s string) (words []string, ok bool) {
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, false
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '$' || s[i] == '`' {
					return nil, false
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, false
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, false
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case strings.IndexByte("|&;<>()$`*?[#~\n", c) >= 0:
			return nil, false
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, true
}

// hookGroup is one entry of a hooks.<Event> array.
type hookGroup struct {
	Matcher string      `json:"matcher"`
	Hooks   []hookEntry `json:"hooks"`
}

type hookEntry struct {
	Type    string `json:"type"`
	Command string `json:"command"`
}

// newHookGroup is the group install appends for one command.
func newHookGroup(command string) json.RawMessage {
	return mustMarshal(hookGroup{Matcher: "", Hooks: []hookEntry{{Type: "command", Command: command}}})
}

// readHookGroups parses hooks.<event> deep enough to find commands: every
// group an object whose "hooks" (if any) is an array of objects.
func readHookGroups(hooks *object, event string) (groups []json.RawMessage, created bool, err error) {
	path := "hooks." + event
	groups, created, err = subArray(hooks, event, path)
	if err != nil {
		return nil, false, err
	}
	for i, g := range groups {
		if _, err := groupEntries(g, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return nil, false, err
		}
	}
	return groups, created, nil
}

// groupEntries is a group's parsed object and its hook entries' commands
// ("" for an entry without a string command, e.g. another hook type).
func groupEntries(group json.RawMessage, path string) ([]string, error) {
	if !isObject(group) {
		return nil, fmt.Errorf("%s is %s, want an object", path, kind(group))
	}
	g, err := parseObject(group)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	entries, _, err := subArray(g, "hooks", path+".hooks")
	if err != nil {
		return nil, err
	}
	cmds := make([]string, len(entries))
	for j, e := range entries {
		if !isObject(e) {
			return nil, fmt.Errorf("%s.hooks[%d] is %s, want an object", path, j, kind(e))
		}
		var he struct {
			Command json.RawMessage `json:"command"`
		}
		if err := json.Unmarshal(e, &he); err != nil {
			return nil, fmt.Errorf("%s.hooks[%d]: %w", path, j, err)
		}
		_ = json.Unmarshal(he.Command, &cmds[j]) // a non-string command is not ours
	}
	return cmds, nil
}

// readAllow parses permissions.allow: its raw elements (kept as written)
// and their string values.
func readAllow(perms *object) (elems []json.RawMessage, rules []string, created bool, err error) {
	elems, created, err = subArray(perms, "allow", "permissions.allow")
	if err != nil {
		return nil, nil, false, err
	}
	rules = make([]string, len(elems))
	for i, e := range elems {
		if kind(e) != "a string" {
			return nil, nil, false, fmt.Errorf("permissions.allow[%d] is %s, want a string", i, kind(e))
		}
		if err := json.Unmarshal(e, &rules[i]); err != nil {
			return nil, nil, false, fmt.Errorf("permissions.allow[%d]: %w", i, err)
		}
	}
	return elems, rules, created, nil
}
