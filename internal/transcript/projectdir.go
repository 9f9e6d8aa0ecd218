// Package transcript infers a Claude Code session's status (working or
// idle) from its transcript, the JSON Lines file Claude Code appends to under
// ~/.claude/projects/, so the bridge can report it as an inferred status.
package transcript

import (
	"os"
	"path/filepath"
	"strings"
)

// maxDirName is the longest project directory name Claude Code writes in
// full; a longer one is cut to this length and given a hash suffix.
const maxDirName = 200

// ProjectDir is the spec's transcript directory for a session started in
// cwd: ~/.claude/projects/<cwd with every path separator replaced by "-">.
// It returns "" when cwd is empty (there is nothing to watch).
func ProjectDir(home, cwd string) string {
	if cwd == "" {
		return ""
	}
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == filepath.Separator {
			return '-'
		}
		return r
	}, filepath.Clean(cwd))
	return filepath.Join(home, ".claude", "projects", name)
}

// SanitizedProjectDir is the directory current Claude Code versions use:
// every character of cwd that is not an ASCII letter or digit becomes "-".
// It returns "" when cwd is empty.
func SanitizedProjectDir(home, cwd string) string {
	if cwd == "" {
		return ""
	}
	return filepath.Join(home, ".claude", "projects", sanitizeName(filepath.Clean(cwd)))
}

// sanitizeName mirrors Claude Code's JavaScript replace(/[^a-zA-Z0-9]/g,
// "-"), which works on UTF-16 code units: a character outside the Basic
// Multilingual Plane (an emoji) is two code units and so becomes "--".
func sanitizeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r > 0xFFFF:
			b.WriteString("--")
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// candidateDirs lists the existing directories that may hold the
// transcripts for dir (a ProjectDir): dir itself, its fully sanitised
// sibling, and for a name over maxDirName the truncated siblings
// "<first 200 characters>-<hash>". The hash is not recomputed because it
// depends on the JavaScript runtime Claude Code runs on; any suffix is
// accepted.
func candidateDirs(dir string) []string {
	if dir == "" {
		return nil
	}
	parent, base := filepath.Split(dir)
	sanitized := sanitizeName(base)
	var out []string
	for _, d := range []string{dir, filepath.Join(parent, sanitized)} {
		if isDir(d) && (len(out) == 0 || out[0] != d) {
			out = append(out, d)
		}
	}
	if len(sanitized) > maxDirName {
		prefix := sanitized[:maxDirName] + "-"
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
				out = append(out, filepath.Join(parent, e.Name()))
			}
		}
	}
	return out
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
